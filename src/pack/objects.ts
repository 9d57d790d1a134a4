/**
 * Git objects in pure TypeScript: ids, and the commit, tree and tag formats, so the
 * library reads and writes a trunk without a git binary.
 */
import { createHash } from "./hash.ts";
import { concat, fromHex, toHex } from "./bytes.ts";
import { PackFormatError } from "./errors.ts";

/** The hash a repository names objects with. */
export type ObjectFormat = "sha1" | "sha256";
export type ObjectType = "commit" | "tree" | "blob" | "tag";

export interface GitObject {
  type: ObjectType;
  data: Uint8Array;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Bytes in an object id: 20 (sha1) or 32 (sha256). */
export function hashLength(format: ObjectFormat): 20 | 32 {
  return format === "sha256" ? 32 : 20;
}

/** The git object id of `data` as an object of `type`. */
export function objectId(format: ObjectFormat, type: ObjectType, data: Uint8Array): string {
  return createHash(format)
    .update(enc.encode(`${type} ${data.byteLength}\0`))
    .update(data)
    .digest("hex");
}

/** A person line: `Name <email> <unix seconds> <+hhmm>`. */
export interface Signature {
  /** Display name. */
  name: string;
  /** Email address (without the angle brackets). */
  email: string;
  /** Seconds since the epoch. */
  timestamp: number;
  /** Minutes east of UTC (git's `+0100` is 60). */
  timezoneOffset: number;
}

/** A parsed commit. */
export interface Commit {
  /** The commit's id. */
  oid: string;
  /** Its root tree's id. */
  tree: string;
  /** Parent commit ids, first parent first. */
  parents: string[];
  /** Who wrote the change, and when. */
  author: Signature;
  /** Who made the commit, and when. */
  committer: Signature;
  /** The message, as stored (usually ending in a newline). */
  message: string;
}

export interface TreeEntry {
  /** Octal mode as git writes it: 100644, 100755, 120000 (symlink), 40000 (tree), 160000. */
  mode: string;
  name: string;
  oid: string;
  type: "blob" | "tree" | "commit";
}

export interface Tag {
  object: string;
  type: ObjectType;
  tag: string;
  message: string;
}

function parseSignature(line: string): Signature {
  const m = /^(.*) <(.*)> (-?\d+) ([+-])(\d\d)(\d\d)$/.exec(line);
  if (!m) return { name: line, email: "", timestamp: 0, timezoneOffset: 0 };
  const off = (Number(m[5]) * 60 + Number(m[6])) * (m[4] === "-" ? -1 : 1);
  return { name: m[1], email: m[2], timestamp: Number(m[3]), timezoneOffset: off };
}

export function formatSignature(s: Signature): string {
  const abs = Math.abs(s.timezoneOffset);
  const tz = `${s.timezoneOffset < 0 ? "-" : "+"}${String(Math.floor(abs / 60)).padStart(2, "0")}${
    String(abs % 60).padStart(2, "0")
  }`;
  return `${s.name} <${s.email}> ${s.timestamp} ${tz}`;
}

/** Header lines (continuation lines folded in) and the message after the blank line. */
function splitHeaders(data: Uint8Array): { headers: [string, string][]; message: string } {
  const text = dec.decode(data);
  const blank = text.indexOf("\n\n");
  const head = blank < 0 ? text : text.slice(0, blank);
  const message = blank < 0 ? "" : text.slice(blank + 2);
  const headers: [string, string][] = [];
  for (const line of head.split("\n")) {
    if (line.startsWith(" ") && headers.length) {
      headers[headers.length - 1][1] += "\n" + line.slice(1);
    } else if (line) {
      const sp = line.indexOf(" ");
      headers.push([line.slice(0, sp), line.slice(sp + 1)]);
    }
  }
  return { headers, message };
}

export function parseCommit(oid: string, data: Uint8Array): Commit {
  const { headers, message } = splitHeaders(data);
  const get = (k: string) => headers.find(([h]) => h === k)?.[1];
  const tree = get("tree");
  if (!tree) {
    throw new PackFormatError(`commit ${oid} has no tree line; the trunk is damaged`);
  }
  return {
    oid,
    tree,
    parents: headers.filter(([h]) => h === "parent").map(([, v]) => v),
    author: parseSignature(get("author") ?? ""),
    committer: parseSignature(get("committer") ?? ""),
    message,
  };
}

export function encodeCommit(c: Omit<Commit, "oid">): Uint8Array {
  let s = `tree ${c.tree}\n`;
  for (const p of c.parents) s += `parent ${p}\n`;
  s += `author ${formatSignature(c.author)}\ncommitter ${formatSignature(c.committer)}\n\n`;
  s += c.message.endsWith("\n") ? c.message : c.message + "\n";
  return enc.encode(s);
}

export function parseTag(oid: string, data: Uint8Array): Tag {
  const { headers, message } = splitHeaders(data);
  const get = (k: string) => headers.find(([h]) => h === k)?.[1];
  const object = get("object");
  const type = get("type") as ObjectType | undefined;
  if (!object || !type) throw new PackFormatError(`tag ${oid} is malformed`);
  return { object, type, tag: get("tag") ?? "", message };
}

export function parseTree(oid: string, data: Uint8Array, format: ObjectFormat): TreeEntry[] {
  const hl = hashLength(format);
  const out: TreeEntry[] = [];
  let i = 0;
  while (i < data.byteLength) {
    const sp = data.indexOf(0x20, i);
    const nul = data.indexOf(0, sp);
    if (sp < 0 || nul < 0 || nul + 1 + hl > data.byteLength) {
      throw new PackFormatError(`tree ${oid} is malformed at byte ${i}`);
    }
    const mode = dec.decode(data.subarray(i, sp));
    const name = dec.decode(data.subarray(sp + 1, nul));
    const entryOid = toHex(data.subarray(nul + 1, nul + 1 + hl));
    const type = mode === "40000" ? "tree" : mode === "160000" ? "commit" : "blob";
    out.push({ mode, name, oid: entryOid, type });
    i = nul + 1 + hl;
  }
  return out;
}

/** Git's tree order: byte order of names, a tree's name compared as if it ended in `/`. */
function treeSortKey(e: TreeEntry): Uint8Array {
  return enc.encode(e.type === "tree" ? e.name + "/" : e.name);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export function encodeTree(entries: TreeEntry[]): Uint8Array {
  const sorted = [...entries].sort((a, b) => compareBytes(treeSortKey(a), treeSortKey(b)));
  const parts: Uint8Array[] = [];
  for (const e of sorted) {
    parts.push(enc.encode(`${e.mode} ${e.name}\0`), fromHex(e.oid));
  }
  return concat(parts);
}

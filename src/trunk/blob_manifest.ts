/**
 * `blobs/<oid>`: the ordered chunk list of one large blob (DESIGN.md, "Large blobs").
 * One definition shared by the push path, the reader, `trunks check` and the library,
 * so every part agrees on the bytes. JSON, because manifests are small and a human
 * reading a bucket should be able to follow a blob to its chunks.
 *
 *   {"v":1,"oid":"<git blob id>","size":<bytes>,"chunks":[["<sha256>",<bytes>],...]}
 */
import { TrunkError } from "./errors.ts";

export interface BlobManifest {
  /** The git object id of the whole blob (sha1 or sha256 hex). */
  oid: string;
  /** Blob content length in bytes (without git's object header). */
  size: number;
  /** Chunks in order; each is addressed by the SHA-256 of its bytes. */
  chunks: { sha256: string; size: number }[];
}

const OID_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const SHA256_RE = /^[0-9a-f]{64}$/;

export function encodeBlobManifest(m: BlobManifest): Uint8Array {
  const total = m.chunks.reduce((n, c) => n + c.size, 0);
  if (total !== m.size) {
    throw new TrunkError(
      `manifest for ${m.oid}: chunks add up to ${total}, not ${m.size}`,
      "bad-input",
    );
  }
  return new TextEncoder().encode(JSON.stringify({
    v: 1,
    oid: m.oid,
    size: m.size,
    chunks: m.chunks.map((c) => [c.sha256, c.size]),
  }));
}

/** Parse and validate; `key` names the object in errors. */
export function decodeBlobManifest(bytes: Uint8Array, key: string): BlobManifest {
  const bad = (why: string) =>
    new TrunkError(`${key} is not a valid blob manifest (${why})`, "corrupt");
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw bad("not JSON");
  }
  const o = raw as { v?: unknown; oid?: unknown; size?: unknown; chunks?: unknown };
  if (o?.v !== 1) throw bad(`unknown version ${JSON.stringify(o?.v)}`);
  if (typeof o.oid !== "string" || !OID_RE.test(o.oid)) throw bad("bad oid");
  if (typeof o.size !== "number" || !Number.isSafeInteger(o.size) || o.size < 0) {
    throw bad("bad size");
  }
  if (!Array.isArray(o.chunks)) throw bad("no chunk list");
  const chunks = o.chunks.map((c: unknown) => {
    if (
      !Array.isArray(c) || typeof c[0] !== "string" || !SHA256_RE.test(c[0]) ||
      typeof c[1] !== "number" || !Number.isSafeInteger(c[1]) || c[1] <= 0
    ) throw bad("bad chunk entry");
    return { sha256: c[0] as string, size: c[1] as number };
  });
  const total = chunks.reduce((n, c) => n + c.size, 0);
  if (total !== o.size) throw bad(`chunks add up to ${total}, not ${o.size}`);
  return { oid: o.oid, size: o.size, chunks };
}

/**
 * Paths inside a repository, and applying a set of file changes to a tree: only the
 * trees on changed paths are rewritten; everything else is referenced by id.
 */
import { TrunkError } from "../trunk/errors.ts";
import { encodeTree, type GitObject, type ObjectFormat, type TreeEntry } from "../pack/objects.ts";

type FileMode = "100644" | "100755" | "120000";

/**
 * A staged change: new content (and mode), a blob by id (a large one, stored as chunks
 * when pushed), or null to delete the path.
 */
export type Change = { data: Uint8Array; mode: FileMode } | { oid: string; mode: FileMode } | null;

/** `a/b/c` from user input; a clear error for empty, absolute-escaping or `.git` paths. */
export function normalizePath(path: string, allowRoot = false): string {
  const parts = path.replace(/\\/g, "/").split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0) {
    if (allowRoot) return "";
    throw new TrunkError(`path ${JSON.stringify(path)} names no file`, "bad-input");
  }
  for (const p of parts) {
    if (p === ".." || p.toLowerCase() === ".git" || p.includes("\0")) {
      throw new TrunkError(
        `path ${JSON.stringify(path)} has a "${p}" component, which a repository cannot hold`,
        "bad-input",
      );
    }
  }
  return parts.join("/");
}

export interface TreeIo {
  format: ObjectFormat;
  readTree(oid: string): Promise<TreeEntry[]>;
  /** Store a new object (kept until pushed); returns its id. */
  store(obj: GitObject): string;
}

/**
 * The tree id after applying `changes` (normalized path -> change) to tree `base`
 * (null: empty). Returns null when the result is an empty tree below the root.
 */
export async function applyChanges(
  io: TreeIo,
  base: string | null,
  changes: Map<string, Change>,
  isRoot = true,
): Promise<string | null> {
  const entries = new Map<string, TreeEntry>();
  if (base) { for (const e of await io.readTree(base)) entries.set(e.name, e); }
  const sub = new Map<string, Map<string, Change>>();
  for (const [path, change] of changes) {
    const slash = path.indexOf("/");
    if (slash < 0) {
      if (change === null) entries.delete(path);
      else {
        const oid = "oid" in change ? change.oid : io.store({ type: "blob", data: change.data });
        entries.set(path, { name: path, mode: change.mode, oid, type: "blob" });
      }
      continue;
    }
    const dir = path.slice(0, slash);
    if (!sub.has(dir)) sub.set(dir, new Map());
    sub.get(dir)!.set(path.slice(slash + 1), change);
  }
  for (const [dir, subChanges] of sub) {
    const cur = entries.get(dir);
    // Writing below a path that is a file replaces the file with a directory.
    const baseTree = cur?.type === "tree" ? cur.oid : null;
    if (!baseTree && [...subChanges.values()].every((c) => c === null)) continue;
    const oid = await applyChanges(io, baseTree, subChanges, false);
    if (oid === null) entries.delete(dir);
    else entries.set(dir, { name: dir, mode: "40000", oid, type: "tree" });
  }
  if (entries.size === 0 && !isRoot) return null;
  const data = encodeTree([...entries.values()]);
  return io.store({ type: "tree", data });
}

/**
 * Record `change` at `path`, the later change winning as it does in git: a file or a
 * removal at `path` drops what was staged below it, and a file below a path staged as
 * a file removes that file (it becomes a directory).
 */
export function stageChange(changes: Map<string, Change>, path: string, change: Change): void {
  for (const k of changes.keys()) if (k.startsWith(`${path}/`)) changes.delete(k);
  for (let at = path.indexOf("/"); at >= 0; at = path.indexOf("/", at + 1)) {
    const dir = path.slice(0, at);
    if (changes.get(dir)) changes.set(dir, null);
  }
  changes.set(path, change);
}

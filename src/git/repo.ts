/** Questions about the local repository, answered by git plumbing. */
import { batchCheck, git, GitError, gitText } from "./run.ts";

export const ZERO_OID_SHA1 = "0000000000000000000000000000000000000000";

export function isZeroOid(oid: string): boolean {
  return /^0+$/.test(oid);
}

/**
 * The git dir whose `objects/` holds the repository's objects: a linked work tree's own
 * git dir (`.git/worktrees/<name>`) has none, git reads the main one's (`commondir`,
 * or GIT_COMMON_DIR). A pack installed under the linked one is never read by git.
 */
export function objectsGitDir(gitDir: string): string {
  const env = Deno.env.get("GIT_COMMON_DIR");
  let link = env;
  if (!link) {
    try {
      link = Deno.readTextFileSync(`${gitDir}/commondir`).trim();
    } catch {
      return gitDir;
    }
  }
  if (!link) return gitDir;
  // GIT_COMMON_DIR is relative to the current directory, `commondir` to the git dir.
  return link.startsWith("/") ? link : env ? `${Deno.cwd()}/${link}` : `${gitDir}/${link}`;
}

/**
 * `sha1` or `sha256`. `gitDir`: the repository's, when known: git reads its format from
 * `extensions.objectFormat` in that repository's own config file (no includes, no `-c`),
 * and a file that does not name the key is sha1 with no process (a clone's helper waited
 * ~4 ms on `git rev-parse` before its prefetch). One that names it anywhere is left to git.
 */
export async function objectFormat(gitDir?: string): Promise<"sha1" | "sha256"> {
  if (gitDir !== undefined && !namesObjectFormat(`${objectsGitDir(gitDir)}/config`)) {
    return "sha1";
  }
  const f = await gitText(
    ["rev-parse", "--show-object-format"],
    gitDir === undefined ? {} : { env: { GIT_DIR: gitDir } },
  ).catch(() => "sha1");
  return f === "sha256" ? "sha256" : "sha1";
}

/**
 * The config file may set `extensions.objectFormat`: it holds the key's name in any case
 * (a key cannot be split across lines), or it cannot be read (then git decides).
 */
function namesObjectFormat(configPath: string): boolean {
  try {
    return Deno.readTextFileSync(configPath).toLowerCase().includes("objectformat");
  } catch {
    return true;
  }
}

/**
 * The object format of a repository that holds no object yet (what `git clone` starts
 * the helper in), or null when it holds any: one readdir, and its config read.
 */
export async function emptyRepoFormat(gitDir: string): Promise<"sha1" | "sha256" | null> {
  const [empty, format] = await Promise.all([
    holdsNoObjects(objectsGitDir(gitDir)),
    objectFormat(gitDir),
  ]);
  return empty ? format : null;
}

/** Which of these object ids exist locally (one `cat-file --batch-check` process). */
/**
 * The repository's object store is empty: no pack, no loose object, no alternates (what
 * `git clone` or `git init` leaves). Anything unexpected counts as not empty.
 */
export async function holdsNoObjects(gitDir: string): Promise<boolean> {
  if (Deno.env.get("GIT_OBJECT_DIRECTORY") || Deno.env.get("GIT_ALTERNATE_OBJECT_DIRECTORIES")) {
    return false;
  }
  const names = async (dir: string) => {
    const out: string[] = [];
    for await (const e of Deno.readDir(dir)) out.push(e.name);
    return out;
  };
  try {
    const [objects, info, pack] = await Promise.all(
      ["objects", "objects/info", "objects/pack"].map((d) => names(`${gitDir}/${d}`)),
    );
    return objects.every((n) => n === "info" || n === "pack") &&
      !info.includes("alternates") && !pack.some((n) => n.endsWith(".pack"));
  } catch {
    return false;
  }
}

export async function existingObjects(oids: string[]): Promise<Set<string>> {
  const unique = [...new Set(oids)];
  if (unique.length === 0) return new Set();
  const out = new Set<string>();
  for (const line of await batchCheck("%(objectname) %(objecttype)", unique)) {
    const [oid, type] = line.split(" ");
    if (type && type !== "missing") out.add(oid);
  }
  return out;
}

/**
 * A commit in the history of `tips` that the repository lacks (beyond what its refs
 * already reach), or null when that history is whole. Commits only: a walk of every
 * tree and blob would double what git's own connectivity check costs after a fetch.
 */
export async function lackingCommit(tips: string[]): Promise<string | null> {
  if (tips.length === 0) return null;
  const res = await git(["rev-list", "--stdin", "--not", "--all"], {
    stdin: tips.join("\n") + "\n",
    okCodes: [128],
  });
  if (res.code === 0) return null;
  // git 2.39 stops at the first unreadable commit ("Could not read <oid>").
  const m = /(?:Could not read|bad object|unable to read) ([0-9a-f]{40,64})/.exec(res.stderr);
  if (!m) {
    throw new GitError(`git rev-list: ${res.stderr.trim().split("\n").pop()}`, res.stderr, 128);
  }
  return m[1];
}

/** True when `ancestor` is reachable from `descendant`. */
export async function isAncestor(ancestor: string, descendant: string): Promise<boolean> {
  const res = await git(["merge-base", "--is-ancestor", ancestor, descendant], { okCodes: [1] });
  return res.code === 0;
}

/**
 * Object ids (not peeled) of many revisions with one `git cat-file --batch-check`
 * process, not one `rev-parse` per ref: a push of thousands of refs would start
 * thousands. A revision that names no object (or an ambiguous one) is left out.
 */
export async function resolveRevs(
  revs: Iterable<string>,
  opts: { cwd?: string } = {},
): Promise<Map<string, string>> {
  // A line of batch-check input is one revision: anything with a newline cannot be one.
  const unique = [...new Set(revs)].filter((r) => r && !/[\n\r]/.test(r));
  const out = new Map<string, string>();
  if (unique.length === 0) return out;
  // Each name stops at its first match in git's lookup order (the one it resolves to
  // anyway): with the ambiguity warning on, git also tries every other rule, ten failed
  // file lookups per ref, which was half this process's time for 20,000 refs.
  const lines = await batchCheck("%(objectname)", unique, {
    cwd: opts.cwd,
    config: ["core.warnAmbiguousRefs=false"],
  });
  unique.forEach((rev, i) => {
    if (/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(lines[i])) out.set(rev, lines[i]);
  });
  return out;
}

/**
 * Resolve `revs` at once; the function returned answers each from that one batch and
 * throws for a revision that names no object (or was not in the batch).
 */
export async function batchResolver(
  revs: Iterable<string>,
  opts: { cwd?: string } = {},
): Promise<(rev: string) => Promise<string>> {
  const known = await resolveRevs(revs, opts);
  return (rev) => {
    const oid = known.get(rev);
    return oid
      ? Promise.resolve(oid)
      : Promise.reject(new GitError(`${rev} names no object`, "", 1));
  };
}

/** The branch HEAD points at (`refs/heads/x`), or null when detached/unborn-less. */
export async function headSymref(): Promise<string | null> {
  const res = await git(["symbolic-ref", "-q", "HEAD"], { okCodes: [1, 128] });
  const s = new TextDecoder().decode(res.stdout).trim();
  return res.code === 0 && s ? s : null;
}

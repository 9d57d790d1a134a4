/** Questions about the local repository, answered by git plumbing. */
import { git, gitText } from "./run.ts";

export const ZERO_OID_SHA1 = "0000000000000000000000000000000000000000";

export function isZeroOid(oid: string): boolean {
  return /^0+$/.test(oid);
}

/** `sha1` or `sha256`. */
export async function objectFormat(): Promise<"sha1" | "sha256"> {
  const f = await gitText(["rev-parse", "--show-object-format"]).catch(() => "sha1");
  return f === "sha256" ? "sha256" : "sha1";
}

export async function gitDir(): Promise<string> {
  return await gitText(["rev-parse", "--absolute-git-dir"]);
}

/** Which of these object ids exist locally (one `cat-file --batch-check` process). */
export async function existingObjects(oids: string[]): Promise<Set<string>> {
  const unique = [...new Set(oids)];
  if (unique.length === 0) return new Set();
  const res = await git(["cat-file", "--batch-check=%(objectname) %(objecttype)"], {
    stdin: unique.join("\n") + "\n",
  });
  const out = new Set<string>();
  for (const line of new TextDecoder().decode(res.stdout).split("\n")) {
    const [oid, type] = line.split(" ");
    if (type && type !== "missing") out.add(oid);
  }
  return out;
}

/** True when `ancestor` is reachable from `descendant`. */
export async function isAncestor(ancestor: string, descendant: string): Promise<boolean> {
  const res = await git(["merge-base", "--is-ancestor", ancestor, descendant], { okCodes: [1] });
  return res.code === 0;
}

/** Resolve a local ref or expression to an object id (not peeled). */
export async function resolve(rev: string): Promise<string> {
  return await gitText(["rev-parse", "--verify", "--quiet", `${rev}`]);
}

/** The branch HEAD points at (`refs/heads/x`), or null when detached/unborn-less. */
export async function headSymref(): Promise<string | null> {
  const res = await git(["symbolic-ref", "-q", "HEAD"], { okCodes: [1, 128] });
  const s = new TextDecoder().decode(res.stdout).trim();
  return res.code === 0 && s ? s : null;
}

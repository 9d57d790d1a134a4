/** Shared setup for the check/clean tests: a trunk on a backend, pushes, and check runs. */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { getBytes, type Store } from "../../src/storage/store.ts";
import { type CheckReport, checkTrunk } from "../../src/trunk/check.ts";
import type { CleanReport } from "../../src/trunk/gc.ts";
import { LEASE_ENV } from "../../src/trunk/lease.ts";
import { listSegmentKeys } from "../../src/trunk/replaces.ts";
import {
  type Backend,
  commitFile,
  type Env,
  git,
  makeEnv,
  newRepo,
  ok,
  run,
  trunkUrl,
} from "../e2e/harness.ts";

export const opts = { sanitizeOps: false, sanitizeResources: false };

export interface Setup {
  e: Env;
  url: string;
  remote: string;
  a: string;
  backend: Backend;
}

/**
 * A repository `a` that pushed `main` (one commit) to a fresh trunk. `leaseSeconds`: the
 * trunk's lease (recorded in trunk.json); 0 lets the tests clean with no grace.
 */
export async function setup(backend: Backend, name = "app", leaseSeconds = 0): Promise<Setup> {
  const e = await makeEnv({ ...backend.env, [LEASE_ENV]: String(leaseSeconds) });
  const url = await trunkUrl(backend, name);
  const remote = `trunks::${url}`;
  const a = await newRepo(e, "a");
  await git(e, a, "remote", "add", "origin", remote);
  await git(e, a, "push", "-q", "origin", "main");
  return { e, url, remote, a, backend };
}

let pushes = 0;

/** `n` small pushes of new commits to `branch`, each its own segment. */
export async function smallPushes(s: Setup, n: number, branch = "main", dir = s.a) {
  for (let i = 0; i < n; i++) {
    const k = ++pushes;
    await commitFile(s.e, dir, `f-${branch.replace(/\W/g, "_")}-${k}.txt`, `${branch} ${k}\n`);
    await git(s.e, dir, "push", "-q", "origin", `HEAD:refs/heads/${branch}`);
  }
}

export type Result = CheckReport & { clean: CleanReport | null; refused?: string };

/** `trunks check --json [...]` on the trunk; returns the parsed report and exit code. */
export async function check(
  s: Setup,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<{ code: number; report: Result; stderr: string }> {
  const r = await run(s.e, "trunks", ["check", s.url, "--json", ...args], { env });
  let report: Result;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    throw new Error(`trunks check printed no JSON (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
  }
  return { code: r.code, report, stderr: r.stderr };
}

export async function withStore<T>(s: Setup, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(s.url, s.backend.settings);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function segmentIds(s: Setup): Promise<string[]> {
  return withStore(s, async (st) => (await listSegmentKeys(st)).complete.map((x) => x.id));
}

/** A fresh clone: every branch and tag equal to `want`, and fsck clean. */
export async function cloneMatches(s: Setup, want: string[]): Promise<string> {
  const dir = `${await Deno.makeTempDir()}/clone`;
  await ok(s.e, "git", ["clone", "-q", s.remote, dir]);
  const got = (await git(
    s.e,
    dir,
    "for-each-ref",
    "--format=%(objectname) %(refname)",
    "refs/remotes/origin/",
    "refs/tags/",
  )).trim().split("\n").filter((l) => l && !l.endsWith("/HEAD"))
    .map((l) => l.replace(" refs/remotes/origin/", " refs/heads/")).sort();
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`clone refs differ:\n${got.join("\n")}\n---\n${want.join("\n")}`);
  }
  await git(s.e, dir, "fsck", "--strict", "--no-dangling");
  return dir;
}

/** Heads and tags of the trunk as `git ls-remote` sees them, "<oid> <ref>" sorted. */
export async function trunkRefs(s: Setup): Promise<string[]> {
  const out = await git(s.e, s.a, "ls-remote", s.remote);
  return out.trim().split("\n").filter((l) => l && !l.endsWith("\tHEAD"))
    .map((l) => l.replace("\t", " ")).sort();
}

/** Make every file under `dir` look `ms` older (time passing, on local disk). */
export async function backdate(dir: string, ms: number): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) await backdate(p, ms);
    else {
      const st = await Deno.stat(p);
      const t = new Date((st.mtime ?? new Date()).getTime() - ms);
      await Deno.utime(p, t, t);
    }
  }
}

/**
 * The trunk's one sidecar made an older client's: its stored times (`listed`,
 * `nestedListed`) removed, as sidecars were written before them; its segment's id.
 */
export async function stripSidecarTimes(store: Store): Promise<string> {
  const ids = [...(await listSegmentKeys(store)).sidecars.keys()];
  assertEquals(ids.length, 1);
  const key = `segments/${ids[0]}.replaces`;
  const sc = JSON.parse(new TextDecoder().decode((await getBytes(store, key))!));
  delete sc.listed;
  delete sc.nestedListed;
  await store.put(key, new TextEncoder().encode(JSON.stringify(sc) + "\n"));
  return ids[0];
}

/**
 * Pushes `branch` from `dir` (one new segment, X), deletes it again and ages the local
 * trunk at `root` by three hours: X is garbage past any grace. X's id.
 */
export async function pushedThenDeleted(
  e: Env,
  dir: string,
  store: Store,
  root: string,
  branch: string,
): Promise<string> {
  const ids = async () => (await listSegmentKeys(store)).complete.map((s) => s.id);
  const before = new Set(await ids());
  await git(e, dir, "push", "-q", "origin", branch);
  const x = (await ids()).filter((id) => !before.has(id));
  assertEquals(x.length, 1);
  await git(e, dir, "push", "-q", "origin", `:${branch}`);
  await backdate(root, 3 * 3600e3);
  return x[0];
}

/**
 * A push whose base cleans collected while it ran (`pushed`: its error, or null when it was
 * acknowledged): refused as cleaned meanwhile, its ref not moved, and the trunk whole.
 */
export async function assertRefusedOnCollectedBase(
  pushed: Error | null,
  s: Setup,
  inner: Store,
  workDir: string,
): Promise<void> {
  const refs = await trunkRefs(s);
  const { report } = await checkTrunk(inner, { workDir });
  assert(
    pushed !== null,
    `the push landed on a collected base: ${JSON.stringify(report.problems)}`,
  );
  assertMatch(pushed.message, /cleaned meanwhile/);
  assert(!refs.some((r) => r.endsWith("refs/heads/feature")), refs.join("\n"));
  assert(report.ok, JSON.stringify(report.problems));
}

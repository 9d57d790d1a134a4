/**
 * Shared setup for the tests of segments pushed again around a clean, and of slow pushes
 * racing a clean or pruning: a 1 s lease, so that a grace (two leases) passes in seconds.
 */
import { assert } from "../assert.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { Store } from "../../src/storage/store.ts";
import { checkTrunk } from "../../src/trunk/check.ts";
import { cleanTrunk } from "../../src/trunk/gc.ts";
import { LEASE_ENV } from "../../src/trunk/lease.ts";
import { listSegmentKeys } from "../../src/trunk/replaces.ts";
import {
  type Backend,
  commitFile,
  e2eBackends,
  type Env,
  git,
  makeEnv,
  newRepo,
  run,
  trunkUrl,
} from "../e2e/harness.ts";

export const LEASE_S = 1;
export const GRACE_MS = 2 * LEASE_S * 1000;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The backends these tests run on (the races need a real listing, not a mock). */
export function sceneBackends(): Backend[] {
  return e2eBackends().filter((b) => ["local", "minio"].includes(b.name));
}

export interface RepushScene extends AsyncDisposable {
  e: Env;
  url: string;
  /** Repository `a`, remote `origin` on the trunk; `main` pushed, on `tmp` (not pushed). */
  a: string;
  /** `main`'s commit, as pushed. */
  mainTip: string;
  /** `tmp`'s commit (one file more than main). */
  tmpTip: string;
  inner: Store;
  work: string;
  /** The ids of the complete segments listed. */
  ids(): Promise<string[]>;
  /** The ids of the segments `step` stored (listed after it, not before). */
  newIds(step: () => Promise<unknown>): Promise<string[]>;
  /** Clean number `n`: a check that must find the trunk healthy, then a clean (grace 2 s). */
  clean(n: number): ReturnType<typeof cleanTrunk>;
  /** `git clone -b <branch>` of the trunk into a fresh directory. */
  clone(branch: string): Promise<{ dir: string; code: number; stderr: string }>;
}

/**
 * A trunk (lease 1 s, no automatic maintenance) to which repository `a` pushed `main`,
 * with a branch `tmp` committed (checked out) but not pushed, and the store opened.
 */
export async function repushScene(backend: Backend, name: string): Promise<RepushScene> {
  const e = await makeEnv({
    ...backend.env,
    [LEASE_ENV]: String(LEASE_S),
    TRUNKS_AUTO_MAINTENANCE: "0",
  });
  const url = await trunkUrl(backend, name);
  const a = await newRepo(e, "a");
  await git(e, a, "remote", "add", "origin", `trunks::${url}`);
  await git(e, a, "push", "-q", "origin", "main");
  const mainTip = (await git(e, a, "rev-parse", "HEAD")).trim();
  await git(e, a, "checkout", "-q", "-b", "tmp");
  await commitFile(e, a, "tmp.txt", "only on tmp\n");
  const tmpTip = (await git(e, a, "rev-parse", "HEAD")).trim();
  const inner = await openStore(url, backend.settings);
  const work = await Deno.makeTempDir({ prefix: "trunks-repush-" });
  const ids = async () => (await listSegmentKeys(inner)).complete.map((s) => s.id);
  return {
    e,
    url,
    a,
    mainTip,
    tmpTip,
    inner,
    work,
    ids,
    newIds: async (step) => {
      const before = new Set(await ids());
      await step();
      return (await ids()).filter((id) => !before.has(id));
    },
    clean: async (n) => {
      const c = await checkTrunk(inner, { workDir: `${work}/${n}` });
      assert(c.report.ok, JSON.stringify(c.report.problems));
      return await cleanTrunk(inner, c.inventory!, { graceMs: GRACE_MS, workDir: `${work}/${n}` });
    },
    clone: async (branch) => {
      const dir = `${await Deno.makeTempDir()}/clone`;
      const r = await run(e, "git", ["clone", "-q", "-b", branch, `trunks::${url}`, dir]);
      return { dir, code: r.code, stderr: r.stderr };
    },
    [Symbol.asyncDispose]: () => inner.close(),
  };
}

/**
 * Creates the trunk in `store` with the short test lease and pushes one commit to main (a
 * base for the slow writer a lease test then runs); that commit's id.
 */
export async function pushFirst(store: Store): Promise<string> {
  await using a = await Library.open({ store, writer: "a", create: true, leaseSeconds: LEASE_S });
  a.write("a.txt", "first\n");
  const first = (await a.commit({ message: "first", branch: "main" })).oid;
  await a.push();
  return first;
}

/** `store`, running `hook` once, right after the first put of a key `first` accepts. */
export function afterFirstPut(
  store: Store,
  first: (key: string) => boolean,
  hook: () => Promise<void>,
): Store {
  let armed = true;
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "put") {
        return async (key: string, data: Parameters<Store["put"]>[1]) => {
          await target.put(key, data);
          if (armed && first(key)) {
            armed = false;
            await hook();
          }
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

/** `n` random bytes: content no earlier push stored (a large blob of its own). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

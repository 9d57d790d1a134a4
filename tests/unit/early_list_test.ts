/**
 * git's `list` on a backend URL sends its LIST of refs/ from the URL alone, before the
 * repository's database is read (src/helper/early_list.ts). The storages planned then
 * adopt that store and its listing only when they open the URL's storage with the same
 * settings, advised as the plan says; every refusal of the URL comes before any request.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { listEarly } from "../../src/helper/early_list.ts";
import { LocalDb } from "../../src/local/db.ts";
import { insertStorage } from "../../src/local/storages.ts";
import { resolveStorages } from "../../src/local/trunk_storages.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { opensLight } from "../../src/storage/open_s3.ts";
import { registerBackend } from "../../src/storage/registry.ts";
import { type ListEntry, type Store, StoreError } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { listingFor } from "../../src/trunk/ref_listing.ts";
import { withProcessEnv } from "../../harness/process_env.ts";
import { git, makeEnv, run } from "../../harness/env.ts";

/** Lists of refs/ on the memory space `name`, counted while `fn` runs. */
async function countingRefLists<T>(name: string, fn: () => Promise<T>): Promise<[T, number]> {
  let n = 0;
  const list = MemoryStore.prototype.list;
  MemoryStore.prototype.list = function (prefix, startAfter) {
    if (this.location.includes(name) && prefix === "refs/") n++;
    return list.call(this, prefix, startAfter);
  };
  try {
    return [await fn(), n];
  } finally {
    MemoryStore.prototype.list = list;
  }
}

async function tempDb(): Promise<LocalDb> {
  return new LocalDb(`${await Deno.makeTempDir({ prefix: "early-list-" })}/db.sqlite`);
}

Deno.test("an early listing is adopted when nothing saved changes how the storage opens", async () => {
  const name = `early-${crypto.randomUUID()}`;
  const url = `memory://${name}/t/app.trunk`;
  const [[early, resolved], lists] = await countingRefLists(name, async () => {
    const early = (await listEarly(url))!;
    const resolved = await resolveStorages(url, null, new MemoryCache(), {
      freshMap: false,
      listRefs: listingFor(false),
      early,
    });
    return [early, resolved] as const;
  });
  assertEquals(lists, 1, "one LIST of refs/: the early one");
  assertEquals(resolved.members.length, 1);
  assert(resolved.members[0].store === early.store, "the early store is the member's");
  assertEquals(resolved.refsListing?.at, early.refsListing.at);
});

Deno.test("a storage saved with other settings does not take the early listing", async () => {
  const name = `early-${crypto.randomUUID()}`;
  const url = `memory://${name}/t/app.trunk`;
  const db = await tempDb();
  try {
    // `trunks storage add` for this very URL, with a setting the URL alone does not give.
    insertStorage(db, {
      name: "primary",
      role: "primary",
      url,
      backend: "memory",
      settings: { path: "elsewhere" },
      secrets: {},
    });
    let closed = 0;
    const [[early, resolved], lists] = await countingRefLists(name, async () => {
      const early = (await listEarly(url))!;
      const close = early.store.close.bind(early.store);
      early.store.close = () => (closed++, close());
      const resolved = await resolveStorages(url, db, db, {
        freshMap: false,
        listRefs: listingFor(false),
        early,
      });
      return [early, resolved] as const;
    });
    assertEquals(lists, 2, "the early LIST, then the plan's own");
    assertEquals(closed, 1, "the early store is closed");
    assert(resolved.members[0].store !== early.store, "the member is the plan's own store");
    assert(resolved.refsListing, "the plan lists refs/ itself");
    assert(resolved.refsListing.entries !== early.refsListing.entries);
    await resolved.members[0].store.close();
  } finally {
    db.close();
  }
});

/** A backend whose stores refuse every listing, and which reads a secret setting. */
const DENYING = "earlydeny";
const denied: string[] = [];
registerBackend({
  schemes: [DENYING],
  description: "test: refuses access",
  settings: [{ key: "pass-key", secret: true, help: "test secret" }],
  rootUrl: () => `${DENYING}://x`,
  opensEarly: () => Promise.resolve(true),
  load: () =>
    Promise.resolve((u: URL) => {
      denied.push(u.href);
      const inner = MemoryStore.named(`${u.host}${u.pathname}`);
      const store: Store = {
        location: inner.location,
        capabilities: inner.capabilities,
        get: (k, r) => inner.get(k, r),
        put: (k, d) => inner.put(k, d),
        create: (k, d) => inner.create(k, d),
        list: (): Promise<ListEntry[]> =>
          Promise.reject(new StoreError(`${DENYING}: access denied`, "access-denied")),
        delete: (k) => inner.delete(k),
        close: () => Promise.resolve(),
      };
      return Promise.resolve(store);
    }),
});

Deno.test("an adopted listing's refusal names the saved storage's variables, as the plan's would", async () => {
  const url = `${DENYING}://h-${crypto.randomUUID()}/t/app.trunk`;
  const db = await tempDb();
  try {
    // Saved with no settings (`trunks init` adopting a clone's URL): it opens the same way,
    // but a refusal is advised by its name.
    insertStorage(db, {
      name: "vault",
      role: "primary",
      url,
      backend: DENYING,
      settings: {},
      secrets: {},
    });
    const opened = denied.length;
    const early = (await listEarly(url))!;
    const resolved = await withProcessEnv(
      { TRUNKS_STORAGE_VAULT_PASS_KEY: undefined },
      () => resolveStorages(url, db, db, { freshMap: false, listRefs: listingFor(false), early }),
    );
    assertEquals(denied.length - opened, 1, "opened once: the early store was adopted");
    const e = await assertRejects(() => resolved.refsListing!.entries, StoreError);
    assertMatch(e.message, /storage vault reads its own TRUNKS_STORAGE_VAULT_PASS_KEY/);
    assert(!e.message.includes("used as given"), e.message);
  } finally {
    db.close();
  }
});

Deno.test("every refusal of the URL comes before a store is opened or a request sent", async () => {
  const host = `h-${crypto.randomUUID()}`;
  const good = `${DENYING}://${host}/t/app.trunk`;
  const cases: [string, Record<string, string | undefined>, RegExp][] = [
    [`${good}?pass-key=s3cr3t`, {}, /carries a secret \(pass-key\)/],
    [`${DENYING}://${host}/t/app`, {}, /is not a trunk URL/],
    [good, { TRUNKS_STORE_TIMEOUT: "soon" }, /TRUNKS_STORE_TIMEOUT="soon" is not a number/],
  ];
  for (const [url, env, message] of cases) {
    const opened = denied.length;
    const e = await withProcessEnv(env, () => listEarly(url).then(() => null, (e) => e));
    assertMatch(String(e?.message), message, url);
    assertEquals(denied.length, opened, `nothing opened for ${url}`);
  }
  // The same URL with nothing to refuse is opened (and its LIST sent) at once.
  const opened = denied.length;
  const early = await listEarly(good);
  assert(early, "listed early");
  assertEquals(denied.length, opened + 1);
});

Deno.test("a trunks://NAME URL, or a backend not declared to open early, lists as the plan says", async () => {
  const opened: string[] = [];
  registerBackend({
    schemes: ["earlylate"],
    description: "test: no early open",
    settings: [],
    rootUrl: () => "earlylate://x",
    load: () =>
      Promise.resolve((
        u: URL,
      ) => (opened.push(u.href), Promise.resolve(MemoryStore.named(u.href)))),
  });
  assertEquals(await listEarly(`earlylate://h/t/app.trunk`), undefined);
  assertEquals(await listEarly(`trunks://store/app`), undefined);
  assertEquals(opened, []);
});

Deno.test("S3 opens early only on the light client: credentials and region known without settings", () => {
  const url = new URL("s3://bucket/t/app.trunk?endpoint=http://127.0.0.1:9000");
  const keys: Record<string, string> = {
    AWS_ACCESS_KEY_ID: "id",
    AWS_SECRET_ACCESS_KEY: "secret",
    AWS_REGION: "us-east-1",
  };
  assert(opensLight(url, (n) => keys[n]));
  // The saved settings may hold the keys: the URL alone would fail, or load the SDK (AWS's
  // default chain), for a store then dropped.
  assert(!opensLight(url, () => undefined));
  assert(!opensLight(new URL("s3://bucket/t/app.trunk"), (n) => ({ AWS_REGION: "us-east-1" })[n]));
});

/** The helper answering `list` for `url` in a new repository; `prepare` may spoil it first. */
async function helperList(url: string, prepare: (gitDir: string) => Promise<void>) {
  const e = await makeEnv({ TRUNKS_DEBUG_REQUESTS: "1" });
  const dir = await Deno.makeTempDir({ prefix: "early-list-repo-" });
  await git(e, dir, "init", "-q");
  await prepare(`${dir}/.git`);
  const r = await run(e, "git-remote-trunks", ["origin", url], {
    cwd: dir,
    stdin: "list\n\n",
    env: { GIT_DIR: `${dir}/.git` },
  });
  const counts = /^trunks-requests helper (.*)$/m.exec(r.stderr);
  return { ...r, requests: counts ? JSON.parse(counts[1]).total as number : NaN };
}

Deno.test("the helper's LIST of refs/ leaves before it reads the repository's database", async () => {
  const store = await Deno.makeTempDir({ prefix: "early-list-store-" });
  // A database that cannot be opened: the listing was sent by then.
  const r = await helperList(
    `local://${store}/trunks/app.trunk`,
    (gitDir) => Deno.mkdir(`${gitDir}/trunks.sqlite`),
  );
  assertEquals(r.code, 128, r.stderr);
  assertMatch(r.stderr, /fatal: trunks: unable to open database file/);
  assertEquals(r.requests, 1, r.stderr);
});

Deno.test("the helper refuses a URL with a secret before any request", async () => {
  const store = await Deno.makeTempDir({ prefix: "early-list-store-" });
  const r = await helperList(
    `local://${store}/trunks/app.trunk?password=hunter2`,
    () => Promise.resolve(),
  );
  assertEquals(r.code, 128, r.stderr);
  assertMatch(r.stderr, /carries a secret \(password\)/);
  assert(!r.stderr.includes("hunter2"), r.stderr);
  assertEquals(r.requests, 0, r.stderr);
});

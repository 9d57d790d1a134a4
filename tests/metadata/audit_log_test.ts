/**
 * `trunks log` as an auditor uses it, through the real CLI and git: every acknowledged
 * ref update appears once, whatever its writer's name held; the text output cannot drive
 * the terminal and `--json`, one document, cannot either; an archive in `reflog/` that is
 * damaged or another trunk's is named (by log and check) and neither hides nor invents
 * history, nor does one of any size; a mirror holds the archive too; each ref's moves read
 * in seq order whatever the writers' clocks said.
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { getBytes } from "../../src/storage/store.ts";
import { FORMAT, refLayout, REFLOG_PREFIX, reflogKey, TRUNK_JSON } from "../../src/trunk/layout.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { ensureMeta, readMeta, type TrunkMeta } from "../../src/trunk/meta.ts";
import { appendArchive, readAuditLog } from "../../src/trunk/reflog.ts";
import { writeRefEntry } from "../../src/trunk/refs.ts";
import { pruneRefLog } from "../../src/trunk/prune.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { seal } from "../../src/trunk/seal.ts";
import {
  type Backend,
  e2eBackends,
  type Env,
  git,
  makeEnv,
  newRepo,
  ok,
  run,
  trunkUrl,
} from "../e2e/harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
/** Local disk and the first server backend configured (MinIO in CI). */
const local = e2eBackends().find((b) => b.name === "local")!;
const backends = e2eBackends().filter((b, i) => b.name === "local" || i === 1);

/** What a terminal acts on (line breaks and tabs aside) or reorders text by. */
const TERMINAL_CONTROL =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** A repository pushing to a fresh trunk on `b` as `origin`. */
async function pushedRepo(e: Env, url: string): Promise<string> {
  const a = await newRepo(e, "a");
  await git(e, a, "remote", "add", "origin", `trunks::${url}`);
  await git(e, a, "push", "-q", "origin", "main");
  return a;
}

/**
 * A live entry of refs/heads/x sealed for another trunk (a random id) planted in the trunk
 * at `url`, as a foreign or faulty writer would leave it; its key.
 */
async function plantForeignEntry(url: string, settings: Record<string, string>): Promise<string> {
  const store = await openStore(url, settings);
  try {
    const meta = (await readMeta(store))!;
    const zero = "0".repeat(40);
    const entry = { trunk: crypto.randomUUID(), ref: "refs/heads/x", seq: 1, old: zero };
    const time = new Date().toISOString();
    const planted = { ...entry, new: "1".repeat(40), time, writer: "mallory@x", segments: [] };
    assert((await writeRefEntry(store, new MemoryCache(), meta, planted)).ok);
    return refLayout(meta.format).entryKey("refs/heads/x", 1);
  } finally {
    await store.close();
  }
}

interface Logged {
  ref: string;
  seq: number;
  writer: string;
  new: string;
}

for (const b of backends) {
  Deno.test({
    name:
      `${b.name}: a writer whose name holds control characters: the push is seen, logged once, harmlessly`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(b.env);
      const url = await trunkUrl(b, "writer");
      const a = await pushedRepo(e, url);
      await git(e, a, "commit", "-q", "--allow-empty", "-m", "two");
      const evil = "ev\u001b]0;pwned\u0007il\u001b[2J\nforged line\u009b31m\u202e";
      const pushed = await run(e, "git", ["push", "-q", "origin", "main"], {
        cwd: a,
        env: { USER: evil },
      });
      assertEquals(pushed.code, 0, pushed.stderr);
      const head = (await git(e, a, "rev-parse", "main")).trim();
      // Every reader sees the acknowledged push: the entry is not one readers skip.
      const listed = await ok(e, "git", ["ls-remote", `trunks::${url}`, "refs/heads/main"]);
      assertEquals(listed.trim(), `${head}\trefs/heads/main`);

      const r = await run(e, "trunks", ["log", "main", "--trunk", url, "--json"]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stderr, "", "no entry is skipped");
      const log: Logged[] = JSON.parse(r.stdout);
      assertEquals(log.map((x) => x.seq), [1, 2]);
      assertEquals(log[1].new, head);
      assert(!TERMINAL_CONTROL.test(log[1].writer), JSON.stringify(log[1].writer));
      assert(log[1].writer.includes("pwned") && log[1].writer.includes("forged line"));

      const text = await run(e, "trunks", ["log", "--trunk", url]);
      assertEquals(text.code, 0, text.stderr);
      assert(!TERMINAL_CONTROL.test(text.stdout), JSON.stringify(text.stdout));
      // One line per entry: main twice and HEAD once, nothing forged.
      assertEquals(text.stdout.trimEnd().split("\n").length, 3, text.stdout);
    },
  });
}

Deno.test({
  name: "local: a ref name or writer the readers accept is still escaped on the terminal",
  ...opts,
  fn: async () => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, "c1");
    const a = await pushedRepo(e, url);
    // Bidirectional marks are the one thing both git and trunks accept in ref names that
    // changes how text shows (C1 controls and overrides are refused: ref_format.ts).
    const ref = "refs/heads/x\u200fgnp\u061c.exe\u200e";
    await git(e, a, "push", "-q", "origin", `main:${ref}`);
    const text = await ok(e, "trunks", ["log", "--trunk", url]);
    assert(!TERMINAL_CONTROL.test(text), JSON.stringify(text));
    const json = await ok(e, "trunks", ["log", "--trunk", url, "--json"]);
    assert(!TERMINAL_CONTROL.test(json), JSON.stringify(json));
    const log: Logged[] = JSON.parse(json);
    assert(log.some((x) => x.ref === ref), "--json keeps the name as it is");
  },
});

/** A trunk whose lease is one second, so two leases pass within a test. */
async function shortLeaseTrunk(b: Backend, url: string): Promise<TrunkMeta> {
  const store = await openStore(url, b.settings);
  try {
    const meta = seal({
      format: FORMAT,
      id: crypto.randomUUID(),
      objectFormat: "sha1",
      created: new Date().toISOString(),
      generator: "trunks test",
      leaseSeconds: 1,
    }) as TrunkMeta;
    assert(await store.create(TRUNK_JSON, new TextEncoder().encode(JSON.stringify(meta))));
    return meta;
  } finally {
    await store.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `main` pushed `n` times to a one-second-lease trunk, then pruned: its oids, oldest first. */
async function prunedTrunk(e: Env, b: Backend, url: string, n: number): Promise<string[]> {
  await shortLeaseTrunk(b, url);
  const a = await newRepo(e, "a");
  await git(e, a, "remote", "add", "origin", `trunks::${url}`);
  const oids: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i) await git(e, a, "commit", "-q", "--allow-empty", "-m", `c${i}`);
    await git(e, a, "push", "-q", "origin", "main");
    oids.push((await git(e, a, "rev-parse", "main")).trim());
  }
  await sleep(2100); // every superseded entry is now two leases old
  await ok(e, "trunks", ["maintenance", url]);
  return oids;
}

/** An entry of `trunkId` as a client writes it, keyed as `meta`'s layout keys it. */
function entryOf(meta: TrunkMeta, trunkId: string, seq: number, old: string, now: string) {
  const key = refLayout(meta.format).entryKey("refs/heads/main", seq);
  const e = { trunk: trunkId, ref: "refs/heads/main", seq, old, new: now };
  const time = new Date().toISOString();
  return [key, JSON.stringify(seal({ ...e, time, writer: "mallory@x", segments: [] }))] as const;
}

for (const b of backends) {
  Deno.test({
    name: `${b.name}: a damaged or foreign archive is named, hides nothing and adds nothing`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(b.env);
      const url = await trunkUrl(b, "archives");
      const oids = await prunedTrunk(e, b, url, 3);
      const store = await openStore(url, b.settings);
      let bad: string[];
      try {
        const meta = (await readMeta(store))!;
        assertEquals((await store.list(REFLOG_PREFIX)).length, 1, "main #1 and #2 archived");
        const forged = "f".repeat(40);
        // Another trunk's archive, sealed and well formed, claiming main moved on to #4.
        const other = await appendArchive(
          store,
          crypto.randomUUID(),
          new Map([entryOf(meta, crypto.randomUUID(), 4, oids[2], forged)]),
        );
        // This trunk's id on the archive, another trunk's on the entry it holds.
        const mixed = await appendArchive(
          store,
          meta.id,
          new Map([entryOf(meta, crypto.randomUUID(), 5, forged, forged)]),
        );
        const garbage = reflogKey(8);
        assert(await store.create(garbage, new TextEncoder().encode("\u001b[2Jnot json")));
        const truncated = reflogKey(9);
        const first = new TextDecoder().decode((await getBytes(store, reflogKey(1)))!);
        assert(await store.create(truncated, new TextEncoder().encode(first.slice(0, 80))));
        bad = [other, mixed, garbage, truncated];
      } finally {
        await store.close();
      }

      const r = await run(e, "trunks", ["log", "main", "--trunk", url, "--json"]);
      assertEquals(r.code, 1, "an incomplete trail is not a success");
      const log: Logged[] = JSON.parse(r.stdout);
      assertEquals(log.map((x) => [x.seq, x.new]), oids.map((o, i) => [i + 1, o]));
      assertEquals(log.map((x) => x.writer).filter((w) => w === "mallory@x"), []);
      const lines = r.stderr.trimEnd().split("\n");
      assertEquals(lines.length, bad.length, r.stderr);
      for (const key of bad) assert(lines.some((l) => l.includes(key)), `${key}: ${r.stderr}`);
      assert(lines.every((l) => l.includes("restore it from a mirror or backup")), r.stderr);
      assert(!TERMINAL_CONTROL.test(r.stderr), JSON.stringify(r.stderr));

      const text = await run(e, "trunks", ["log", "--trunk", url]);
      assertEquals(text.code, 1);
      assertEquals(text.stdout.trimEnd().split("\n").length, 4, "main #1-#3 and HEAD");

      // `trunks check` names each one too: its advice is one a user can follow.
      const checked = await run(e, "trunks", ["check", url, "--json"]);
      assertEquals(checked.code, 1, checked.stderr);
      const problems: { key: string; kind: string }[] = JSON.parse(checked.stdout).problems;
      assertEquals(
        problems.filter((p) => p.kind === "bad-reflog-archive").map((p) => p.key).sort(),
        [...bad].sort(),
      );
    },
  });
}

Deno.test({
  name: "local: a mirror added to a pruned trunk gets its archive: the log read from it is whole",
  ...opts,
  fn: async () => {
    const e = await makeEnv(local.env);
    const repo = await newRepo(e, "work");
    const primary = await Deno.makeTempDir({ prefix: "trunks-primary-" });
    const nas = await Deno.makeTempDir({ prefix: "trunks-nas-" });
    const t = (...args: string[]) => ok(e, "trunks", args, { cwd: repo });
    await t("init");
    await t("storage", "add", "--name", "primary", "--backend", "local", "--path", primary);
    const url = `local://${primary}/trunks/work.trunk`;
    await shortLeaseTrunk(local, url);
    const oids: string[] = [];
    for (let i = 0; i < 3; i++) {
      await git(e, repo, "commit", "-q", "--allow-empty", "-m", `c${i}`);
      await git(e, repo, "push", "-q", "trunks", "main");
      oids.push((await git(e, repo, "rev-parse", "main")).trim());
    }
    await sleep(2100);
    await t("maintenance", url);
    await t("storage", "add", "--name", "nas", "--backend", "local", "--path", nas, "--mirror");
    const want = oids.map((o, i) => [i + 1, o]);
    const logged = async () => {
      const log: Logged[] = JSON.parse(await t("log", "main", "--json"));
      return log.map((x) => [x.seq, x.new]);
    };
    assertEquals(await logged(), want);
    // The primary gone, reads fail over to the mirror: the same trail, pruned part too.
    await Deno.rename(primary, `${primary}.away`);
    assertEquals(await logged(), want);
  },
});

Deno.test("a writer whose clock is behind another's: each ref's moves still read in seq order", async () => {
  const mem = new MemoryStore("memory://skew");
  const meta = await ensureMeta(mem, "sha1");
  const oid = (n: number) => n.toString(16).padStart(40, "0");
  const zero = oid(0);
  const at = (min: number) => new Date(Date.UTC(2026, 0, 1, 12, min)).toISOString();
  const write = async (ref: string, seq: number, old: string, now: string, time: string) => {
    const e = { trunk: meta.id, ref, seq, old, new: now, time, writer: "w", segments: [] };
    assert((await writeRefEntry(mem, new MemoryCache(), meta, e)).ok);
  };
  // A's clock is an hour ahead: main #1 says 13:00; B, right, moves main on at 12:00.
  await write("refs/heads/main", 1, zero, oid(1), at(60));
  await write("refs/heads/main", 2, oid(1), oid(2), at(0));
  await write("refs/heads/other", 1, zero, oid(3), at(30));
  const main = await readAuditLog(mem, new MemoryCache(), meta, "refs/heads/main");
  assertEquals(main.map((e) => [e.seq, e.old, e.new]), [[1, zero, oid(1)], [2, oid(1), oid(2)]]);
  const all = await readAuditLog(mem, new MemoryCache(), meta);
  assertEquals(all.map((e) => [e.ref, e.seq]), [
    ["refs/heads/other", 1],
    ["refs/heads/main", 1],
    ["refs/heads/main", 2],
  ]);
});

Deno.test({
  name:
    "local: trunks log with an unknown ref, a URL for a ref, outside a repository: one line each, non-zero",
  ...opts,
  fn: async () => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, "ux");
    const a = await pushedRepo(e, url);
    const oneLine = (r: { code: number; stdout: string; stderr: string }, re: RegExp) => {
      assert(r.code !== 0, `exit ${r.code}: ${r.stdout}`);
      assertEquals(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assert(re.test(r.stderr), r.stderr);
    };
    // A typo is not an empty history.
    oneLine(await run(e, "trunks", ["log", "mian"], { cwd: a }), /mian.*trunks log/);
    const json = await run(e, "trunks", ["log", "mian", "--json"], { cwd: a });
    oneLine(json, /mian/);
    JSON.parse(json.stdout);
    // A trunk URL where the ref goes, inside a repository and outside one.
    oneLine(await run(e, "trunks", ["log", url], { cwd: a }), /--trunk/);
    const outside = await Deno.makeTempDir();
    oneLine(await run(e, "trunks", ["log", url], { cwd: outside }), /--trunk/);
    oneLine(await run(e, "trunks", ["log"], { cwd: outside }), /--trunk/);
    // Found, under the short name and the full one alike.
    const short = await ok(e, "trunks", ["log", "main"], { cwd: a });
    assertEquals(short, await ok(e, "trunks", ["log", "refs/heads/main"], { cwd: a }));
    assertEquals(short.trimEnd().split("\n").length, 1);
  },
});

Deno.test({
  name: "local: an enormous object in reflog/ is named unread, and the rest of the trail shown",
  ...opts,
  fn: async () => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, "enormous");
    const oids = await prunedTrunk(e, local, url, 3);
    // 3 GiB, sparse: reading it would fail the whole log (more than a buffer may hold).
    const huge = `${new URL(url).pathname}/${reflogKey(9)}`;
    const f = await Deno.open(huge, { create: true, write: true });
    await f.truncate(3 * 1024 ** 3);
    f.close();
    const r = await run(e, "trunks", ["log", "main", "--trunk", url, "--json"]);
    assertEquals(r.code, 1);
    assertEquals(JSON.parse(r.stdout).map((x: Logged) => x.new), oids);
    assertEquals(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert(r.stderr.includes(reflogKey(9)) && /bytes/.test(r.stderr), r.stderr);
    const checked = await run(e, "trunks", ["check", url, "--json"]);
    const problems: { key: string; kind: string }[] = JSON.parse(checked.stdout).problems;
    assertEquals(problems.map((p) => [p.key, p.kind]), [[reflogKey(9), "bad-reflog-archive"]]);
  },
});

Deno.test("a prune never writes an archive bigger than readers take: the rest waits for the next", async () => {
  const mem = new MemoryStore("memory://big");
  const meta = { ...(await ensureMeta(mem, "sha1")), leaseSeconds: 0 } as TrunkMeta;
  const trunk = new Trunk(mem, meta, new MemoryCache(), "w@t");
  const oid = (n: number) => n.toString(16).padStart(40, "0");
  // Entries of ~7 KB (100 segments each); archives of at most 32 KB.
  const segments = [...Array(100).keys()].map((i) => i.toString(16).padStart(64, "0"));
  let n = 1;
  for (const ref of ["refs/heads/a", "refs/heads/b"]) {
    let base = null;
    for (let i = 0; i < 12; i++) {
      const r = await trunk.updateRef({ ref, new: oid(n++), base, segments });
      assert(r.ok);
      base = r.entry;
    }
  }
  await sleep(5);
  const maxArchiveBytes = 32 * 1024;
  let runs = 0;
  while (
    (await pruneRefLog(mem, trunk.cache, meta, 0, { now: Date.now() + 1000, maxArchiveBytes }))
      .pruned
  ) {
    runs++;
  }
  assert(runs > 1, "22 entries of 7 KB take more than one archive");
  for (const a of await mem.list(REFLOG_PREFIX)) {
    assert(a.size <= maxArchiveBytes, `${a.key} is ${a.size} bytes`);
  }
  const log = await readAuditLog(mem, new MemoryCache(), meta);
  assertEquals(log.map((e) => `${e.ref}#${e.seq}`).length, 24);
  assertEquals(log.filter((e) => e.archived).length, 22);
});

for (const b of backends) {
  Deno.test({
    name: `${b.name}: a step killed after archiving, then two at once: every move logged once`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(b.env);
      const url = await trunkUrl(b, "racing");
      await shortLeaseTrunk(b, url);
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      const want: string[] = [];
      for (let i = 0; i < 5; i++) {
        if (i) await git(e, a, "commit", "-q", "--allow-empty", "-m", `c${i}`);
        await git(e, a, "push", "-q", "origin", "main");
        want.push(`refs/heads/main#${i + 1}`);
      }
      // Deleted and created again: its seqs go on.
      const ref = "refs/heads/ünïcode/x.y";
      await git(e, a, "push", "-q", "origin", `main:${ref}`);
      await git(e, a, "push", "-q", "origin", `:${ref}`);
      await git(e, a, "push", "-q", "origin", `main~1:${ref}`);
      want.push(`${ref}#1`, `${ref}#2`, `${ref}#3`, "HEAD#1");
      await sleep(2100);
      const killed = await run(e, "trunks", ["maintenance", url], {
        env: { TRUNKS_FAULT: "maint:after-archive" },
      });
      assertEquals(killed.code, 137, killed.stderr);
      const both = await Promise.all([1, 2].map(() => run(e, "trunks", ["maintenance", url])));
      for (const r of both) assertEquals(r.code, 0, r.stderr);
      const store = await openStore(url, b.settings);
      try {
        assert((await store.list(REFLOG_PREFIX)).length >= 2, "archived twice at least");
      } finally {
        await store.close();
      }
      const r = await run(e, "trunks", ["log", "--trunk", url, "--json"]);
      assertEquals(r.code, 0, r.stderr);
      const log: Logged[] = JSON.parse(r.stdout);
      assertEquals(log.map((x) => `${x.ref}#${x.seq}`).sort(), want.sort());
      const text = await ok(e, "trunks", ["log", "--trunk", url]);
      assertEquals(text.trimEnd().split("\n").length, log.length);
      assertEquals(text.split("\n").filter((l) => l.endsWith("  archived")).length, 6);
    },
  });
}

Deno.test({
  name: "local: an entry readers skip is named on stderr without the controls its ref name holds",
  ...opts,
  fn: async () => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, "skipped");
    await pushedRepo(e, url);
    const store = await openStore(url, local.settings);
    try {
      const meta = (await readMeta(store))!;
      // `~` makes git refuse the name, so readers skip the entry and say so.
      const ref = "refs/heads/x\u009b2J\u001b]0;t\u0007\u202e~";
      const zero = "0".repeat(40);
      const entry = { trunk: meta.id, ref, seq: 1, old: zero, new: "1".repeat(40) };
      const time = new Date().toISOString();
      const planted = { ...entry, time, writer: "w", segments: [] };
      assert((await writeRefEntry(store, new MemoryCache(), meta, planted)).ok);
    } finally {
      await store.close();
    }
    for (
      const [cmd, args] of [["trunks", ["log", "--trunk", url]], ["git", [
        "ls-remote",
        `trunks::${url}`,
      ]]] as const
    ) {
      const r = await run(e, cmd, [...args]);
      assertEquals(r.code, 0, r.stderr);
      assert(/ref entry refs\/\S+~000000000001 names ref/.test(r.stderr), r.stderr);
      assert(!TERMINAL_CONTROL.test(r.stderr), JSON.stringify(r.stderr));
    }
  },
});

Deno.test("a log read while a prune runs misses nothing: refs/ is read before reflog/ is listed", async () => {
  const mem = new MemoryStore("memory://race");
  const meta = { ...(await ensureMeta(mem, "sha1")), leaseSeconds: 0 } as TrunkMeta;
  const trunk = new Trunk(mem, meta, new MemoryCache(), "w@t");
  const oid = (n: number) => n.toString(16).padStart(40, "0");
  let base = null;
  for (let i = 1; i <= 4; i++) {
    const r = await trunk.updateRef({ ref: "refs/heads/main", new: oid(i), base, segments: [] });
    assert(r.ok);
    base = r.entry;
  }
  await sleep(5);
  // Another machine's prune archives and deletes #1-#3 just before the reader lists refs/.
  let pruned = false;
  const list = async (prefix: string, startAfter?: string) => {
    if (prefix.startsWith("refs/") && !pruned) {
      pruned = true;
      const r = await pruneRefLog(mem, new MemoryCache(), meta, 0, { now: Date.now() + 1000 });
      assertEquals(r.pruned, 3);
    }
    return mem.list(prefix, startAfter);
  };
  const racing = new Proxy(mem, {
    get: (t, p) => {
      if (p === "list") return list;
      const v = Reflect.get(t, p, t);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
  const log = await readAuditLog(racing, new MemoryCache(), meta, "refs/heads/main");
  assert(pruned);
  assertEquals(log.map((e) => [e.seq, e.archived]), [[1, true], [2, true], [3, true], [4, false]]);
});

Deno.test({
  name: "local: a live entry of another trunk is left out of the log and named, as check names it",
  ...opts,
  fn: async () => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, "foreign");
    await pushedRepo(e, url);
    const key = await plantForeignEntry(url, local.settings);
    const r = await run(e, "trunks", ["log", "--trunk", url, "--json"]);
    assertEquals(r.code, 1, r.stderr);
    const log: Logged[] = JSON.parse(r.stdout);
    assertEquals(log.map((x) => x.ref).sort(), ["HEAD", "refs/heads/main"]);
    assertEquals(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert(r.stderr.includes(key) && r.stderr.includes("another trunk"), r.stderr);
  },
});

for (const b of backends) {
  Deno.test({
    name:
      `${b.name}: git ls-remote and fetch on a trunk holding another trunk's live entry name it in one line`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(b.env);
      const url = await trunkUrl(b, "foreign-fetch");
      const a = await pushedRepo(e, url);
      // Listed once, so the next read has the trunk cached (its id, its entries).
      await ok(e, "git", ["ls-remote", `trunks::${url}`]);
      const key = await plantForeignEntry(url, b.settings);
      for (const args of [["ls-remote", `trunks::${url}`], ["-C", a, "fetch", "origin"]]) {
        const r = await run(e, "git", args);
        assert(r.code !== 0, r.stderr);
        const said = r.stderr.split("\n").filter((l) => l.includes(key));
        assertEquals(said.length, 1, r.stderr);
        assert(said[0].includes("another trunk") && said[0].includes("trunks check"), r.stderr);
        assert(!r.stderr.includes("cached copy"), r.stderr);
      }
    },
  });
}

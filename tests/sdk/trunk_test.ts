/**
 * The library's Trunk on the memory backend: write/commit/push/read between instances,
 * the compare-and-swap between concurrent writers, rebase on pull, errors.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { ConflictError, type TransferProgress, Trunk, TrunkError } from "../../mod.ts";
import { openStore } from "../../src/storage/registry.ts";
import { getBytes } from "../../src/storage/store.ts";
import { listSegments } from "../../src/trunk/segments.ts";

function memUrl(): string {
  return `memory://sdk-${crypto.randomUUID()}/trunks/app.trunk`;
}

async function seeded(url: string): Promise<void> {
  await using t = await Trunk.open({ url, create: true, writer: "seed" });
  t.write("README.md", "hello\n");
  t.write("src/a.ts", "export const a = 1;\n");
  t.write("bin/run", "#!/bin/sh\necho hi\n", { executable: true });
  await t.commit({ message: "first", branch: "main" });
  await t.push();
}

Deno.test("sdk: open needs a trunk, or create", async () => {
  const url = memUrl();
  const err = await assertRejects(() => Trunk.open({ url }), TrunkError, "no trunk at");
  assertEquals((err as TrunkError).code, "not-a-trunk");
  await assertRejects(
    () => Trunk.open({ url: "memory://x/not-a-trunk" }),
    TrunkError,
    "is not a trunk URL",
  );
  await assertRejects(() => Trunk.open({ backend: "memory://x" }), TrunkError, "needs `name`");
  await using t = await Trunk.open({ backend: "memory://sdk-open", name: "app", create: true });
  assertEquals(await t.branches(), []);
  assertEquals(await t.head(), null);
  await assertRejects(() => t.read("README.md"), TrunkError, "it is empty");
});

Deno.test("sdk: commit, push, and another instance reads it all", async () => {
  const url = memUrl();
  await seeded(url);
  await using t = await Trunk.open({ url });
  assertEquals(await t.branches(), ["main"]);
  assertEquals(await t.head(), "main");
  assertEquals(await t.readText("README.md"), "hello\n");
  assertEquals(await t.readText("/src//a.ts", { ref: "main" }), "export const a = 1;\n");
  assertEquals(
    (await t.list()).map((e) => [e.path, e.type, e.mode]),
    [["README.md", "file", "100644"], ["bin", "dir", "40000"], ["src", "dir", "40000"]],
  );
  assertEquals(
    (await t.list("", { recursive: true })).map((e) => e.path),
    ["README.md", "bin/run", "src/a.ts"],
  );
  assertEquals((await t.list("bin"))[0].mode, "100755");
  assert(await t.exists("src"));
  assert(!(await t.exists("nope")));

  // A second commit on a new branch, starting from main.
  t.write("src/b.ts", "export const b = 2;\n");
  t.remove("README.md");
  const c = await t.commit({ message: "agent: b", branch: "agent/1" });
  assertEquals(c.branch, "refs/heads/agent/1");
  // Visible locally before the push, not to others.
  assertEquals(await t.readText("src/b.ts", { ref: "agent/1" }), "export const b = 2;\n");
  assertEquals(t.unpushed(), [{ branch: "agent/1", commits: [c.oid] }]);
  const pushed = await t.push();
  assertEquals(pushed.map((p) => [p.branch, p.oid]), [["agent/1", c.oid]]);
  assertEquals(t.unpushed(), []);

  await using other = await Trunk.open({ url });
  assertEquals(await other.branches(), ["agent/1", "main"]);
  const log = await other.log({ ref: "agent/1" });
  assertEquals(log.map((x) => x.message), ["agent: b\n", "first\n"]);
  assertEquals(log[0].parents, [log[1].oid]);
  assert(!(await other.exists("README.md", { ref: "agent/1" })));
  assertEquals((await other.log({ ref: "agent/1", path: "src/a.ts" })).length, 1);
  const refs = await other.refs();
  assertEquals(refs.find((r) => r.name === "refs/heads/agent/1")?.oid, c.oid);
  assertEquals(await other.resolve(c.oid), c.oid);
});

Deno.test("sdk: two writers from the same base, exactly one wins; pull rebases, push again", async () => {
  const url = memUrl();
  await seeded(url);
  await using a = await Trunk.open({ url, writer: "agent-a" });
  await using b = await Trunk.open({ url, writer: "agent-b" });
  await a.pull();
  await b.pull();
  a.write("a.txt", "from a\n");
  b.write("b.txt", "from b\n");
  await a.commit({ message: "a", branch: "main" });
  await b.commit({ message: "b", branch: "main" });
  const results = await Promise.allSettled([a.push(), b.push()]);
  const won = results.filter((r) => r.status === "fulfilled");
  const lost = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
  assertEquals(won.length, 1, "exactly one push wins");
  assertEquals(lost.length, 1);
  const err = lost[0].reason as ConflictError;
  assert(err instanceof ConflictError && err.code === "conflict");
  assertMatch(err.message, /another writer moved main .*pull\(\) .*push\(\) again/);
  const loser = results[0].status === "rejected" ? a : b;
  // Retry: pull rebases the commit onto the winner (different files), push succeeds.
  const pulled = await loser.pull();
  assertEquals(pulled.rebased, ["main"]);
  await loser.push();
  await using check = await Trunk.open({ url });
  assertEquals(await check.readText("a.txt"), "from a\n");
  assertEquals(await check.readText("b.txt"), "from b\n");
  const log = await check.log();
  assertEquals(log.length, 3);
  assertEquals(log[0].parents, [log[1].oid], "linear history after the rebase");
});

// A conflict quotes what another writer recorded (a path git allows, with a C1 CSI and a
// bidi override in it): a caller printing the message prints no raw control.
Deno.test("sdk: a conflict's message escapes what a terminal acts on", async () => {
  const url = memUrl();
  await seeded(url);
  const path = "x\u009b2J\u202egnp.txt";
  await using a = await Trunk.open({ url, writer: "agent-a" });
  await using b = await Trunk.open({ url, writer: "agent-b" });
  a.write(path, "a's\n");
  await a.commit({ message: "a", branch: "main" });
  await a.push();
  await b.pull();
  b.write(path, "b's\n");
  await b.commit({ message: "b", branch: "main" });
  a.write(path, "a's again\n");
  await a.commit({ message: "a2", branch: "main" });
  await a.push();
  const err = await assertRejects(() => b.pull(), ConflictError);
  assert(!/[\u0080-\u009f\u202a-\u202e]/.test(err.message), JSON.stringify(err.message));
  assert(err.message.includes("x\\u{9b}2J\\u{202e}gnp.txt"), err.message);
});

Deno.test("sdk: a rebase that would overwrite the other writer's change is a conflict", async () => {
  const url = memUrl();
  await seeded(url);
  await using a = await Trunk.open({ url, writer: "agent-a" });
  await using b = await Trunk.open({ url, writer: "agent-b" });
  await b.pull();
  a.write("README.md", "a's\n");
  await a.commit({ message: "a", branch: "main" });
  await a.push();
  b.write("README.md", "b's\n");
  await b.commit({ message: "b", branch: "main" });
  await assertRejects(() => b.push(), ConflictError, "another writer moved main");
  await assertRejects(() => b.pull(), ConflictError, "agent-a also changed README.md");
  // Nothing was lost or half-applied: b can discard and redo on the new tip.
  assertEquals(b.unpushed().length, 1);
  b.discard("main");
  await b.pull();
  assertEquals(await b.readText("README.md"), "a's\n");
  b.write("README.md", "a's\nand b's\n");
  await b.commit({ message: "b again" });
  await b.push();
  await using check = await Trunk.open({ url });
  assertEquals(await check.readText("README.md"), "a's\nand b's\n");
});

Deno.test("sdk: clear errors for bad input and missing things", async () => {
  const url = memUrl();
  await seeded(url);
  await using t = await Trunk.open({ url });
  const nf = await assertRejects(() => t.read("nope.txt"), TrunkError, "nope.txt does not exist");
  assertEquals((nf as TrunkError).code, "not-found");
  await assertRejects(() => t.read("src"), TrunkError, "is a directory");
  await assertRejects(() => t.read("x", { ref: "nobranch" }), TrunkError, "branches: main");
  assertEquals(
    (await assertRejects(() => t.read("../etc/passwd"), TrunkError) as TrunkError).code,
    "bad-input",
  );
  assertEquals(
    (() => {
      try {
        t.write(".git/config", "x");
      } catch (e) {
        return (e as TrunkError).code;
      }
    })(),
    "bad-input",
  );
  await assertRejects(() => t.commit({ message: "empty" }), TrunkError, "nothing to commit");
  t.write("README.md", "hello\n");
  await assertRejects(() => t.commit({ message: "same" }), TrunkError, "match the branch");
  t.write("x", "y");
  await assertRejects(() => t.commit({ message: "m", branch: "bad..name" }), TrunkError, "valid");
});

Deno.test("sdk: push writes one self-contained segment; cacheDir serves indexes from disk", async () => {
  const url = memUrl();
  await seeded(url);
  const cacheDir = await Deno.makeTempDir({ prefix: "trunks-sdk-cache-" });
  {
    await using t = await Trunk.open({ url, cacheDir });
    assertEquals(await t.readText("README.md"), "hello\n");
    assert(t.stats.requests > 0);
  }
  {
    await using t = await Trunk.open({ url, cacheDir });
    assertEquals(await t.readText("src/a.ts"), "export const a = 1;\n");
    assertEquals(t.stats.requests, 0, "index and pack came from the cache directory");
    assert(t.stats.diskHits >= 1);
  }
  const store = await openStore(url);
  assertEquals((await listSegments(store)).length, 1);
});

Deno.test("sdk: a damaged segment is an error naming its key, whole or by range reads", async () => {
  const url = memUrl();
  await seeded(url);
  const store = await openStore(url);
  const [seg] = await listSegments(store);
  const key = `segments/${seg.id}.pack`;
  const bytes = (await getBytes(store, key))!.slice();
  // Flip one byte inside the last object's compressed data (before the trailer).
  bytes[bytes.byteLength - 25] ^= 0xff;
  await store.delete(key);
  await store.put(key, bytes);
  for (const reads of [{}, { wholePackBytes: 0 }]) {
    await using t = await Trunk.open({ url, reads });
    const names = ["README.md", "src/a.ts", "bin/run"];
    const got = await Promise.allSettled(names.map((n) => t.read(n)));
    const bad = got.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    assert(bad.length > 0, `a damaged pack must fail a read (${JSON.stringify(reads)})`);
    for (const r of bad) {
      assert(r.reason instanceof TrunkError, String(r.reason));
      assertEquals(r.reason.code, "corrupt");
      assertMatch(r.reason.message, new RegExp(`segments/${seg.id}\\.pack`));
    }
  }
});

Deno.test("sdk: push is silent unless given onProgress, which hears the segment's bytes", async () => {
  const url = memUrl();
  await using t = await Trunk.open({ url, create: true, writer: "w" });
  t.write("data.txt", "x".repeat(50_000));
  await t.commit({ message: "one", branch: "main" });
  const seen: TransferProgress[] = [];
  await t.push({ onProgress: (p) => seen.push({ ...p }) });
  assert(seen.length >= 2, JSON.stringify(seen));
  assert(seen.every((p) => p.kind === "segment-upload"));
  const [first, last] = [seen[0], seen[seen.length - 1]];
  assertEquals([first.bytes, first.done], [0, false]);
  assert(last.done && last.total > 0 && last.bytes === last.total, JSON.stringify(last));
  const [seg] = await listSegments(await openStore(url));
  assertEquals(last.total, seg.packSize + seg.idxSize);
  // Without a callback nothing is printed (the library never writes to the terminal).
  t.write("data.txt", "y");
  await t.commit({ message: "two", branch: "main" });
  assertEquals((await t.push()).length, 1);
});

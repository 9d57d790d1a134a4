/**
 * One Trunk shared by the tasks of one program (an agent framework, a server): a close(),
 * discard() or commit() made while a push is under way never leaves a ref entry pointing at
 * objects the push left out, never drops a commit the push did not send, and a push's
 * answer names what it published.
 */
import { assert, assertEquals } from "../assert.ts";
import { Trunk } from "../../mod.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { ListEntry, ListOptions } from "../../src/storage/store.ts";
import { PassThroughStore } from "../pass_through_store.ts";

/**
 * A store whose next listing of `refs/` waits for `release()` once `arm()` is called: a push
 * held after it planned nothing yet (the engine lists the refs before it packs).
 */
class GatedStore extends PassThroughStore {
  #gate: Promise<void> | null = null;
  #open = () => {};
  #reached = () => {};
  reached = Promise.resolve();
  arm(): void {
    this.#gate = new Promise((r) => this.#open = r);
    this.reached = new Promise((r) => this.#reached = r);
  }
  release(): void {
    this.#gate = null;
    this.#open();
  }
  override async list(
    prefix: string,
    startAfter?: string,
    opts?: ListOptions,
  ): Promise<ListEntry[]> {
    const gate = prefix === "refs/" ? this.#gate : null;
    if (gate) {
      this.#reached();
      await gate;
    }
    return await this.inner.list(prefix, startAfter, opts);
  }
}

/** A trunk with one pushed commit, a Trunk on it through a gate, and one local commit. */
async function sharedTrunk() {
  const url = `memory://shared-${crypto.randomUUID()}/trunks/app.trunk`;
  const mem = await openStore(url);
  const gated = new GatedStore(mem);
  const t = await Trunk.open({ store: gated, create: true, writer: "lib" });
  t.write("README.md", "hello\n");
  await t.commit({ message: "seed", branch: "main" });
  await t.push();
  t.write("a/one.txt", "one\n");
  const one = await t.commit({ message: "one", branch: "main" });
  gated.arm();
  return { url, mem, gated, t, one };
}

/** What a fresh Trunk reads of main: every file, and the log's messages. */
async function mainAsRead(url: string): Promise<{ files: string[]; log: string[] }> {
  await using fresh = await Trunk.open({ url });
  const files = (await fresh.list("", { ref: "main", recursive: true })).map((e) => e.path);
  for (const f of files) await fresh.read(f, { ref: "main" });
  const log = (await fresh.log({ ref: "main" })).map((c) => c.message.trim());
  return { files, log };
}

Deno.test("shared trunk: close() while push() runs lets the push end whole", async () => {
  const { url, mem, gated, t, one } = await sharedTrunk();
  const pushing = t.push();
  await gated.reached;
  const closing = t.close();
  gated.release();
  const [pushed] = await Promise.all([pushing, closing]);
  assertEquals(pushed.map((p) => [p.branch, p.oid]), [["main", one.oid]]);
  assertEquals(await mainAsRead(url), { files: ["README.md", "a/one.txt"], log: ["one", "seed"] });
  await mem.close();
});

Deno.test("shared trunk: discard() while push() runs leaves the pushed commit whole", async () => {
  const { url, mem, gated, t, one } = await sharedTrunk();
  const pushing = t.push();
  await gated.reached;
  t.discard("main");
  gated.release();
  // The push had named main's commit before the discard: it publishes it, objects and all.
  assertEquals((await pushing).map((p) => p.oid), [one.oid]);
  assertEquals(t.unpushed(), []);
  assertEquals(await mainAsRead(url), { files: ["README.md", "a/one.txt"], log: ["one", "seed"] });
  await t.close();
  await mem.close();
});

Deno.test("shared trunk: a commit() made while push() runs goes with the next push", async () => {
  const { url, mem, gated, t, one } = await sharedTrunk();
  const pushing = t.push();
  await gated.reached;
  t.write("b/two.txt", "two\n");
  const committing = t.commit({ message: "two", branch: "main" });
  // Staged while that commit waits: it stays staged for the next one, not dropped.
  t.write("c/three.txt", "three\n");
  gated.release();
  const [pushed, two] = await Promise.all([pushing, committing]);
  assertEquals(pushed.map((p) => p.oid), [one.oid], "the push reports what it published");
  assertEquals(two.parents, [one.oid]);
  assertEquals(t.unpushed(), [{ branch: "main", commits: [two.oid] }]);
  assertEquals(t.staged(), [{ path: "c/three.txt", action: "write" }]);
  assertEquals((await t.push()).map((p) => p.oid), [two.oid]);
  const three = await t.commit({ message: "three", branch: "main" });
  assertEquals((await t.push()).map((p) => p.oid), [three.oid]);
  const read = await mainAsRead(url);
  assertEquals(read.log, ["three", "two", "one", "seed"]);
  assert(read.files.includes("b/two.txt") && read.files.includes("c/three.txt"), `${read.files}`);
  await t.close();
  await mem.close();
});

Deno.test("shared trunk: close() while a read runs lets it end, never on a closed cache", async () => {
  const url = `memory://shared-${crypto.randomUUID()}/trunks/app.trunk`;
  const mem = await openStore(url);
  {
    await using t = await Trunk.open({ store: mem, create: true, writer: "lib" });
    t.write("README.md", "hello\n");
    await t.commit({ message: "seed", branch: "main" });
    await t.push();
  }
  const gated = new GatedStore(mem);
  const cacheDir = await Deno.makeTempDir();
  const t = await Trunk.open({ store: gated, cacheDir });
  gated.arm();
  const reading = t.readText("README.md").catch((e: Error) => e.message);
  await gated.reached;
  const closing = t.close();
  gated.release();
  await closing;
  assertEquals(await reading, "hello\n");
  await Deno.remove(cacheDir, { recursive: true });
  await mem.close();
});

Deno.test({
  name: "shared trunk: close() does not wait for a writeFile() whose source never ends",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const url = `memory://shared-${crypto.randomUUID()}/trunks/app.trunk`;
    const t = await Trunk.open({ url, create: true });
    // Past the large-blob threshold, then silence: spooled, never finished.
    const stalled = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(5 << 20));
      },
    });
    void t.writeFile("big.bin", stalled).catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      t.close().then(() => "closed"),
      new Promise((r) => timer = setTimeout(() => r("close() hung"), 2000)),
    ]);
    clearTimeout(timer);
    assertEquals(outcome, "closed");
  },
});

/**
 * A new trunk's HEAD (src/trunk/head.ts `initialHead`): main or master if pushed, else the
 * pusher's checked-out branch, else the first by name; on a trunk that already had branches
 * but no HEAD (its first push died before recording it), what clones of it show once this
 * push's entries are in, never a branch this push deletes. The question to git is only a
 * preference: its failure never fails a push, nor leaves an unhandled rejection. The cases
 * on a HEAD-less trunk, the failing question and the rejection are a hostile reviewer's.
 */
import { assertEquals } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { push, type PushSource } from "../../src/trunk/push.ts";
import { isDeleted } from "../../src/trunk/refs.ts";
import { Trunk } from "../../src/trunk/trunk.ts";

const A = "a".repeat(40);
const B = "b".repeat(40);

function source(tip: string, checkedOut: string | null): PushSource {
  return {
    keepsPushedObjects: false,
    resolve: () => Promise.resolve(tip),
    has: (oids) => Promise.resolve(new Set(oids.filter((o) => o === A || o === B))),
    isAncestor: (a, d) => Promise.resolve(a === A && d === B),
    localHead: () => Promise.resolve(checkedOut),
    pack: () => Promise.resolve({ segment: null, largeBlobs: [] }),
    readBlobs: async function* () {},
  };
}

Deno.test("a push that deletes the branch a HEAD-less trunk had does not record HEAD naming it", async () => {
  const store = new MemoryStore(`memory://head-del-${crypto.randomUUID()}`);
  const trunk = await Trunk.openOrCreate(store, new MemoryCache(), "test@head", "sha1");
  // A first push that moved main and died before HEAD (push:before-head).
  const r = await trunk.updateRef({ ref: "refs/heads/main", new: A, base: null, segments: [] });
  assertEquals(r.ok, true);
  // Then: main is renamed to trunk-main, from a checkout of trunk-main.
  const report = await push(trunk, source(B, "refs/heads/trunk-main"), [
    { src: "", dst: "refs/heads/main", force: false },
    { src: "trunk-main", dst: "refs/heads/trunk-main", force: false },
  ]);
  assertEquals(report.refs.map((o) => o.error), [undefined, undefined]);
  const fresh = await trunk.refState();
  const named = fresh.latest.get("HEAD")?.symref;
  const target = named ? fresh.latest.get(named) : undefined;
  assertEquals(
    !!target && !isDeleted(target),
    true,
    `HEAD names ${named}, which this very push deleted`,
  );
  assertEquals(named, "refs/heads/trunk-main");
});

Deno.test("a first push whose local HEAD question fails is not reported failed after its refs moved", async () => {
  const store = new MemoryStore(`memory://head-err-${crypto.randomUUID()}`);
  const trunk = await Trunk.openOrCreate(store, new MemoryCache(), "test@head", "sha1");
  const failing = source(A, null);
  // `git symbolic-ref` could not be run (EAGAIN, the sandbox out of processes).
  failing.localHead = () =>
    Promise.reject(new Error("spawn git: resource temporarily unavailable"));
  let thrown: unknown;
  try {
    await push(trunk, failing, [{ src: "main", dst: "refs/heads/main", force: false }]);
  } catch (e) {
    thrown = e;
  }
  const after = await trunk.refState();
  // Either the push is refused before any ref moves (its answer was in before the entries),
  // or it succeeds: never "failed" with main moved (git then keeps its tracking ref behind).
  assertEquals(
    thrown !== undefined && after.latest.has("refs/heads/main"),
    false,
    `push threw (${thrown}) after moving refs/heads/main`,
  );
});

Deno.test("a first push that fails before its HEAD step leaves no unhandled rejection of the HEAD question", async () => {
  const { FaultyStore } = await import("../faulty_store.ts");
  const inner = new MemoryStore(`memory://head-rej-${crypto.randomUUID()}`);
  const store = new FaultyStore(inner);
  const trunk = await Trunk.openOrCreate(store, new MemoryCache(), "test@head", "sha1");
  store.add({ ops: ["create"], key: /^refs\//, kind: "error" });
  const failing = source(A, null);
  failing.localHead = () => Promise.reject(new Error("no git"));
  let thrown = false;
  try {
    await push(trunk, failing, [{ src: "main", dst: "refs/heads/main", force: false }]);
  } catch {
    thrown = true;
  }
  assertEquals(thrown, true);
  // An unhandled rejection would fail this test when the event loop turns.
  await new Promise((r) => setTimeout(r, 20));
});

Deno.test("a first push of main and the branch checked out records main; without main or master, the branch checked out", async () => {
  for (
    const [pushed, want] of [
      [["feature", "main"], "refs/heads/main"],
      [["alpha", "feature"], "refs/heads/feature"],
      [["alpha", "beta"], "refs/heads/alpha"],
    ] as const
  ) {
    const store = new MemoryStore(`memory://head-first-${crypto.randomUUID()}`);
    const trunk = await Trunk.openOrCreate(store, new MemoryCache(), "test@head", "sha1");
    const report = await push(
      trunk,
      source(A, "refs/heads/feature"),
      pushed.map((b) => ({ src: b, dst: `refs/heads/${b}`, force: false })),
    );
    assertEquals(report.refs.filter((o) => o.error).length, 0);
    assertEquals((await trunk.refState()).latest.get("HEAD")?.symref, want, pushed.join(", "));
  }
});

/**
 * A new trunk's HEAD (src/trunk/head.ts `initialHead`): main or master if pushed, else the
 * pusher's checked-out branch, else the first by name; on a trunk that already had branches
 * but no HEAD (its first push died before recording it), what clones of it show once this
 * push's entries are in, never a branch this push deletes. The question to git is only a
 * preference: its failure never fails a push, nor leaves an unhandled rejection, and neither
 * does a store failing HEAD's own entry. Entries that moved on the primary only (a mirror
 * refused them) moved: HEAD is recorded there too, and the mirror gets it when caught up.
 * The cases on a HEAD-less trunk, the failing question, the rejection and the first push
 * moved on the primary only are a hostile reviewer's (its expectation there adapted to
 * main-first: it pushes no main).
 */
import { assertEquals, assertMatch } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { MirroredStore } from "../../src/trunk/mirrors.ts";
import { push, type PushSource } from "../../src/trunk/push.ts";
import { isDeleted } from "../../src/trunk/refs.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { FaultyStore } from "../faulty_store.ts";
import { refEntryKey } from "../keys.ts";

const A = "a".repeat(40);
const B = "b".repeat(40);

/** A trunk on a primary and one mirror, the mirror wrapped to refuse what a test says. */
async function mirroredTrunk() {
  const primary = new FaultyStore(new MemoryStore(`memory://head-p-${crypto.randomUUID()}`));
  const mirror = new FaultyStore(new MemoryStore(`memory://head-m-${crypto.randomUUID()}`));
  const set = new MirroredStore([
    { name: "primary", role: "primary", url: primary.location, store: primary },
    { name: "m", role: "mirror", url: mirror.location, store: mirror },
  ]);
  const trunk = await Trunk.openOrCreate(set, new MemoryCache(), "test@head", "sha1");
  const on = (s: FaultyStore) => new Trunk(s, trunk.meta, new MemoryCache(), "reader").refState();
  return { trunk, primary, mirror, onPrimary: () => on(primary), onMirror: () => on(mirror) };
}

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

Deno.test("a first push whose refs moved on the primary only (a mirror refused them) still records the pusher's HEAD there", async () => {
  const { trunk, mirror, onPrimary, onMirror } = await mirroredTrunk();
  // The mirror takes no ref entry (full, or its credentials expired mid-push).
  mirror.add({ ops: ["create"], key: /^refs\//, kind: "error" });
  const said: string[] = [];
  // Neither main nor master: the branch checked out is the pusher's choice, and the one a
  // HEAD-less trunk would not show (it falls back to the first by name, alpha).
  const report = await push(trunk, source(A, "refs/heads/feature"), [
    { src: "alpha", dst: "refs/heads/alpha", force: false },
    { src: "feature", dst: "refs/heads/feature", force: false },
  ], { say: (l) => said.push(l) });
  // Both moved on the primary (what a clone of the primary sees), each said to be behind.
  assertEquals(report.refs.every((o) => /moved on the primary only/.test(o.error ?? "")), true);
  const primary = await onPrimary();
  assertEquals(primary.latest.get("refs/heads/alpha")?.new, A);
  assertEquals(
    primary.latest.get("HEAD")?.symref,
    "refs/heads/feature",
    "no HEAD: clones show alpha, the next push from anywhere records it, the pusher's choice is lost",
  );
  // The push's state is the primary's, HEAD included.
  assertEquals(report.state.latest.get("HEAD"), primary.latest.get("HEAD"));
  assertEquals(
    report.state.latest.get("refs/heads/feature"),
    primary.latest.get("refs/heads/feature"),
  );
  // git has no line for HEAD: the notice names it, and the mirror it is missing from.
  assertEquals(
    said.some((l) =>
      /HEAD \(refs\/heads\/feature\) recorded on the primary, but mirror "m"/.test(l)
    ),
    true,
    said.join("\n"),
  );
  assertEquals((await onMirror()).latest.size, 0);

  // The mirror comes back: catching it up (the next push, trunks storage sync) copies HEAD.
  mirror.clear();
  const [caught] = await trunk.syncMirrors({ write: true });
  assertEquals(caught.state, "caught-up");
  assertEquals((await onMirror()).latest.get("HEAD")?.symref, "refs/heads/feature");
});

Deno.test("a HEAD-less trunk's push that moved on the primary only records the HEAD its clones show, never a branch it deleted there", async () => {
  const { trunk, mirror, onPrimary } = await mirroredTrunk();
  // A first push that moved main everywhere and died before HEAD (push:before-head).
  const r = await trunk.updateRef({ ref: "refs/heads/main", new: A, base: null, segments: [] });
  assertEquals(r.ok, true);
  mirror.add({ ops: ["create"], key: /^refs\//, kind: "error" });
  // main renamed to trunk-main; the mirror refuses both entries, the primary takes them.
  const report = await push(trunk, source(B, "refs/heads/trunk-main"), [
    { src: "", dst: "refs/heads/main", force: false },
    { src: "trunk-main", dst: "refs/heads/trunk-main", force: false },
  ]);
  assertEquals(report.refs.every((o) => /moved on the primary only/.test(o.error ?? "")), true);
  const primary = await onPrimary();
  assertEquals(isDeleted(primary.latest.get("refs/heads/main")!), true);
  assertEquals(primary.latest.get("HEAD")?.symref, "refs/heads/trunk-main");
});

Deno.test("a push whose one entry the primary failed and others moved on the primary only answers per ref, and records HEAD", async () => {
  const { trunk, primary, mirror, onPrimary } = await mirroredTrunk();
  mirror.add({ ops: ["create"], key: /^refs\//, kind: "error" });
  primary.add({ ops: ["create"], key: refEntryKey("refs/heads/beta", 1), kind: "error" });
  // Both creates start at once: alpha's lands on the primary before beta's failure is known.
  const report = await push(trunk, source(A, "refs/heads/beta"), [
    { src: "alpha", dst: "refs/heads/alpha", force: false },
    { src: "beta", dst: "refs/heads/beta", force: false },
  ]);
  const [alpha, beta] = report.refs;
  assertMatch(alpha.error ?? "", /moved on the primary only/);
  assertMatch(beta.error ?? "", /its entry was not written/);
  const fresh = await onPrimary();
  assertEquals(fresh.latest.get("refs/heads/alpha")?.new, A);
  assertEquals(fresh.latest.has("refs/heads/beta"), false);
  assertEquals(fresh.latest.get("HEAD")?.symref, "refs/heads/alpha");
});

Deno.test("a first push whose HEAD entry the store fails is not failed after its refs moved, and says so", async () => {
  const store = new FaultyStore(new MemoryStore(`memory://head-fail-${crypto.randomUUID()}`));
  const trunk = await Trunk.openOrCreate(store, new MemoryCache(), "test@head", "sha1");
  store.add({ ops: ["create"], key: refEntryKey("HEAD", 1), kind: "error" });
  const said: string[] = [];
  const report = await push(trunk, source(A, null), [
    { src: "main", dst: "refs/heads/main", force: false },
  ], { say: (l) => said.push(l) });
  assertEquals(report.refs.map((o) => o.error), [undefined]);
  assertEquals(
    said.some((l) => /^trunks: HEAD \(refs\/heads\/main\) was not recorded: /.test(l)),
    true,
    said.join("\n"),
  );
  const fresh = await trunk.refState();
  assertEquals(fresh.latest.get("refs/heads/main")?.new, A);
  assertEquals(fresh.latest.has("HEAD"), false);
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

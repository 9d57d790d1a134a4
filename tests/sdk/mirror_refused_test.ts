/**
 * The library's push on a trunk with a mirror that refuses ref entries after the primary
 * took them (full, credentials expired mid-push): the library has no notice channel of the
 * helper's (`say`), so what it cannot throw nobody hears. A mirror left behind is never
 * silent (DESIGN.md "Mirrors"), and the library's own entry is not another writer's.
 * A hostile reviewer's cases (of 60507dd, which made HEAD's refused entry a notice).
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ConflictError, StorageFailure, Trunk } from "../../mod.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { MirroredStore } from "../../src/trunk/mirrors.ts";
import { Trunk as CoreTrunk } from "../../src/trunk/trunk.ts";
import { FaultyStore } from "../faulty_store.ts";
import { refEntryKey } from "../keys.ts";

/** A library Trunk on a memory primary and one memory mirror the test can make refuse. */
async function mirrored() {
  const primary = new FaultyStore(new MemoryStore(`memory://sdk-mr-p-${crypto.randomUUID()}`));
  const mirror = new FaultyStore(new MemoryStore(`memory://sdk-mr-m-${crypto.randomUUID()}`));
  const set = new MirroredStore([
    { name: "primary", role: "primary", url: primary.location, store: primary },
    { name: "m", role: "mirror", url: mirror.location, store: mirror },
  ]);
  const t = await Trunk.open({ store: set, create: true, writer: "lib@test" });
  const on = async (s: FaultyStore) => {
    const core = await CoreTrunk.open(s, new MemoryCache(), "reader", { fromStore: true });
    return await core.refState();
  };
  return { t, set, mirror, onPrimary: () => on(primary), onMirror: () => on(mirror) };
}

/** What the library said while `fn` ran: its console.error lines and what it threw. */
async function heard(fn: () => Promise<unknown>): Promise<{ lines: string[]; thrown: unknown }> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  try {
    await fn();
    return { lines, thrown: undefined };
  } catch (e) {
    return { lines, thrown: e };
  } finally {
    console.error = original;
  }
}

Deno.test("sdk: a first push whose HEAD entry a mirror refused is not silent about the mirror left behind", async () => {
  const { t, mirror, onPrimary, onMirror } = await mirrored();
  await using _ = t;
  // The mirror takes the branch's entry and refuses HEAD's, after the primary took it.
  mirror.add({ ops: ["create"], key: refEntryKey("HEAD", 1), kind: "error" });
  t.write("a.txt", "a\n");
  await t.commit({ message: "one", branch: "main" });
  const { lines, thrown } = await heard(() => t.push());
  assertEquals((await onPrimary()).latest.get("HEAD")?.symref, "refs/heads/main");
  assertEquals((await onMirror()).latest.has("HEAD"), false, "the mirror is behind by HEAD");
  // Before 60507dd push() threw the mirror's failure; now the helper prints a notice, and
  // the library, which gives the engine no `say`, returns as if every storage had it all.
  const said = [...lines, thrown instanceof Error ? thrown.message : ""].join("\n");
  assertMatch(said, /mirror "?m\b/, "the library's caller is never told the mirror is behind");
});

Deno.test("sdk: a push whose entries a mirror refused does not blame another writer for the library's own entry", async () => {
  const { t, mirror, onPrimary } = await mirrored();
  await using _ = t;
  mirror.add({ ops: ["create"], key: /^refs\//, kind: "error" });
  t.write("a.txt", "a\n");
  const { oid } = await t.commit({ message: "one", branch: "main" });
  const { thrown } = await heard(() => t.push());
  // main moved on the primary, to this very commit, by this very writer.
  const main = (await onPrimary()).latest.get("refs/heads/main");
  assertEquals([main?.new, main?.writer], [oid, "lib@test"]);
  assert(thrown instanceof Error, "push() says the mirror is behind");
  assert(
    !(thrown instanceof ConflictError),
    `"another writer moved main first; pull() to rebase": the writer is the library itself: ${thrown.message}`,
  );
  assertMatch(thrown.message, /mirror "?m\b/);
  // Following the advice must not end in a conflict with itself either.
  mirror.clear();
  const pulled = await heard(() => t.pull());
  assertEquals(
    pulled.thrown,
    undefined,
    `pull() after it: ${(pulled.thrown as Error | undefined)?.message}`,
  );
});

Deno.test("sdk: a push a mirror refused is recorded as published, then throws the mirror's StorageFailure with what to do", async () => {
  const { t, mirror, onPrimary } = await mirrored();
  await using _ = t;
  mirror.add({ ops: ["create"], key: /^refs\//, kind: "error" });
  t.write("a.txt", "a\n");
  const { oid } = await t.commit({ message: "one", branch: "main" });
  const { thrown } = await heard(() => t.push());
  // The public type: callers of the library can tell a mirror's failure apart.
  assert(thrown instanceof StorageFailure, `${thrown}`);
  assertEquals([thrown.member.name, thrown.member.role], ["m", "mirror"]);
  assertMatch(thrown.message, /published on the primary.*trunks storage sync/);
  // Recorded as the primary holds it: nothing pending, the local view is the primary's.
  assertEquals(t.unpushed(), []);
  assertEquals((await t.refs()).map((r) => [r.name, r.oid]), [["refs/heads/main", oid]]);
  assertEquals(await t.head(), "main");
  assertEquals((await onPrimary()).latest.get("HEAD")?.symref, "refs/heads/main");
  assertEquals(await t.readText("a.txt"), "a\n");
  // Nothing is left to push: the mirror is caught up by trunks storage sync, not push().
  mirror.clear();
  assertEquals(await t.push(), []);
});

Deno.test("sdk: a push that lost a race on one branch and moved another on the primary only says both", async () => {
  const { t, set, mirror } = await mirrored();
  await using _ = t;
  t.write("a.txt", "a\n");
  await t.commit({ message: "one", branch: "main" });
  await t.push();
  // Another writer moves main on the same storages.
  await using other = await Trunk.open({ store: set, writer: "other@test" });
  other.write("b.txt", "b\n");
  await other.commit({ message: "theirs", branch: "main" });
  await other.push();
  t.write("c.txt", "c\n");
  await t.commit({ message: "mine", branch: "main" });
  t.write("d.txt", "d\n");
  await t.commit({ message: "new", branch: "side" });
  mirror.add({ ops: ["create"], key: refEntryKey("refs/heads/side", 1), kind: "error" });
  const { thrown } = await heard(() => t.push());
  assert(thrown instanceof ConflictError, `${thrown}`);
  assertEquals(thrown.branches, ["main"]);
  assertMatch(
    thrown.message,
    /another writer moved main .*; and push\(\) published on the primary, but mirror "m"/,
  );
  assertEquals(t.unpushed().map((u) => u.branch), ["main"]);
});

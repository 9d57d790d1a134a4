/**
 * The Store contract suite (after restic's backend tests and rclone's fstests, OpenDAL's
 * capability checks): every backend runs exactly these checks against a real server. A
 * backend file in this folder calls `storeContract` with `fresh`, which picks a new,
 * empty location and returns an opener for it; each call of the opener is a separate
 * Store instance (its own connections) on that same location.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { probeExclusiveCreate } from "../../src/storage/probe.ts";
import {
  createStamped,
  getBytes,
  stampOf,
  type Store,
  StoreError,
} from "../../src/storage/store.ts";

/** Opens one more Store instance on the location picked by `fresh`. */
export type Opener = () => Promise<Store>;

export interface ContractOptions {
  /** Keys written by the pagination check; keep above the backend's page size. */
  manyKeys?: number;
  /** Size of the streamed object; above the backend's multipart threshold. */
  bigObject?: number;
  /** Racers in the create-exclusive check. */
  racers?: number;
  /**
   * The backend reports a created object's stamp (`createStamped`); false only where its
   * answer to a create cannot tell (then none may be reported).
   */
  stampsCreates?: boolean;
}

const enc = new TextEncoder();

function pseudoRandom(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function streamOf(data: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= data.byteLength) return c.close();
      c.enqueue(data.slice(at, at + piece));
      at += piece;
    },
  });
}

async function sha256(data: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `piece`-sized chunks of `data`, then an error instead of the end. */
function failingStream(data: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= data.byteLength) return c.error(new Error("the source failed midway"));
      c.enqueue(data.slice(at, at + piece));
      at += piece;
    },
  });
}

export function storeContract(
  name: string,
  fresh: () => Opener,
  opts: ContractOptions = {},
  testOpts: { ignore?: boolean } = {},
): void {
  const manyKeys = opts.manyKeys ?? 1050;
  const bigObject = opts.bigObject ?? 12 * 1024 * 1024 + 12345;
  const racers = opts.racers ?? 16;
  const stampsCreates = opts.stampsCreates ?? true;

  Deno.test({
    name: `store contract: ${name}`,
    ignore: testOpts.ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const open = fresh();
      const store = await open();
      try {
        await t.step("capabilities are what the store does", async () => {
          const c = store.capabilities;
          assert(c.parallelism >= 1 && Number.isInteger(c.parallelism), `${c.parallelism}`);
          // A push's ref entries go this many at once: more than reads pay, never fewer.
          const creates = c.createParallelism ?? c.parallelism;
          assert(Number.isInteger(creates) && creates >= c.parallelism, `creates ${creates}`);
          assert(c.maxObjectSize > bigObject, `maxObjectSize ${c.maxObjectSize}`);
          // Every contract server is a real one: create-exclusive is claimed and holds.
          assertEquals(c.atomicCreate, true);
          assertEquals(await probeExclusiveCreate(store), "verified");
          assertEquals((await store.list("probe/")).length, 0, "the probe cleans up");
        });

        await t.step("a put larger than maxObjectSize is refused, nothing written", async () => {
          const small = await open();
          try {
            small.capabilities.maxObjectSize = 1000;
            for (const data of [pseudoRandom(1001, 3), streamOf(pseudoRandom(5000, 3), 700)]) {
              const e = await assertRejects(() => small.put("limit/obj", data), StoreError);
              assertEquals((e as StoreError).code, "unsupported");
              assert(e.message.includes("limit/obj") && e.message.includes("1000"), e.message);
            }
            await assertRejects(() => small.create("limit/c", pseudoRandom(1001, 4)), StoreError);
            assertEquals((await store.list("limit/")).length, 0);
            await small.put("limit/ok", pseudoRandom(1000, 5));
            assertEquals((await getBytes(store, "limit/ok"))?.byteLength, 1000);
          } finally {
            await small.close();
          }
        });

        await t.step("get of a missing key is null", async () => {
          assertEquals(await store.get("segments/none.pack"), null);
          assertEquals(await getBytes(store, "a/b/c"), null);
        });

        await t.step("put then get returns the same bytes; put is idempotent", async () => {
          const data = enc.encode("hello trunk");
          await store.put("segments/abc.pack", data);
          await store.put("segments/abc.pack", data);
          assertEquals(await getBytes(store, "segments/abc.pack"), data);
        });

        await t.step("empty object", async () => {
          await store.put("empty/obj", new Uint8Array());
          assertEquals((await getBytes(store, "empty/obj"))?.byteLength, 0);
          assert(await store.create("empty/created", new Uint8Array()));
          assertEquals((await getBytes(store, "empty/created"))?.byteLength, 0);
        });

        await t.step("range reads", async () => {
          const data = pseudoRandom(100_000, 7);
          await store.put("ranges/obj", data);
          assertEquals(
            await getBytes(store, "ranges/obj", { offset: 10, length: 20 }),
            data.slice(10, 30),
          );
          assertEquals(await getBytes(store, "ranges/obj", { offset: 99_990 }), data.slice(99_990));
          assertEquals(
            await getBytes(store, "ranges/obj", { offset: 0, length: 1 }),
            data.slice(0, 1),
          );
        });

        await t.step("a streamed put of a large object round-trips", async () => {
          const data = pseudoRandom(bigObject, 42);
          await store.put("big/object", streamOf(data, 1 << 20));
          const back = await getBytes(store, "big/object");
          assertEquals(back?.byteLength, data.byteLength);
          assertEquals(await sha256(back!), await sha256(data));
          const entries = await store.list("big/");
          assertEquals(entries.map((e) => [e.key, e.size]), [["big/object", data.byteLength]]);
        });

        await t.step("create is exclusive and never overwrites", async () => {
          assertEquals(await store.create("refs/r/000000000001", enc.encode("first")), true);
          assertEquals(await store.create("refs/r/000000000001", enc.encode("second")), false);
          assertEquals(
            new TextDecoder().decode((await getBytes(store, "refs/r/000000000001"))!),
            "first",
          );
        });

        await t.step(
          "format 2's flat entry keys: `~` created exclusively, listed in order",
          async () => {
            // refs/<enc>~<seq> (src/trunk/layout.ts): every backend must take `~` in a key and
            // list one ref's entries together, in seq order, before `refs/~snapshot/`.
            const keys = ["flat/a-b~000000000001", "flat/a~000000000001", "flat/a~000000000002"];
            for (const k of [...keys].reverse()) {
              assertEquals(await store.create(k, enc.encode(k)), true, k);
              assertEquals(await store.create(k, enc.encode("again")), false, k);
            }
            await store.put("flat/~snapshot/0000000000000001", enc.encode("s"));
            assertEquals(
              (await store.list("flat/")).map((e) => e.key),
              [...keys, "flat/~snapshot/0000000000000001"],
            );
            assertEquals(new TextDecoder().decode((await getBytes(store, keys[1]))!), keys[1]);
          },
        );

        await t.step("a created key's reported stamp is the one list shows", async () => {
          const keys = ["stamped/a", "stamped/b", "stamped/c/000000000001"];
          const made = new Map<string, string | null>();
          for (const k of keys) {
            const stamp = await createStamped(store, k, enc.encode(`created ${k}`));
            assert(stamp, `${k} was not created`);
            made.set(k, stampOf(stamp));
          }
          assertEquals(await createStamped(store, "stamped/a", enc.encode("again")), null);
          const listed = await store.list("stamped/");
          assertEquals(listed.map((e) => e.key), keys);
          for (const e of listed) {
            if (stampsCreates) assertEquals(made.get(e.key), stampOf(e), e.key);
            else assertEquals(made.get(e.key), null, `${e.key}: a stamp the backend cannot know`);
          }
        });

        await t.step(`${racers} racers creating one key: exactly one wins`, async () => {
          for (let round = 0; round < 3; round++) {
            const key = `race/${round}`;
            const results = await Promise.all(
              Array.from(
                { length: racers },
                (_, i) => store.create(key, enc.encode(`writer-${i}`)),
              ),
            );
            const winners = results.flatMap((ok, i) => ok ? [i] : []);
            assertEquals(winners.length, 1, `round ${round}: winners ${winners}`);
            const stored = new TextDecoder().decode((await getBytes(store, key))!);
            assertEquals(stored, `writer-${winners[0]}`);
          }
        });

        await t.step(
          "two Store instances racing one create, identical bytes: one wins",
          async () => {
            const other = await open();
            try {
              for (let round = 0; round < 3; round++) {
                const key = `twin/${round}`;
                const same = enc.encode(`same bytes ${round}`);
                const results = await Promise.all(
                  Array.from(
                    { length: racers },
                    (_, i) => (i % 2 ? other : store).create(key, same),
                  ),
                );
                assertEquals(results.filter(Boolean).length, 1, `round ${round}: ${results}`);
                assertEquals(await getBytes(other, key), same);
              }
            } finally {
              await other.close();
            }
          },
        );

        await t.step(
          "a streamed put whose source fails midway leaves nothing visible",
          async () => {
            const data = pseudoRandom(Math.ceil(bigObject * 0.6), 9);
            await assertRejects(() => store.put("aborted/new", failingStream(data, 1 << 20)));
            assertEquals(await store.get("aborted/new"), null);
            const old = enc.encode("the earlier value");
            await store.put("aborted/kept", old);
            await assertRejects(() => store.put("aborted/kept", failingStream(data, 1 << 20)));
            assertEquals(await getBytes(store, "aborted/kept"), old);
            assertEquals((await store.list("aborted/")).map((e) => e.key), ["aborted/kept"]);
          },
        );

        await t.step("list: prefix, byte order, sizes, times, startAfter", async () => {
          const keys = [
            "l/a",
            "l/a=2f",
            "l/aa",
            "l/b/c",
            "l/B",
            "l/a-x",
            "l/a.y",
            "l/a_z",
            "lx/no",
          ];
          const before = Date.now() - 120_000;
          for (const k of keys) await store.put(k, enc.encode(k));
          const listed = await store.list("l/");
          const expected = keys.filter((k) => k.startsWith("l/")).sort((a, b) =>
            a < b ? -1 : a > b ? 1 : 0
          );
          assertEquals(listed.map((e) => e.key), expected);
          for (const e of listed) {
            assertEquals(e.size, enc.encode(e.key).byteLength, e.key);
            assert(e.modified.getTime() > before, `${e.key} modified ${e.modified.toISOString()}`);
          }
          assertEquals(
            (await store.list("l/a")).map((e) => e.key),
            expected.filter((k) => k.startsWith("l/a")),
          );
          assertEquals(
            (await store.list("l/", "l/a=2f")).map((e) => e.key),
            expected.filter((k) => k > "l/a=2f"),
          );
          assertEquals((await store.list("nothing/here/")).length, 0);
        });

        await t.step(
          "list with details asked for some keys: every key, those keys' details",
          async () => {
            const keys = ["d/a.idx", "d/a.pack", "d/b/c.idx", "d/b/c.pack", "d/z"];
            const before = Date.now() - 120_000;
            for (const k of keys) await store.put(k, enc.encode(k));
            const asked: string[][] = [];
            const listed = await store.list("d/", undefined, {
              details: (
                all,
              ) => (asked.push([...all]), new Set(all.filter((k) => !k.endsWith(".idx")))),
            });
            assertEquals(listed.map((e) => e.key), keys);
            for (const e of listed.filter((e) => !e.key.endsWith(".idx"))) {
              assertEquals(e.size, enc.encode(e.key).byteLength, e.key);
              assert(
                e.modified.getTime() > before,
                `${e.key} modified ${e.modified.toISOString()}`,
              );
            }
            // Asked with every listed key, in order; a store that gives every key's details
            // anyway need not ask.
            for (const all of asked) assertEquals(all, keys);
            assertEquals(
              (await store.list("d/", "d/a.pack", { details: () => new Set() })).map((e) => e.key),
              keys.slice(2),
            );
            // A test of a key instead of a set: the same listing.
            const byRule = await store.list("d/", undefined, {
              details: () => ({ has: (k: string) => !k.endsWith(".idx") }),
            });
            assertEquals(byRule.map((e) => e.key), keys);
            for (const e of byRule.filter((e) => !e.key.endsWith(".idx"))) {
              assertEquals(e.size, enc.encode(e.key).byteLength, e.key);
            }
          },
        );

        await t.step(`list of ${manyKeys} keys is complete (pagination)`, async () => {
          const keys = Array.from(
            { length: manyKeys },
            (_, i) => `many/${String(i).padStart(6, "0")}`,
          );
          const width = store.capabilities.parallelism * 4;
          for (let i = 0; i < keys.length; i += width) {
            await Promise.all(keys.slice(i, i + width).map((k) => store.put(k, enc.encode("x"))));
          }
          const listed = await store.list("many/");
          assertEquals(listed.length, manyKeys);
          assertEquals(listed.map((e) => e.key), keys);
          const after = await store.list("many/", keys[manyKeys - 3]);
          assertEquals(after.map((e) => e.key), keys.slice(manyKeys - 2));
        });

        await t.step("delete removes; deleting a missing key is fine", async () => {
          await store.put("del/x", enc.encode("x"));
          await store.delete("del/x");
          assertEquals(await store.get("del/x"), null);
          await store.delete("del/x");
          assertEquals((await store.list("del/")).length, 0);
        });

        await t.step("invalid keys are refused before any I/O", async () => {
          for (const bad of ["", "/abs", "a//b", "../x", "a/../b", "a b", "a\0b", "a%2F"]) {
            await assertRejects(() => store.put(bad, enc.encode("x")), Error, undefined, bad);
          }
        });
      } finally {
        await store.close();
      }
    },
  });
}

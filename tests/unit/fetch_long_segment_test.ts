/**
 * A segment downloaded to a file is cut off at its listed size: a hostile or broken store
 * answering a segment's GET with an endless body filled the disk before the SHA-256 check
 * failed at its end. The download stops at the first piece past the listed size, the
 * segment reported corrupt by key as a hash mismatch is (a mirror set reads past it and
 * repairs it), and nothing of it is left on disk.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { getBytes, type Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { TrunkError } from "../../src/trunk/errors.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { fetchSegments } from "../../src/trunk/fetch.ts";
import {
  countingSink,
  handingOn,
  onBothPaths,
  pushSegments,
  randomBytes,
} from "../fetch_fixture.ts";
import { listSegments } from "../../src/trunk/segments.ts";
import { segmentPackKey } from "../../src/trunk/layout.ts";
import { MirroredStore } from "../../src/trunk/mirrors.ts";
import { downloadSegmentVerified } from "../../src/trunk/segment_copies.ts";

const PIECE = 64 << 10;
/** Where the "endless" body gives up, so that a client that does not stop fails, not hangs. */
const GIVE_UP = 64 << 20;

async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Zeros in pieces of PIECE, counted in `sent`, until GIVE_UP; a piece made only when asked
 * for (no queue read ahead), so `sent` is what the reader took.
 */
function endless(sent: { bytes: number }): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(c) {
      if (sent.bytes >= GIVE_UP) {
        c.error(new Error("the test's endless body gave up"));
        return;
      }
      sent.bytes += PIECE;
      c.enqueue(new Uint8Array(PIECE));
    },
  }, { highWaterMark: 0 });
}

/**
 * `inner`, listing every size (as S3 does: no `details` handed on) and answering `bad`'s
 * pack with an endless body; no `copyToFile`, so every pack comes through `get`.
 */
function answeringEndlessly(inner: Store, bad: string, sent: { bytes: number }): Store {
  return handingOn(inner, {
    get: async (key, range) => key === bad ? endless(sent) : await inner.get(key, range),
    list: (prefix, startAfter) => inner.list(prefix, startAfter),
  });
}

onBothPaths(
  `a segment answered with an endless body is cut off at its listed size`,
  async (joins, url, root) => {
    // Past what a join downloads into memory (256 KiB): to a file.
    await pushSegments(url, 3, (i) => [`f${i}.bin`, randomBytes(300_000)]);
    const inner = await openStore(url);
    const segments = await listSegments(inner);
    const bad = segments[1];
    const key = segmentPackKey(bad.id);
    const sent = { bytes: 0 };
    const store = answeringEndlessly(inner, key, sent);
    const trunk = await Trunk.open(store, new MemoryCache(), "reader");
    const dir = await Deno.makeTempDir({ dir: root });
    const e = await assertRejects(
      () => fetchSegments(trunk, countingSink(dir, joins)),
      TrunkError,
    );
    assertEquals((e as TrunkError).code, "corrupt", e.message);
    assertMatch(e.message, new RegExp(`segment ${key} .* more than the ${bad.packSize} bytes`));
    assert(
      sent.bytes <= bad.packSize + PIECE,
      `${sent.bytes} bytes read of a segment listed at ${bad.packSize}`,
    );
    const left = [...Deno.readDirSync(dir)].map((f) => f.name);
    assertEquals(left, [], "downloads left behind");
  },
);

/** A segment's pack of random bytes, its id and its key. */
async function aPack() {
  const pack = randomBytes(200_000);
  const id = await sha256Hex(pack);
  return { pack, id, key: segmentPackKey(id) };
}

/** The segment downloaded from `set` into a temp file (removed after), held to `listed`. */
async function downloadFrom(set: MirroredStore, id: string, listed: number): Promise<number> {
  const dir = await Deno.makeTempDir();
  try {
    return await downloadSegmentVerified(set, id, `${dir}/x.pack`, undefined, undefined, listed);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a mirror set reads past a copy answered endlessly and repairs it", async () => {
  const { pack, id, key } = await aPack();
  const p = new MemoryStore("memory://p");
  const m = new MemoryStore("memory://m");
  await p.put(key, new Uint8Array(pack.byteLength)); // the listing's size, the wrong bytes
  await m.put(key, pack);
  const sent = { bytes: 0 };
  const notes: string[] = [];
  const set = new MirroredStore([
    {
      name: "primary",
      role: "primary",
      url: "memory://p",
      store: answeringEndlessly(p, key, sent),
    },
    { name: "m", role: "mirror", url: "memory://m", store: m },
  ], { notice: (n) => notes.push(n) });
  assertEquals(await downloadFrom(set, id, 200_000), pack.byteLength);
  assert(sent.bytes <= pack.byteLength + PIECE, `${sent.bytes} bytes read of the primary's`);
  assertEquals(await getBytes(p, key), pack, "the primary's copy repaired");
  assertMatch(notes[0], new RegExp(`segment ${key} .* more than .*repaired the copy on primary`));
});

Deno.test("a mirror read past the reader is held to its own listing of the pack", async () => {
  const { pack, id, key } = await aPack();
  const p = new MemoryStore("memory://p");
  const a = new MemoryStore("memory://a");
  const b = new MemoryStore("memory://b");
  // The reader's copy is damaged (its listing says as much as the good copy's); mirror a
  // lists the pack's size and answers endlessly; mirror b is good.
  await p.put(key, new Uint8Array(pack.byteLength));
  await a.put(key, pack);
  await b.put(key, pack);
  const sent = { bytes: 0 };
  const notes: string[] = [];
  const set = new MirroredStore([
    { name: "primary", role: "primary", url: "memory://p", store: p },
    { name: "a", role: "mirror", url: "memory://a", store: answeringEndlessly(a, key, sent) },
    { name: "b", role: "mirror", url: "memory://b", store: b },
  ], { notice: (n) => notes.push(n) });
  assertEquals(await downloadFrom(set, id, pack.byteLength), pack.byteLength);
  assert(sent.bytes <= pack.byteLength + PIECE, `${sent.bytes} bytes read of mirror a's`);
  assert(
    notes.some((n) => /more than .*repaired the copy on mirror "a"/.test(n)),
    notes.join("\n"),
  );
});

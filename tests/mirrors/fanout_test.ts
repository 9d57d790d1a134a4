/**
 * One stream written to several storages (src/trunk/mirrors.ts `fanOut`): every copy
 * gets the same bytes, a stalled writer holds the others back instead of making them
 * buffer (memory stays at a piece or two, not the whole stream), and a writer that
 * fails without reading drops out so the rest finish.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { getBytes, type Store } from "../../src/storage/store.ts";
import { fanOut, type Member, MirroredStore } from "../../src/trunk/mirrors.ts";

const PIECE = 1 << 20;

/** `count` pieces of 1 MiB; `produced()` says how many the source has handed out. */
function source(count: number) {
  let produced = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (produced === count) return ctl.close();
      ctl.enqueue(new Uint8Array(PIECE).fill(produced++ & 0xff));
    },
  }, { highWaterMark: 0 });
  return { stream, produced: () => produced };
}

async function drain(s: ReadableStream<Uint8Array>, limit = Infinity): Promise<number[]> {
  const firsts: number[] = [];
  const r = s.getReader();
  while (firsts.length < limit) {
    const { done, value } = await r.read();
    if (done) break;
    firsts.push(value[0]);
  }
  r.releaseLock();
  return firsts;
}

Deno.test("fan-out: every copy gets the same pieces in order", async () => {
  const src = source(20);
  const { copies } = fanOut(src.stream, 3);
  const got = await Promise.all(copies.map((c) => drain(c as ReadableStream<Uint8Array>)));
  const want = Array.from({ length: 20 }, (_, i) => i);
  for (const g of got) assertEquals(g, want);
});

Deno.test("fan-out: a stalled copy holds the others back instead of buffering the stream", async () => {
  const src = source(256); // 256 MiB if it were buffered
  const { copies, drop } = fanOut(src.stream, 2);
  const [fast, slow] = copies as ReadableStream<Uint8Array>[];
  const fastDone = drain(fast);
  assertEquals(await drain(slow, 2), [0, 1]); // then it stops reading
  await new Promise((r) => setTimeout(r, 300));
  assert(src.produced() <= 3, `${src.produced()} MiB read from the source`);
  // The stalled writer gives up (its store timed out): the other one finishes.
  drop(1);
  assertEquals((await fastDone).length, 256);
});

/** A storage whose put fails at once, never reading the stream (a refused connection). */
function refusing(): Store {
  const s = new MemoryStore("memory://refusing");
  return Object.assign(Object.create(s), {
    put: () => Promise.reject(new Error("connection refused")),
  });
}

Deno.test("mirrored put of a stream: a mirror failing without reading does not hang the rest", async () => {
  const primary: Member = {
    name: "primary",
    role: "primary",
    url: "memory://p",
    store: new MemoryStore(`memory://p-${crypto.randomUUID()}`),
  };
  const down: Member = { name: "down", role: "mirror", url: "memory://d", store: refusing() };
  const src = source(8);
  await assertRejects(
    () => new MirroredStore([primary, down]).put("segments/x.pack", src.stream),
    Error,
    "connection refused",
  );
  assertEquals((await getBytes(primary.store, "segments/x.pack"))?.byteLength, 8 * PIECE);
});

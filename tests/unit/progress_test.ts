/**
 * The progress renderer (src/trunk/progress.ts) on a fake clock: how often it redraws,
 * the units, the percentage, the rate, and the final line; and the counting of bytes as
 * they flow to and from a store (src/storage/flow.ts, segments.ts).
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  failingTransfers,
  formatBytes,
  ProgressMeter,
  type TransferProgress,
} from "../../src/trunk/progress.ts";
import { StderrLine } from "../../src/trunk/stderr_line.ts";
import { wroteSegmentLine } from "../../src/trunk/push.ts";
import { countedPut, countingStream } from "../../src/storage/flow.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { downloadSegmentPack, uploadSegment } from "../../src/trunk/segments.ts";
import { uploadSegmentEverywhere } from "../../src/trunk/segment_copies.ts";
import { MirroredStore } from "../../src/trunk/mirrors.ts";

const MiB = 1024 * 1024;

function fake() {
  let t = 0;
  const out: string[] = [];
  const meter = new ProgressMeter((s) => out.push(s), { now: () => t });
  return {
    out,
    update: meter.update,
    advance: (ms: number) => (t += ms),
  };
}

function upload(bytes: number, total: number, done = false): TransferProgress {
  return { kind: "segment-upload", bytes, total, items: done ? 1 : 0, itemsTotal: 1, done };
}

Deno.test("formatBytes: bytes, KiB, MiB, GiB with two decimals, as git prints them", () => {
  assertEquals(formatBytes(0), "0 bytes");
  assertEquals(formatBytes(1023), "1023 bytes");
  assertEquals(formatBytes(1536), "1.50 KiB");
  assertEquals(formatBytes(12 * MiB), "12.00 MiB");
  assertEquals(formatBytes(3 * 1024 * MiB + 512 * MiB), "3.50 GiB");
});

Deno.test("progress: redraws in place at most every 250 ms, whatever the number of pieces", () => {
  const f = fake();
  const total = 100 * MiB;
  // 1000 pieces of 100 KiB, one every 5 ms: 5 seconds in all.
  for (let i = 0; i <= 1000; i++) {
    f.update(upload(i * 100 * 1024, total));
    f.advance(5);
  }
  const redraws = f.out.filter((l) => l.endsWith("\r"));
  // The first report draws at once, then one per 250 ms: 5000 / 250 = 20 more.
  assertEquals(redraws.length, 21, redraws.join("\n"));
  assert(f.out.every((l) => !l.endsWith("\n")), "no final line before done");
  // Percentages climb, in git's padded form, with bytes of the total.
  assertEquals(
    redraws[0].trimEnd(),
    "Uploading segment:   0% (0/1), 0 bytes of 100.00 MiB | 0 bytes/s",
  );
  assertMatch(redraws[10], /^Uploading segment: {2}48% \(0\/1\), 48\.83 MiB of 100\.00 MiB \| /);
});

Deno.test("progress: the rate is bytes per second over the last seconds, in the same units", () => {
  const f = fake();
  const total = 100 * MiB;
  // 2 MiB/s for 3 s, then 10 MiB/s for 3 s: the rate shown follows the change.
  let bytes = 0;
  for (let ms = 0; ms <= 6000; ms += 50) {
    f.update(upload(bytes, total));
    bytes += ms < 3000 ? 0.1 * MiB : 0.5 * MiB;
    f.advance(50);
  }
  const at = (line: string) => /\| ([\d.]+) MiB\/s/.exec(line)?.[1];
  const lines = f.out.filter((l) => l.includes("MiB/s"));
  assertEquals(at(lines[8]), "2.00");
  assertEquals(at(lines[lines.length - 1]), "10.00");
});

Deno.test("progress: a final line once done, with the average rate, and a padded redraw", () => {
  const f = fake();
  f.update(upload(0, 10 * MiB));
  f.advance(1000);
  f.update(upload(5 * MiB, 10 * MiB));
  f.advance(1000);
  f.update(upload(10 * MiB, 10 * MiB, true));
  assertEquals(f.out.length, 3);
  assertEquals(f.out[1], "Uploading segment:  50% (0/1), 5.00 MiB of 10.00 MiB | 5.00 MiB/s\r");
  // Shorter than the line it replaces: padded with spaces so nothing of it is left.
  const last = f.out[2];
  assertEquals(last.trimEnd(), "Uploading segment: 100% (1/1), 10.00 MiB | 5.00 MiB/s, done.");
  assert(last.endsWith("\n"));
  assert(last.length - 1 >= f.out[1].length - 1, "padded over the previous line");
  // Done always draws, however soon after the last redraw; a new transfer starts afresh.
  f.update(upload(0, 1024));
  f.update(upload(1024, 1024, true));
  assertEquals(f.out.length, 5);
  assertMatch(
    f.out[4],
    /^Uploading segment: 100% \(1\/1\), 1\.00 KiB \| [\d.]+ (KiB|MiB)\/s, done\./,
  );
});

Deno.test("stderr line: a message while a progress line shows starts on a line of its own", () => {
  let t = 0;
  const out: string[] = [];
  const line = new StderrLine((s) => out.push(s));
  const meter = new ProgressMeter(line.progress, { now: () => t });
  meter.update({
    kind: "segment-download",
    bytes: 0,
    total: 179,
    items: 0,
    itemsTotal: 1,
    done: false,
  });
  assert(line.open);
  line.message("fatal: trunks: bad");
  const text = out.join("");
  assertEquals(text.slice(text.lastIndexOf("\r")), "\r\nfatal: trunks: bad\n");
  assert(!line.open);
  // No progress showing: a message is written as it is, no blank line before it.
  line.message("trunks: next\n");
  assertEquals(out[out.length - 1], "trunks: next\n");
  assertEquals(out.filter((s) => s === "\n").length, 1, JSON.stringify(out));
  // A progress line ended by its own final line needs nothing more.
  t += 1000;
  meter.update(upload(0, 10));
  meter.update(upload(10, 10, true));
  assert(!line.open);
  line.message("trunks: after");
  assertMatch(out[out.length - 2], /, done\. *\n$/);
  assertEquals(out[out.length - 1], "trunks: after\n");
});

Deno.test("progress: bytes taken back never show a negative rate or percentage", () => {
  const f = fake();
  f.update(upload(0, 1000));
  f.advance(1000);
  f.update(upload(900, 1000));
  f.advance(1000);
  // The failed attempt's 900 bytes are taken back, and a bit more by a racing counter.
  f.update(upload(-50, 1000));
  f.advance(1000);
  f.update(upload(100, 1000));
  const text = f.out.join("");
  assert(!text.includes("-"), JSON.stringify(f.out));
  assertEquals(
    f.out[2].trimEnd(),
    "Uploading segment:   0% (0/1), 0 bytes of 1000 bytes | 0 bytes/s",
  );
  // The rate starts over from the drop: 150 bytes in the second since.
  assertEquals(
    f.out[3].trimEnd(),
    "Uploading segment:  10% (0/1), 100 bytes of 1000 bytes | 150 bytes/s",
  );
});

Deno.test("progress: a failed transfer ends its line and a retry starts afresh", async () => {
  const f = fake();
  const boom = new Error("boom");
  const failed = await failingTransfers(f.update, async (p) => {
    p!(upload(0, 1000));
    f.advance(10_000);
    p!(upload(500, 1000));
    await Promise.resolve();
    throw boom;
  }).catch((e) => e);
  assertEquals(failed, boom);
  // The line as it last stood, then ended.
  assertEquals(f.out[f.out.length - 1], "\n");
  // The retry's rate is its own: 1000 bytes in 1 s, not over the failed attempt's 11 s.
  await failingTransfers(f.update, (p) => {
    p!(upload(0, 1000));
    f.advance(1000);
    p!(upload(1000, 1000, true));
    return Promise.resolve();
  });
  assertEquals(
    f.out[f.out.length - 1].trimEnd(),
    "Uploading segment: 100% (1/1), 1000 bytes | 1000 bytes/s, done.",
  );
  // Nothing unfinished: a success adds no failed report.
  assert(f.out[f.out.length - 1].endsWith("\n"));
});

Deno.test("push summary: the segment's size is what was stored, as its progress line counts", async () => {
  const pack = new Uint8Array(186);
  const idx = new Uint8Array(1156);
  const own = { id: "ab".repeat(20), pack, idx, objects: 3, bytes: pack.byteLength };
  assertEquals(
    await wroteSegmentLine(own),
    "trunks: wrote segment abababababab (3 objects, 1.31 KiB)",
  );
  // The same size the "Uploading segment" line ends with.
  const f = fake();
  f.update(upload(pack.byteLength + idx.byteLength, pack.byteLength + idx.byteLength, true));
  assertMatch(f.out[0], /^Uploading segment: 100% \(1\/1\), 1\.31 KiB \|/);
});

Deno.test("progress: kinds keep their own lines; an unknown total shows no percentage", () => {
  const f = fake();
  const p = (bytes: number, done = false): TransferProgress => ({
    kind: "blob-download",
    bytes,
    total: 0,
    items: 0,
    itemsTotal: 2,
    done,
  });
  f.update(p(0));
  f.advance(300);
  f.update(p(3 * MiB));
  assertEquals(f.out[1], "Downloading large blobs: (0/2), 3.00 MiB | 10.00 MiB/s\r");
  f.advance(300);
  f.update(p(6 * MiB, true));
  assertMatch(
    f.out[2],
    /^Downloading large blobs: 100% \(0\/2\), 6\.00 MiB \| 10\.00 MiB\/s, done\.\n$/,
  );
});

Deno.test("counting: a streamed put is counted piece by piece as the store reads it", async () => {
  const store = new MemoryStore("memory://t");
  const pieces = [new Uint8Array(1000), new Uint8Array(2000), new Uint8Array(500)];
  const seen: number[] = [];
  await countedPut(store, "k", ReadableStream.from(pieces), (n) => seen.push(n));
  assertEquals(seen, [1000, 2000, 500]);
  // Whole bytes count once, when stored.
  await countedPut(store, "b", new Uint8Array(42), (n) => seen.push(n));
  assertEquals(seen.at(-1), 42);
  // Nothing is read ahead of the reader: each piece is pulled when asked for.
  let pulled = 0;
  const src = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(new Uint8Array(10));
    },
  }, { highWaterMark: 0 });
  const r = countingStream(src, () => {}).getReader();
  await r.read();
  await new Promise((res) => setTimeout(res, 10));
  assertEquals(pulled, 1);
  await r.cancel();
});

Deno.test("counting: segment uploads and downloads report every piece; mirrors count once", async () => {
  const pack = new Uint8Array(300_000).map((_, i) => i % 251);
  const id = Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", pack)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/p.pack`, pack);
  await Deno.writeFile(`${dir}/p.idx`, new Uint8Array(100));

  const one = new MemoryStore("memory://t");
  const up: number[] = [];
  await uploadSegment(one, id, `${dir}/p.pack`, `${dir}/p.idx`, (n) => up.push(n));
  assert(up.length > 2, `streamed in pieces: ${up}`);
  assertEquals(up.reduce((a, b) => a + b), 300_100);

  const down: number[] = [];
  await downloadSegmentPack(one, id, `${dir}/got.pack`, (n) => down.push(n));
  assertEquals(down.reduce((a, b) => a + b), 300_000);

  // Three storages: the segment's own bytes, at the pace of the slowest, not three times.
  const set = new MirroredStore(
    ["primary", "a", "b"].map((name, i) => ({
      name,
      role: i === 0 ? "primary" as const : "mirror" as const,
      url: `memory://${name}`,
      store: new MemoryStore("memory://t"),
    })),
  );
  let sum = 0;
  await uploadSegmentEverywhere(set, id, `${dir}/p.pack`, `${dir}/p.idx`, (n) => {
    sum += n;
    assert(sum <= 300_100, `never more than the segment: ${sum}`);
  });
  assertEquals(sum, 300_100);

  // A download that fails verification takes back what it counted.
  await one.put(`segments/${id}.pack`, new Uint8Array(300_000));
  let net = 0;
  await downloadSegmentPack(one, id, `${dir}/bad.pack`, (n) => (net += n)).catch(() => {});
  assertEquals(net, 0);
  await Deno.remove(dir, { recursive: true });
});

/**
 * `Store.copyToFile`, the capability of a store that holds its objects as local files:
 * local disk copies an object into a file without reading it through the process; every
 * wrapper has it exactly when what it wraps does; a copy counts as a get; and a copy is
 * bounded by TRUNKS_STORE_TIMEOUT like any read, its file's growth counting as progress.
 */
import { AdvisedStore } from "../../src/storage/advised.ts";
import { CountingStore } from "../../src/storage/counting.ts";
import { DeadlineStore } from "../../src/storage/deadline.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { requestCounts } from "../../src/storage/metrics.ts";
import { openStore } from "../../src/storage/registry.ts";
import { type Store, StoreError } from "../../src/storage/store.ts";
import { ReadOnlyStore } from "../../src/trunk/mirror_trust.ts";
import { MirroredStore } from "../../src/trunk/mirrors.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";

Deno.test("copyToFile: local disk copies an object whole; a missing key is null", async () => {
  const root = await Deno.makeTempDir({ prefix: "trunks-copy-" });
  const store = await openStore(`local://${root}/trunks/t.trunk`);
  try {
    assert(store.copyToFile, "local disk can copy");
    const data = new Uint8Array(3 << 20).map((_, i) => (i * 7) & 0xff);
    await store.put("segments/x.pack", data);
    const dest = `${root}/copy`;
    assertEquals(await store.copyToFile("segments/x.pack", dest), data.byteLength);
    const got = await Deno.readFile(dest);
    assertEquals(got.byteLength, data.byteLength);
    assert(got.every((b, i) => b === data[i]), "same bytes");
    assertEquals(await store.copyToFile("segments/none.pack", `${root}/none`), null);
    await assertRejects(() => store.copyToFile!("../escape", `${root}/e`), StoreError);
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("copyToFile: the copy gets a new file's mode, never the stored file's", async () => {
  // A store anyone may write to can leave a segment setuid or world-writable: a pack git
  // reads with that mode could be rewritten after it was verified (Deno.copyFile copies
  // the mode). Fails on 5e17b73 (the copy was 4777).
  const root = await Deno.makeTempDir({ prefix: "trunks-copy-mode-" });
  const store = await openStore(`local://${root}/trunks/t.trunk`);
  try {
    await store.put("segments/x.pack", new Uint8Array(1000).fill(7));
    await Deno.chmod(`${root}/trunks/t.trunk/segments/x.pack`, 0o4777);
    await Deno.writeFile(`${root}/fresh`, new Uint8Array(0));
    const fresh = (await Deno.stat(`${root}/fresh`)).mode! & 0o7777;
    const dest = `${root}/copy`;
    assertEquals(await store.copyToFile!("segments/x.pack", dest), 1000);
    assertEquals(((await Deno.stat(dest)).mode! & 0o7777).toString(8), fresh.toString(8));
    assertEquals(await store.copyToFile!("segments/none.pack", `${root}/none`), null);
    const left = (await Array.fromAsync(Deno.readDir(root))).map((e) => e.name).sort();
    assertEquals(left, ["copy", "fresh", "trunks"], "no placeholder left");
    // Into a directory others may enter, the copy is refused before any file is made.
    await Deno.mkdir(`${root}/shared`, { mode: 0o755 });
    await Deno.chmod(`${root}/shared`, 0o755);
    const e = await assertRejects(() => store.copyToFile!("segments/x.pack", `${root}/shared/c`));
    assert(e instanceof StoreError && /must be this user's alone/.test(e.message), String(e));
    assertEquals(await Array.fromAsync(Deno.readDir(`${root}/shared`)), []);
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
});

/** A store that copies: `copy` stands for the bottom store's copy. */
function copier(copy: (key: string, dest: string) => Promise<number | null>): Store {
  const s = new MemoryStore("memory://copier");
  return Object.assign(s, { copyToFile: copy });
}

Deno.test("copyToFile: wrappers have it exactly when the store they wrap does", async () => {
  const seen: string[] = [];
  const can = copier((key) => {
    seen.push(key);
    return Promise.resolve(5);
  });
  const cannot = new MemoryStore("memory://plain");
  const wraps: [string, (s: Store) => Store][] = [
    ["counting", (s) => new CountingStore(s)],
    ["deadline", (s) => new DeadlineStore(s, 60_000)],
    ["advised", (s) => new AdvisedStore(s, " (advice)")],
    ["read-only", (s) => new ReadOnlyStore(s, "read only")],
  ];
  for (const [name, wrap] of wraps) {
    assertEquals(wrap(cannot).copyToFile, undefined, name);
    const w = wrap(wrap(can));
    assert(w.copyToFile, name);
    assertEquals(await w.copyToFile("k", "/nowhere"), 5, name);
  }
  assertEquals(seen.length, wraps.length);
  // Mirrors: each copy is read and verified in turn (segment_copies.ts), never one copy.
  const set = new MirroredStore([{ name: "p", role: "primary", url: "memory://p", store: can }]);
  assertEquals((set as Store).copyToFile, undefined);
});

Deno.test("copyToFile: a copy is counted as one get", () => {
  const counting = new CountingStore(copier(() => Promise.resolve(1)));
  // Read around a synchronous call: no other test's request can land in between.
  const before = requestCounts().requests["store.get"] ?? 0;
  const copied = counting.copyToFile!("k", "/nowhere");
  const after = requestCounts().requests["store.get"] ?? 0;
  assertEquals(after - before, 1);
  return copied.then(() => {});
});

Deno.test("copyToFile: bounded like a read; a copy whose file grows is never cut", async () => {
  const dir = await Deno.makeTempDir({ prefix: "trunks-copy-deadline-" });
  try {
    // Grows every 60 ms for ~600 ms: ten times the 200 ms deadline, progress all along.
    const growing = new DeadlineStore(
      copier(async (_key, dest) => {
        using f = await Deno.open(dest, { write: true, createNew: true });
        for (let i = 0; i < 10; i++) {
          await new Promise((r) => setTimeout(r, 60));
          await f.write(new Uint8Array(100));
        }
        return 1000;
      }),
      200,
    );
    assertEquals(await growing.copyToFile!("segments/a.pack", `${dir}/a`), 1000);
    // Never grows, never ends: fails once the deadline passes without progress.
    let release = () => {};
    const stuck = new DeadlineStore(
      copier(() => new Promise((r) => release = () => r(0))),
      200,
    );
    const t0 = performance.now();
    const e = await assertRejects(() => stuck.copyToFile!("segments/b.pack", `${dir}/b`));
    assert(e instanceof StoreError && e.code === "unreachable", String(e));
    assert(/did not answer \(get segments\/b\.pack\)/.test(e.message), e.message);
    assert(performance.now() - t0 < 5000);
    release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

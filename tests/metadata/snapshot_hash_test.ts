/**
 * A snapshot a clone reads is sealed from its stored bytes by WebCrypto (snapshots.ts
 * `hashAsWritten`): the read loads no node:crypto, which a clone of 20,000 refs loaded
 * for this one hash (~25 ms of the helper's CPU), and the seal holds or fails exactly as
 * the canonical check says.
 */
import { assert, assertEquals } from "../assert.ts";
import { createHash } from "node:crypto";
import { MemoryStore } from "../../src/storage/memory.ts";
import { FORMAT, snapshotKey } from "../../src/trunk/layout.ts";
import { refEntryKey } from "../keys.ts";
import { encodeSnapshot, hashAsWritten, loadSnapshot } from "../../src/trunk/snapshots.ts";
import { sealedEntries } from "./sealed_entries.ts";

const trunk = { id: "t1", format: FORMAT };
const time = "2026-12-02T00:00:00.000Z";

const entries = (n: number) => sealedEntries(n, 'w "quoted" é');

async function stored(bytes: Uint8Array): Promise<MemoryStore> {
  const store = new MemoryStore("memory://snapshot-hash");
  await store.create(snapshotKey(4), bytes);
  return store;
}

Deno.test("loadSnapshot: a sealed snapshot is read without loading node:crypto", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/snap`, encodeSnapshot("t1", 4, entries(300)));
    const src = new URL("../../src/", import.meta.url).href;
    // A fresh process: hash.ts asks `process.getBuiltinModule` for node:crypto when it loads it.
    await Deno.writeTextFile(
      `${dir}/child.ts`,
      `
      const asked: string[] = [];
      const proc = (globalThis as any).process;
      const builtin = proc.getBuiltinModule.bind(proc);
      proc.getBuiltinModule = (id: string) => (asked.push(id), builtin(id));
      const { MemoryStore } = await import("${src}storage/memory.ts");
      const { FORMAT, snapshotKey } = await import("${src}trunk/layout.ts");
      const { loadSnapshot } = await import("${src}trunk/snapshots.ts");
      const store = new MemoryStore("memory://child");
      await store.create(snapshotKey(4), await Deno.readFile(Deno.args[0]));
      const s = await loadSnapshot(store, { id: "t1", format: FORMAT }, 4);
      console.log(JSON.stringify({ sealed: s?.sealed, n: s?.entries.size, asked }));
      `,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", `${dir}/child.ts`, `${dir}/snap`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert(out.success, new TextDecoder().decode(out.stderr));
    const got = JSON.parse(text);
    assertEquals([got.sealed, got.n], [true, 300]);
    assert(!got.asked.includes("node:crypto"), `loaded ${got.asked.join(", ")}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadSnapshot: its seal agrees with the canonical check, byte for byte", async () => {
  const m = entries(40);
  const bytes = encodeSnapshot("t1", 4, m);
  const good = await loadSnapshot(await stored(bytes), trunk, 4);
  assertEquals([good?.sealed, good?.entries], [true, m]);
  // One byte flipped inside an entry (still JSON, same length): refused.
  const raw = new TextDecoder().decode(bytes);
  const at = raw.indexOf("b17") + 1;
  const flipped = raw.slice(0, at) + (raw[at] === "1" ? "2" : "1") + raw.slice(at + 1);
  assertEquals(await loadSnapshot(await stored(new TextEncoder().encode(flipped)), trunk, 4), null);
  // Another writer's layout: read through the canonical seal.
  const o = JSON.parse(raw);
  const other = JSON.stringify({
    sum: o.sum,
    entries: o.entries,
    time: o.time,
    seq: 4,
    trunk: "t1",
    v: 1,
  });
  const read = await loadSnapshot(await stored(new TextEncoder().encode(other)), trunk, 4);
  assertEquals(read?.entries, m);
  // Sealed over its own text but not canonical (a key twice): the hash of the bytes
  // matches, and the text is refused all the same.
  const k = refEntryKey("refs/heads/a", 1);
  const body = `{${JSON.stringify(k)}:"A",${JSON.stringify(k)}:"B"}`;
  const sum = createHash("sha256").update(`{"entries":${body}`).update(
    `,"seq":4,"time":${JSON.stringify(time)},"trunk":"t1","v":1}`,
  ).digest("hex");
  const twice = `{"v":1,"trunk":"t1","seq":4,"time":"${time}","entries":${body},"sum":"${sum}"}`;
  assertEquals(await loadSnapshot(await stored(new TextEncoder().encode(twice)), trunk, 4), null);
});

Deno.test("hashAsWritten: the seal is hashed in the read bytes' own memory, copied by WebCrypto alone", async () => {
  const bytes = encodeSnapshot("t1", 4, entries(40));
  const { sum } = JSON.parse(new TextDecoder().decode(bytes));
  const subtle = crypto.subtle as { digest: SubtleCrypto["digest"] };
  const digest = subtle.digest;
  const handed: BufferSource[] = [];
  subtle.digest = function (this: SubtleCrypto, algorithm, data) {
    handed.push(data);
    return digest.call(this, algorithm, data);
  };
  let hashed;
  try {
    hashed = await hashAsWritten(bytes);
  } finally {
    subtle.digest = digest;
  }
  assertEquals(hashed?.sum, sum);
  // One digest, of a view of `bytes` (at 20,000 refs a copy of its own was another 9 MB).
  assertEquals(handed.length, 1);
  assert((handed[0] as Uint8Array).buffer === bytes.buffer, "hashed a copy of the bytes");
});

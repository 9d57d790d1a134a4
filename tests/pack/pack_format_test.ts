/**
 * The library's pack code against real git: packs it writes pass `git index-pack` and
 * `git verify-pack` with its own index; indexes and deltified packs git writes are read
 * back object for object. (git is used here only to judge; the library never runs it.)
 */
import { assert, assertEquals } from "../assert.ts";
import { git, makeEnv, newRepo, ok } from "../e2e/harness.ts";
import { objectId, parseTree } from "../../src/pack/objects.ts";
import { applyDelta, buildSegment, decodeEntry } from "../../src/pack/pack_format.ts";
import { PackIndex } from "../../src/pack/pack_index.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();

Deno.test("buildSegment: git index-pack accepts the pack and writes the same index", async () => {
  const e = await makeEnv();
  const dir = await Deno.makeTempDir({ prefix: "trunks-sdk-pack-" });
  const objects = [
    { type: "blob" as const, data: enc.encode("hello\n") },
    { type: "blob" as const, data: new Uint8Array(200_000).map((_, i) => (i * 7) % 251) },
    { type: "blob" as const, data: new Uint8Array(0) },
  ];
  const seg = buildSegment(objects, "sha1");
  await Deno.writeFile(`${dir}/s.pack`, seg.pack);
  await Deno.writeFile(`${dir}/ours.idx`, seg.idx);
  await ok(e, "git", ["index-pack", "-o", `${dir}/s.idx`, `${dir}/s.pack`]);
  const theirs = await Deno.readFile(`${dir}/s.idx`);
  assertEquals(seg.idx, theirs, "our index is byte-identical to git's");
  // verify-pack checks the pack against the index and every object id.
  await Deno.writeFile(`${dir}/s.idx`, seg.idx);
  const out = await ok(e, "git", ["verify-pack", "-v", `${dir}/s.idx`]);
  for (const o of objects) assert(out.includes(objectId("sha1", o.type, o.data)));
  const idx = new PackIndex(seg.idx, "sha1", "test", seg.pack.byteLength);
  assertEquals(idx.count, 3);
  for (const o of objects) {
    const oid = objectId("sha1", o.type, o.data);
    const at = idx.find(oid)!;
    const entry = decodeEntry(seg.pack.subarray(at, idx.end(at)), at, "sha1", "test");
    assert(entry.kind === "whole");
    assertEquals(entry.data, o.data);
  }
  assertEquals(idx.find("0".repeat(40)), undefined);
});

Deno.test("PackIndex + deltas: every object of a git-written deltified pack reads back", async () => {
  const e = await makeEnv();
  const repo = await newRepo(e);
  // Many small edits of one file make pack-objects store deltas (OFS_DELTA chains).
  let text = "";
  for (let i = 0; i < 40; i++) {
    text += `line ${i} ${"x".repeat(i * 3)}\n`;
    await Deno.writeTextFile(`${repo}/big.txt`, text.repeat(20));
    await git(e, repo, "add", ".");
    await git(e, repo, "commit", "-qm", `edit ${i}`);
  }
  const dir = await Deno.makeTempDir({ prefix: "trunks-sdk-delta-" });
  const hash = (await ok(e, "git", ["pack-objects", "--revs", "--delta-base-offset", `${dir}/p`], {
    cwd: repo,
    stdin: "HEAD\n",
  })).trim();
  const pack = await Deno.readFile(`${dir}/p-${hash}.pack`);
  const idx = new PackIndex(
    await Deno.readFile(`${dir}/p-${hash}.idx`),
    "sha1",
    "t",
    pack.byteLength,
  );
  const verify = await ok(e, "git", ["verify-pack", "-v", `${dir}/p-${hash}.idx`]);
  assert(/chain length = [2-9]/.test(verify), "the pack has delta chains");
  let deltas = 0;
  const cache = new Map<number, { type: string; data: Uint8Array }>();
  const readAt = (at: number): { type: string; data: Uint8Array } => {
    const hit = cache.get(at);
    if (hit) return hit;
    const entry = decodeEntry(pack.subarray(at, idx.end(at)), at, "sha1", "t");
    let obj;
    if (entry.kind === "whole") obj = { type: entry.type, data: entry.data };
    else if (entry.kind === "ofs-delta") {
      deltas++;
      const base = readAt(entry.baseOffset);
      obj = { type: base.type, data: applyDelta(base.data, entry.delta, "t") };
    } else throw new Error("unexpected ref-delta");
    cache.set(at, obj);
    return obj;
  };
  for (const oid of idx.oids()) {
    const obj = readAt(idx.find(oid)!);
    assertEquals(objectId("sha1", obj.type as "blob", obj.data), oid);
    const shown = await ok(e, "git", ["cat-file", obj.type, oid], { cwd: repo });
    if (obj.type !== "tree") assertEquals(dec.decode(obj.data), shown);
    else assert(parseTree(oid, obj.data, "sha1").length > 0);
  }
  assert(deltas > 10, `read ${deltas} deltified objects`);
});

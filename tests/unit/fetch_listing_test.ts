/**
 * A fetch's listing of `refs/` on local disk stats only the entries the fetch reads (each
 * ref's latest, the one after its oldest, snapshots): within two leases of a burst of
 * pushes it holds thousands of superseded entries, a stat each (~7 µs) before; an lstat,
 * so a link planted as a key is not followed. The state read from it names the same latest
 * entries as one read from a full listing.
 */
import { assert, assertEquals } from "../assert.ts";
import { Trunk } from "../../mod.ts";
import { AUTO_ENV } from "../../src/trunk/maintenance.ts";
import { resolveRemote } from "../../src/helper/resolve.ts";
import { withProcessEnv } from "../../harness/process_env.ts";
import { parseRefEntryKey } from "../keys.ts";
import { refLayout, snapshotKey } from "../../src/trunk/layout.ts";
import { fetchedRefDetails } from "../../src/trunk/ref_listing.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("a fetch's listing of refs/ stats only the entries it reads", opts, async () => {
  const root = await Deno.makeTempDir();
  const realStat = Deno.lstatSync;
  try {
    const url = `local://${root}/trunks/r.trunk`;
    const pushes = 30;
    await withProcessEnv({ [AUTO_ENV]: "0" }, async () => {
      const t = await Trunk.open({ url, create: true, writer: "burst" });
      for (let i = 0; i < pushes; i++) {
        t.write("f.txt", `${i}\n`);
        await t.commit({ message: `c${i}`, branch: "main" });
        await t.push();
      }
      await t.close();
    });
    const stats: string[] = [];
    Deno.lstatSync = ((p: string | URL) => {
      if (String(p).includes(`${root}/trunks/r.trunk/refs/`)) stats.push(String(p));
      return realStat(p);
    }) as typeof Deno.lstatSync;
    const ctx = await resolveRemote(url, "origin");
    let listed;
    try {
      listed = await ctx.takeRefsListing()!.entries;
    } finally {
      Deno.lstatSync = realStat;
    }
    try {
      const entries = listed.filter((e) => parseRefEntryKey(e.key));
      assert(entries.length > pushes, `${entries.length} entries listed`);
      // main's latest and the one after its oldest; HEAD's one entry.
      assertEquals(stats.length, 3, stats.join("\n"));
      const trunk = await ctx.trunk();
      const fromFetch = await trunk.refState(listed);
      const full = await trunk.refState();
      assertEquals([...fromFetch.latest.entries()], [...full.latest.entries()]);
      assertEquals(fromFetch.supersededSince, full.supersededSince);
    } finally {
      await ctx.close();
    }
  } finally {
    Deno.lstatSync = realStat;
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a fetch's listing picks each ref's latest, the one after its oldest, snapshots", () => {
  const e = (enc: string, seq: number) => `refs/${enc}/${String(seq).padStart(12, "0")}`;
  const keys = [
    e("a", 1),
    e("a", 2),
    e("a", 3),
    e("a=2fb", 1),
    e("b", 2),
    e("b", 3),
    e("b", 5),
    e("c", 4),
    e("c", 6),
    "refs/~snapshot/0000000000000001",
  ].sort();
  const picked = fetchedRefDetails(keys);
  assertEquals(
    keys.filter((k) => picked.has(k)).sort(),
    [
      e("a", 2),
      e("a", 3),
      e("a=2fb", 1),
      e("b", 3),
      e("b", 5),
      e("c", 6),
      "refs/~snapshot/0000000000000001",
    ].sort(),
  );
});

Deno.test("a fetch's details cover the latest entries of either format (listed before trunk.json)", () => {
  for (const format of [1, 2]) {
    const own = refLayout(format);
    const other = refLayout(format === 1 ? 2 : 1);
    const keys = [
      ...[1, 2, 3].map((s) => own.entryKey("refs/heads/main", s)),
      own.entryKey("HEAD", 1),
      // A stray of the other shape for main, at a higher seq: it is no entry of this trunk
      // and must not take the place of main's latest.
      other.entryKey("refs/heads/main", 9),
      snapshotKey(1),
    ].sort();
    const picked = fetchedRefDetails(keys);
    for (
      const k of [
        own.entryKey("refs/heads/main", 3),
        own.entryKey("refs/heads/main", 2),
        own.entryKey("HEAD", 1),
        snapshotKey(1),
      ]
    ) assert(picked.has(k), `format ${format}: ${k}`);
    assert(!picked.has(own.entryKey("refs/heads/main", 1)), `format ${format}: main's oldest`);
  }
});

Deno.test("a fetch's listing where every ref lists one entry picks every key", () => {
  // Each key is then its ref's latest (a clone after maintenance: 20,000 refs, one entry
  // each), found by a look at neighbours, not by parsing every key.
  for (const format of [1, 2]) {
    const layout = refLayout(format);
    const refs = [
      "HEAD",
      "refs/heads/main",
      "refs/heads/b1041",
      "refs/heads/b1042",
      "refs/tags/v1",
    ];
    const single = [
      ...refs.map((r, i) => layout.entryKey(r, i + 1)),
      snapshotKey(3),
      snapshotKey(4),
    ].sort();
    const all = fetchedRefDetails(single);
    for (const k of single) assert(all.has(k), `format ${format}: ${k}`);
    // One ref with two entries among them: its oldest is left out again.
    const main = (seq: number) => layout.entryKey("refs/heads/main", seq);
    const twice = [...single.filter((k) => k !== main(2)), main(7), main(8)].sort();
    const picked = fetchedRefDetails(twice);
    assertEquals(
      twice.filter((k) => !picked.has(k)),
      [main(7)],
      `format ${format}`,
    );
  }
});

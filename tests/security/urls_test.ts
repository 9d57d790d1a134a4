/**
 * `.` and `..` path segments in a storage URL, raw or %-encoded, are refused with one
 * line by every entry point (git's helper, trunks clone, storage add, the library), so
 * a trunk always lands in `<root>/trunks/<name>.trunk` and never beside it.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { makeEnv, newRepo, ok, run } from "../e2e/harness.ts";
import { parseStoreUrl } from "../../src/storage/registry.ts";
import { dotSegmentIn, trunkUrl } from "../../src/storage/trunk_url.ts";
import { Trunk } from "../../mod.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

function assertThrows(fn: () => unknown, _type: unknown, part: string): void {
  try {
    fn();
  } catch (e) {
    assert((e as Error).message.includes(part), (e as Error).message);
    return;
  }
  throw new Error("expected an error");
}

Deno.test("dot segments: found raw and %-encoded, in any case; names and queries are fine", () => {
  const bad = [
    "local:///root/trunks/%2e%2e/%2e%2e/x.trunk",
    "local:///root/trunks/x.trunk/../../../y.trunk",
    "s3://b/root/trunks/%2E%2e/x.trunk",
    "s3://b/trunks/./x.trunk",
    "s3://b/trunks/%2e/x.trunk",
    "sftp://u@h/srv/../etc/trunks/x.trunk",
    "postgres://u@h/db/../trunks/x.trunk",
    "local:///root/trunks/x.trunk/.\t./.\n./.\r./y.trunk",
    "s3://b/trunks/%2e\t%2e/x.trunk",
    "local:///root/trunks/\t./x.trunk",
  ];
  for (const u of bad) {
    assert(dotSegmentIn(u) !== null, u);
    assertThrows(() => parseStoreUrl(u), Error, "path segment");
  }
  const good = [
    "local:///srv/a.b/trunks/x..y.trunk",
    "s3://b/trunks/x.trunk?endpoint=http://h:9000/../z",
    "local:///srv/.store/trunks/app.trunk",
  ];
  for (const u of good) assertEquals(dotSegmentIn(u), null, u);
  assertThrows(() => trunkUrl("local:///srv/store/..", "app"), Error, "path segment");
});

Deno.test({
  name:
    "dot segments: git push, trunks clone, storage add and the library refuse them, writing nothing",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const base = await Deno.makeTempDir({ prefix: "trunks-dots-" });
    const root = `${base}/a/b/root`;
    await Deno.mkdir(`${root}/trunks`, { recursive: true });
    const urls = [
      `local://${root}/trunks/%2e%2e/%2e%2e/x.trunk`,
      `local://${root}/trunks/x.trunk/../../../y.trunk`,
      `local://${root}/trunks/%2E%2E/%2e%2E/z.trunk`,
    ];
    const repo = await newRepo(e);
    for (const url of urls) {
      const push = await run(e, "git", ["push", `trunks::${url}`, "main"], { cwd: repo });
      assert(push.code !== 0, `push to ${url} must fail`);
      assertMatch(push.stderr, /path segment; trunks refuses \. and \.\. in URLs/);
      const clone = await run(e, "trunks", ["clone", url, `${base}/c`], { cwd: base });
      assert(clone.code !== 0, `clone of ${url} must fail`);
      assertMatch(clone.stderr, /path segment/);
      assertEquals(clone.stderr.trim().split("\n").length, 1, clone.stderr);
      await assertRejects(() => Trunk.open({ url, create: true }), Error, "path segment");
    }
    await ok(e, "trunks", ["init"], { cwd: repo });
    const add = await run(e, "trunks", ["storage", "add", "--name", "p", "--url", urls[1]], {
      cwd: repo,
    });
    assert(add.code !== 0);
    assertMatch(add.stderr, /path segment/);
    // Nothing was written anywhere: the only thing under base is the empty trunks dir.
    const found: string[] = [];
    const walk = async (d: string) => {
      for await (const f of Deno.readDir(d)) {
        const p = `${d}/${f.name}`;
        found.push(p.slice(base.length));
        if (f.isDirectory) await walk(p);
      }
    };
    await walk(base);
    assertEquals(found.sort(), ["/a", "/a/b", "/a/b/root", "/a/b/root/trunks"]);
  },
});

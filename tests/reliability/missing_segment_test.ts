/**
 * A segment missing from the middle of a trunk's history (deleted, or lost with a
 * restore): `git clone`, `trunks clone` and `git fetch` fail with one trunks line naming
 * the missing segment and what to do, never git's generic "did not send all necessary
 * objects", and leave no ref pointing at objects the repository lacks.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { commitFile, type Env, git, makeEnv, newRepo, ok, run } from "../e2e/harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** A trunk on local disk with three pushes of main; `afterFirst` runs after the first. */
async function threePushes(afterFirst?: (e: Env, url: string) => Promise<void>) {
  const e = await makeEnv();
  const store = await Deno.makeTempDir({ prefix: "trunks-store-" });
  const url = `local://${store}/trunks/holes.trunk`;
  const a = await newRepo(e, "a");
  await git(e, a, "remote", "add", "origin", `trunks::${url}`);
  const segs = `${store}/trunks/holes.trunk/segments`;
  const segments = async () => {
    const out: string[] = [];
    for await (const f of Deno.readDir(segs)) if (f.name.endsWith(".pack")) out.push(f.name);
    return out;
  };
  await git(e, a, "push", "-q", "origin", "main");
  const first = await segments();
  await afterFirst?.(e, url);
  await commitFile(e, a, "two.txt", "two\n");
  await git(e, a, "push", "-q", "origin", "main");
  const middle = (await segments()).filter((s) => !first.includes(s));
  assertEquals(middle.length, 1);
  await commitFile(e, a, "three.txt", "three\n");
  await git(e, a, "push", "-q", "origin", "main");
  return { e, url, segs, middle: middle[0].replace(/\.pack$/, "") };
}

/** The failure is one trunks line naming the missing segment and what to do. */
function saysWhichSegment(stderr: string, id: string): void {
  assert(!/did not send all necessary objects|Failed to traverse/.test(stderr), stderr);
  const lines = stderr.split("\n").filter((l) => l.includes("trunks"));
  assertEquals(lines.length, 1, stderr);
  assertMatch(lines[0], new RegExp(`segments/${id}\\.pack`));
  assertMatch(lines[0], /restore it from a backup or mirror, or run trunks check --repair/);
}

Deno.test({
  name: "missing segment: git clone and trunks clone say which segment, and leave nothing",
  ...opts,
  fn: async () => {
    const { e, url, segs, middle } = await threePushes();
    await Deno.remove(`${segs}/${middle}.pack`);
    await Deno.remove(`${segs}/${middle}.idx`);
    const parent = await Deno.makeTempDir();
    const viaGit = await run(e, "git", ["clone", `trunks::${url}`, "g"], { cwd: parent });
    assert(viaGit.code !== 0);
    saysWhichSegment(viaGit.stderr, middle);
    const viaTrunks = await run(e, "trunks", ["clone", url, "t"], { cwd: parent });
    assert(viaTrunks.code !== 0);
    saysWhichSegment(viaTrunks.stderr, middle);
    const left = [];
    for await (const f of Deno.readDir(parent)) left.push(f.name);
    assertEquals(left, [], "no half-made clone");
  },
});

Deno.test({
  name: "missing segment: git fetch says which segment and moves no ref",
  ...opts,
  fn: async () => {
    // B cloned after the first push; then the middle segment is lost.
    const b = `${await Deno.makeTempDir()}/b`;
    const { e, segs, middle } = await threePushes(async (e, url) => {
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, b]);
    });
    const before = (await git(e, b, "rev-parse", "origin/main")).trim();
    await Deno.remove(`${segs}/${middle}.pack`);
    await Deno.remove(`${segs}/${middle}.idx`);
    const fetched = await run(e, "git", ["fetch", "origin"], { cwd: b });
    assert(fetched.code !== 0);
    saysWhichSegment(fetched.stderr, middle);
    assertEquals((await git(e, b, "rev-parse", "origin/main")).trim(), before, "no ref moved");
  },
});

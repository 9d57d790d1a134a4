/**
 * A fetch's packs installed as one: overlapping packs with their indexes go into a
 * repository as a single pack that `git verify-pack` and `git fsck --strict` accept.
 */
import { assert, assertEquals } from "../assert.ts";
import { commitFile, git, makeEnv, newRepo, ok } from "../e2e/harness.ts";
import { ingestPacks } from "../../src/git/pack.ts";

Deno.test("ingestPacks: three overlapping packs land as one pack; git fsck --strict passes", async () => {
  const e = await makeEnv();
  const repo = await newRepo(e);
  for (let i = 0; i < 12; i++) {
    await commitFile(e, repo, "f.txt", `v${i}\n`.repeat(200 + i), `edit ${i}`);
  }
  const dl = await Deno.makeTempDir({ prefix: "trunks-ingest-" });
  const inputs: { pack: string; idx: string }[] = [];
  for (const revs of [["main~8"], ["main~4"], ["main", "^main~8"]]) {
    const name = `${dl}/s${inputs.length}`;
    const hash =
      (await ok(e, "git", ["pack-objects", "-q", "--revs", "--delta-base-offset", name], {
        cwd: repo,
        stdin: revs.join("\n") + "\n",
      })).trim();
    inputs.push({ pack: `${name}-${hash}.pack`, idx: `${name}-${hash}.idx` });
  }
  const target = `${await Deno.makeTempDir({ prefix: "trunks-ingest-" })}/t.git`;
  await ok(e, "git", ["init", "-q", "--bare", target]);
  const res = (await ingestPacks(target, inputs, "sha1"))?.join;
  assert(res && res.dropped > 0, `dropped ${res?.dropped}`);
  const packs = [...Deno.readDirSync(`${target}/objects/pack`)].map((f) => f.name).sort();
  assertEquals(packs.length, 2, packs.join(" "));
  assert(packs[0].endsWith(".idx") && packs[1].endsWith(".pack"), packs.join(" "));
  for (const i of inputs) {
    assertEquals(await Deno.stat(i.pack).then(() => true, () => false), false, "input removed");
  }
  await ok(e, "git", ["verify-pack", `${target}/objects/pack/${packs[0]}`], { cwd: target });
  await git(
    e,
    target,
    "update-ref",
    "refs/heads/main",
    (await git(e, repo, "rev-parse", "main")).trim(),
  );
  await ok(e, "git", ["fsck", "--strict", "--no-dangling"], { cwd: target });
  const count = (d: string) =>
    git(e, d, "rev-list", "--objects", "--all").then((s) => s.trim().split("\n").length);
  assertEquals(await count(target), await count(repo));
  assertEquals(res.objects, await count(repo));
});

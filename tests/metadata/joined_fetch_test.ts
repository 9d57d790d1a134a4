/**
 * A fetch writes one pack however many segments it reads: a fresh clone of a trunk
 * pushed to many times (two writers storing the same blob, so two segments share an
 * object) holds a single pack that passes `git fsck --strict` and `git verify-pack` (that
 * object in it once), and a later fetch of several new segments adds exactly one more.
 */
import { assertEquals } from "../assert.ts";
import {
  commitFile,
  e2eBackends,
  type Env,
  git,
  makeEnv,
  newRepo,
  ok,
  trunkUrl,
} from "../e2e/harness.ts";

const local = e2eBackends().find((b) => b.name === "local")!;

function packs(dir: string): number {
  return [...Deno.readDirSync(`${dir}/.git/objects/pack`)].filter((f) => f.name.endsWith(".pack"))
    .length;
}

/**
 * `git verify-pack` on every pack of the repository: it refuses a pack holding an object
 * twice, which index-pack (without --strict, as a fetch runs it) and `fsck --strict` both
 * accept, so the join's dropping of later copies is checked here.
 */
async function verifyPacks(e: Env, dir: string): Promise<void> {
  for (const f of Deno.readDirSync(`${dir}/.git/objects/pack`)) {
    if (f.name.endsWith(".pack")) await git(e, dir, "verify-pack", `.git/objects/pack/${f.name}`);
  }
}

Deno.test({
  name: "clone and fetch of many segments each write one pack, fsck --strict clean",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, "joined");
    const remote = `trunks::${url}`;
    const a = await newRepo(e, "a");
    await git(e, a, "push", "-q", remote, "main");
    for (let i = 0; i < 5; i++) {
      await commitFile(e, a, `f${i}.txt`, `a ${i}\n`);
      await git(e, a, "push", "-q", remote, "main");
    }
    // Another writer stores a blob main already has, on its own branch: two segments
    // hold the same object.
    const b = await newRepo(e, "b");
    await commitFile(e, b, "same.txt", "a 3\n");
    await git(e, b, "push", "-q", remote, "main:refs/heads/other");

    const c = `${await Deno.makeTempDir()}/c`;
    await ok(e, "git", ["clone", "-q", remote, c]);
    assertEquals(packs(c), 1, "8 segments, one pack");
    await git(e, c, "fsck", "--strict", "--no-dangling");
    await verifyPacks(e, c); // the blob both writers stored is in the pack once
    assertEquals(
      (await git(e, c, "rev-parse", "origin/main")).trim(),
      (await git(e, a, "rev-parse", "main")).trim(),
    );

    for (let i = 0; i < 3; i++) {
      await commitFile(e, a, `g${i}.txt`, `g ${i}\n`);
      await git(e, a, "push", "-q", remote, "main");
    }
    await git(e, c, "fetch", "-q");
    assertEquals(packs(c), 2, "3 new segments, one more pack");
    await git(e, c, "fsck", "--strict", "--no-dangling");
    await verifyPacks(e, c);
  },
});

/**
 * The cache says which segments the repository ingested; the repository is what holds
 * them. When a pack went away (deleted, pruned, or put where git does not read it), the
 * next fetch must fetch it again from the store, not call the trunk damaged forever.
 */
import { assertEquals } from "../assert.ts";
import { commitFile, git, makeEnv, newRepo } from "./harness.ts";

Deno.test({
  name: "fetch: a pack the cache says was ingested but the repository lost is fetched again",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // Fails on d32679a and later: "refs/heads/main points at ..., which no segment of
    // ... holds; the trunk is damaged", on every fetch from then on.
    const e = await makeEnv();
    const a = await newRepo(e, "a");
    const store = await Deno.makeTempDir({ prefix: "trunks-store-" });
    const url = `trunks::local://${store}/lost.trunk`;
    await git(e, a, "push", "-q", url, "main");
    const parent = await Deno.makeTempDir();
    await git(e, parent, "clone", "-q", url, "c");
    const c = `${parent}/c`;
    const before = (await git(e, c, "rev-parse", "origin/main")).trim();
    const packs = () => [...Deno.readDirSync(`${c}/.git/objects/pack`)].map((f) => f.name);
    const cloned = new Set(packs());
    await commitFile(e, a, "b.txt", "b\n");
    await git(e, a, "push", "-q", url, "main");
    await git(e, c, "fetch", "-q", "origin");
    // The fetched pack is lost, and the ref back where it was.
    for (const f of packs()) if (!cloned.has(f)) await Deno.remove(`${c}/.git/objects/pack/${f}`);
    await git(e, c, "update-ref", "refs/remotes/origin/main", before);
    await git(e, c, "fetch", "-q", "origin");
    assertEquals(
      (await git(e, c, "rev-parse", "origin/main")).trim(),
      (await git(e, a, "rev-parse", "main")).trim(),
    );
    await git(e, c, "fsck", "--no-dangling");
  },
});

/**
 * A trunk holds objects of one format (trunk.json's objectFormat). A repository of the
 * other format pushing to it is refused before anything is written: its pack and its
 * 40-hex ids (stored as 64) would leave a ref no clone can fetch. `list for-push` opens
 * the trunk first, so the check must not depend on the push being the one that opens it.
 */
import { assertEquals, assertMatch, assertNotEquals } from "../assert.ts";
import { e2eBackends, git, makeEnv, ok, run, trunkUrl } from "./harness.ts";
import { openStore } from "../../src/storage/registry.ts";
import { listKeys } from "../../src/storage/store.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function keys(url: string): Promise<string[]> {
  const store = await openStore(url);
  try {
    return await listKeys(store, "");
  } finally {
    await store.close();
  }
}

for (const [trunkFormat, repoFormat] of [["sha256", "sha1"], ["sha1", "sha256"]]) {
  Deno.test({
    name:
      `e2e local: a ${repoFormat} repository's push to a ${trunkFormat} trunk is refused, nothing written`,
    ...opts,
    fn: async () => {
      const e = await makeEnv();
      const url = await trunkUrl(e2eBackends()[0], "t");
      const repo = async (name: string, format: string) => {
        const dir = `${e.home}/${name}`;
        await ok(e, "git", ["init", "-q", `--object-format=${format}`, "-b", "main", dir]);
        await Deno.writeTextFile(`${dir}/${name}.txt`, `${name}\n`);
        await git(e, dir, "add", ".");
        await git(e, dir, "commit", "-qm", name);
        return dir;
      };
      const a = await repo("a", trunkFormat);
      await git(e, a, "push", "-q", `trunks::${url}`, "main");
      const before = await keys(url);
      const other = await repo("other", repoFormat);
      // A new branch, and a forced move of one (git itself refuses a plain non-fast-forward).
      for (const spec of ["main:refs/heads/side", "+main:refs/heads/main"]) {
        const r = await run(e, "git", ["push", "-q", `trunks::${url}`, spec], {
          cwd: other,
        });
        assertNotEquals(r.code, 0, r.stderr);
        assertMatch(
          r.stderr,
          new RegExp(`holds ${trunkFormat} objects but this repository uses ${repoFormat}`),
        );
      }
      assertEquals(await keys(url), before);
      const b = `${e.home}/b`;
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, b]);
      assertEquals(await git(e, b, "rev-parse", "HEAD"), await git(e, a, "rev-parse", "HEAD"));
    },
  });
}

// The fetch's index-pack, in the repository's format, fails on every segment of the other:
// it was reported as a corrupt segment ("run trunks check"), which check then did not find.
for (const [trunkFormat, repoFormat] of [["sha256", "sha1"], ["sha1", "sha256"]]) {
  Deno.test({
    name:
      `e2e local: a fetch of a ${trunkFormat} trunk into a ${repoFormat} repository names the formats`,
    ...opts,
    fn: async () => {
      const e = await makeEnv();
      const url = await trunkUrl(e2eBackends()[0], "t");
      const a = `${e.home}/a`;
      await ok(e, "git", ["init", "-q", `--object-format=${trunkFormat}`, "-b", "main", a]);
      await git(e, a, "commit", "-q", "--allow-empty", "-m", "one");
      await git(e, a, "push", "-q", `trunks::${url}`, "main");
      const b = `${e.home}/b`;
      await ok(e, "git", ["init", "-q", `--object-format=${repoFormat}`, b]);
      const r = await run(e, "git", ["fetch", "-q", `trunks::${url}`, "main"], { cwd: b });
      assertNotEquals(r.code, 0, r.stderr);
      assertMatch(
        r.stderr,
        new RegExp(`holds ${trunkFormat} objects but this repository uses ${repoFormat}`),
      );
      assertEquals([...Deno.readDirSync(`${b}/.git/objects/pack`)], []);
    },
  });
}

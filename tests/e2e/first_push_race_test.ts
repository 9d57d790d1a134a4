/**
 * First pushes racing to one new trunk: each reads trunk.json absent, probes, and creates
 * it; one create wins and the rest adopt the winner's trunk.json. The winner does not list
 * refs/ or read trunk.json again before its entries (Trunk.createdState): its entries are
 * still created exclusively, so a racer's entry on the same ref is caught, and the racers
 * that lost the trunk.json create read the trunk as it now is.
 */
import { assertEquals, assertMatch } from "../assert.ts";
import { commitFile, e2eBackends, git, makeEnv, newRepo, ok, run, trunkUrl } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const RACERS = 4;

for (const backend of e2eBackends()) {
  Deno.test({
    name: `e2e ${backend.name}: first pushes racing to one new trunk agree on it; one main wins`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const remote = `trunks::${await trunkUrl(backend, "first-race")}`;
      const dirs: string[] = [];
      for (let i = 0; i < RACERS; i++) {
        const d = await newRepo(e, `r${i}`);
        await commitFile(e, d, `r${i}.txt`, `racer ${i}\n`);
        dirs.push(d);
      }
      const pushes = await Promise.all(
        dirs.map((d, i) =>
          run(e, "git", ["push", remote, "main", `main:refs/heads/agent/${i}`], { cwd: d })
        ),
      );
      const all = pushes.map((r) => r.stderr).join("\n---\n");
      // Each racer's own branch is its alone: every one of them moved, on one trunk.
      const ls = await git(e, dirs[0], "ls-remote", remote);
      for (let i = 0; i < RACERS; i++) {
        const mine = (await git(e, dirs[i], "rev-parse", "main")).trim();
        assertMatch(ls, new RegExp(`^${mine}\\trefs/heads/agent/${i}$`, "m"), all);
      }
      // main: exactly one racer's, the others told to fetch first.
      const mains = await Promise.all(dirs.map((d) => git(e, d, "rev-parse", "main")));
      const stored = ls.split("\n").find((l) => l.endsWith("\trefs/heads/main"))?.split("\t")[0];
      assertEquals(mains.filter((m) => m.trim() === stored).length, 1, `${ls}\n${all}`);
      assertEquals(pushes.filter((r) => r.code === 0).length, 1, all);
      for (const r of pushes.filter((r) => r.code !== 0)) assertMatch(r.stderr, /fetch first/);
      const check = `${await Deno.makeTempDir()}/check`;
      await ok(e, "git", ["clone", "-q", remote, check]);
      await git(e, check, "fetch", "-q", "origin", "refs/heads/*:refs/remotes/origin/*");
      await git(e, check, "fsck", "--strict", "--no-dangling");
    },
  });
}

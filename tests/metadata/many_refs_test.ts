/**
 * Many refs under `ulimit -n 1024` on local disk: the push, the snapshot the push's
 * maintenance writes, and a fresh clone all work (the local store once opened every ref
 * directory at once: EMFILE at 1,500 refs). In a format-1 trunk (made before format 2)
 * every ref is a directory of its own, so its listing is the one that opens 20,000 of them;
 * a format-2 trunk lists one. 20,000 refs, the size issue 19 names (about 5 s each here).
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { REFS_PREFIX, SNAPSHOT_PREFIX } from "../../src/trunk/layout.ts";
import { format1Trunk } from "./format1_trunk.ts";
import { e2eBackends, git, makeEnv, newRepo, refList, run, trunkUrl } from "../e2e/harness.ts";

const local = e2eBackends().find((b) => b.name === "local")!;
const REFS = 20_000;

for (const format of [2, 1]) {
  Deno.test({
    name:
      `${REFS} refs, format ${format}: push and clone under ulimit -n 1024, clone reads the snapshot`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const e = await makeEnv({ ...local.env, TRUNKS_AUTO_MAINTENANCE: "wait" });
      const url = await trunkUrl(local, `many${format}`);
      if (format === 1) await format1Trunk(url);
      const a = await newRepo(e, "a");
      const refs = Array.from({ length: REFS }, (_, i) => `create refs/heads/b${i} HEAD`);
      await run(e, "git", ["update-ref", "--stdin"], { cwd: a, stdin: refs.join("\n") + "\n" });
      const limited = (cmd: string) => ["-c", `ulimit -n 1024 && ${cmd}`];
      // Every git the push starts (git push itself, and the helper's) logs a line: a process
      // per ref (one `rev-parse` each, as once) would be 20,000 of them.
      const shim = await Deno.makeTempDir();
      const realGit = new TextDecoder().decode(
        (await new Deno.Command("sh", { args: ["-c", "command -v git"] }).output()).stdout,
      ).trim();
      await Deno.writeTextFile(
        `${shim}/git`,
        `#!/bin/sh
echo "$1" >> '${shim}/log'
exec '${realGit}' "$@"
`,
      );
      await Deno.chmod(`${shim}/git`, 0o755);
      const push = await run(e, "bash", limited(`git push -q 'trunks::${url}' --all`), {
        cwd: a,
        env: { PATH: `${shim}:${e.env.PATH}` },
      });
      assertEquals(push.code, 0, push.stderr);
      const gits = (await Deno.readTextFile(`${shim}/log`)).trim().split("\n");
      assert(gits.length < 30, `the push ran ${gits.length} git processes: ${gits.join(" ")}`);
      const store = await openStore(url, local.settings);
      try {
        assertEquals(
          (await store.list(SNAPSHOT_PREFIX)).length,
          1,
          "the push's maintenance wrote one",
        );
        const dirs = [...Deno.readDirSync(`${new URL(url).pathname}/${REFS_PREFIX}`)]
          .filter((d) => d.isDirectory).length;
        // Format 1: a directory per ref (main, HEAD, the b's) and the snapshots'; format 2:
        // the snapshots' only.
        assertEquals(dirs, format === 1 ? REFS + 3 : 1, "directories under refs/");
      } finally {
        await store.close();
      }
      const dir = `${await Deno.makeTempDir()}/c`;
      // Another HOME: the pusher's cache holds every entry it wrote, and a clone from it
      // reads none of them, snapshot or not.
      const fresh = await makeEnv(local.env);
      const clone = await run(
        fresh,
        "bash",
        limited(`git clone -q --mirror 'trunks::${url}' '${dir}'`),
        { env: { TRUNKS_DEBUG_REQUESTS: "1" } },
      );
      assertEquals(clone.code, 0, clone.stderr);
      assertEquals(await refList(e, dir), await refList(e, a));
      // One GET per ref entry would be 20,000 of them: the snapshot makes it a handful.
      const counts = clone.stderr.split("\n").filter((l) => l.startsWith("trunks-requests "))
        .map((l) => JSON.parse(l.slice(l.indexOf("{"))));
      assert(counts.length > 0, clone.stderr);
      const gets = counts.reduce((n, c) => n + (c.requests?.["store.get"] ?? 0), 0);
      assert(gets < 50, `clone made ${gets} GETs:\n${clone.stderr}`);
      await git(e, dir, "fsck", "--no-dangling");
    },
  });
}

/**
 * The library needs no git binary: the example agents run in a child Deno whose PATH
 * has no git, against a trunk git pushed; then real git clones what they committed.
 * Killed mid-push (fault points), they leave the trunk intact and a rerun lands.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { e2eBackends, git, makeEnv, newRepo, ok, REPO_ROOT, trunkUrl } from "../e2e/harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function denoNoGit(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO_ROOT,
    clearEnv: true,
    env: { PATH: "/nonexistent", HOME: env.HOME, DENO_DIR: env.DENO_DIR, NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

for (const backend of e2eBackends().filter((b) => b.name === "local" || b.name === "minio")) {
  Deno.test({
    name: `sdk ${backend.name}: examples/agent.ts works with no git on PATH, git reads the result`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const childEnv = { ...e.env, ...backend.env, PATH: "/nonexistent" };
      // The child really cannot start git.
      const probe = await denoNoGit(
        ["eval", "new Deno.Command('git', { args: ['--version'] }).outputSync()"],
        childEnv,
      );
      assert(probe.code !== 0 && /NotFound|No such file/i.test(probe.stderr), probe.stderr);

      const repo = await newRepo(e);
      const url = await trunkUrl(backend, "agents");
      await git(e, repo, "push", "-q", `trunks::${url}`, "main");
      const run = await denoNoGit(["run", "-A", "examples/agent.ts", url, "7"], childEnv);
      assertEquals(run.code, 0, run.stderr);
      assertMatch(run.stdout, /agent-1 saved [0-9a-f]{12} on agent\/7/);
      assertMatch(run.stdout, /agent-2 picked up agent\/7/);
      const head = JSON.parse(run.stdout.trim().split("\n").pop()!).head;

      const clone = `${await Deno.makeTempDir({ prefix: "trunks-sdk-nogit-" })}/c`;
      await ok(e, "git", ["clone", "-q", "-b", "agent/7", `trunks::${url}`, clone]);
      await git(e, clone, "fsck", "--strict", "--no-dangling");
      assertEquals((await git(e, clone, "rev-parse", "HEAD")).trim(), head);
      assertEquals(
        (await git(e, clone, "log", "--format=%s")).trim().split("\n"),
        ["agent-2: finish task 7", "agent-1: plan for task 7", "first"],
      );
      assertEquals(
        await Deno.readTextFile(`${clone}/work/7/draft.txt`),
        "Summary: done, see plan.md.\n",
      );
      assertMatch(await Deno.readTextFile(`${clone}/work/7/plan.md`), /- \[x\] write the summary/);
    },
  });
}

for (const point of ["push:after-segments", "push:between-refs"]) {
  Deno.test({
    name: `sdk local: a writer killed at ${point} moves no ref; a rerun lands, git clones`,
    ...opts,
    fn: async () => {
      const e = await makeEnv();
      const repo = await newRepo(e);
      const url = await trunkUrl(e2eBackends()[0], "crash");
      await git(e, repo, "push", "-q", `trunks::${url}`, "main");
      const env = { ...e.env, PATH: "/nonexistent" };
      const killed = await denoNoGit(["run", "-A", "examples/agent.ts", url, "9"], {
        ...env,
        TRUNKS_FAULT: point,
      });
      assertEquals(killed.code, 137, `SIGKILLed at ${point}: ${killed.stderr}`);
      // The branch never appeared; the trunk is intact for git.
      const ls = await git(e, repo, "ls-remote", `trunks::${url}`);
      assert(!ls.includes("agent/9"), ls);
      const clone = `${await Deno.makeTempDir({ prefix: "trunks-sdk-crash-" })}/c`;
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, clone]);
      await git(e, clone, "fsck", "--strict", "--no-dangling");
      // A fresh process redoes the work.
      const rerun = await denoNoGit(["run", "-A", "examples/agent.ts", url, "9"], env);
      assertEquals(rerun.code, 0, rerun.stderr);
      await git(e, clone, "fetch", "-q");
      assertEquals(
        (await git(e, clone, "log", "--format=%s", "origin/agent/9")).trim().split("\n"),
        ["agent-2: finish task 9", "agent-1: plan for task 9", "first"],
      );
    },
  });
}

/**
 * The helper loads what `list` needs while git sends its options (helper.ts `preload`):
 * only loading, so what `list` answers, or the one line it fails with, is the same with
 * options before it as without, in a repository and outside one (`git ls-remote`), on
 * every backend under test and on a store that cannot be reached.
 */
import { assertEquals, assertMatch } from "../assert.ts";
import { e2eBackends, git, makeEnv, newRepo, run, trunksBinDir, trunkUrl } from "./harness.ts";
import type { Env } from "./harness.ts";

const OPTIONS = "option progress false\noption verbosity 1\noption object-format true\n";

/** The helper's answer to `list` (option answers left out), exit code and stderr. */
async function listed(e: Env, cwd: string, url: string, options: string) {
  const r = await run(e, `${await trunksBinDir()}/git-remote-trunks`, ["origin", url], {
    cwd,
    stdin: `capabilities\n${options}list\n\n`,
  });
  const lines = r.stdout.split("\n");
  // capabilities' answer ends at the first blank line; then one line per option.
  const options_ = options.split("\n").filter(Boolean).length;
  const after = lines.slice(lines.indexOf("") + 1);
  assertEquals(after.slice(0, options_).every((l) => l === "ok"), true, r.stdout);
  return { code: r.code, list: after.slice(options_).join("\n"), stderr: r.stderr };
}

for (const b of e2eBackends()) {
  Deno.test(`helper preload (${b.name}): list after options answers as list alone`, async () => {
    const e = await makeEnv(b.env);
    const url = await trunkUrl(b, `preload-${crypto.randomUUID().slice(0, 8)}`);
    const repo = await newRepo(e);
    await git(e, repo, "push", "-q", `trunks::${url}`, "main");
    const outside = await Deno.makeTempDir();
    for (const cwd of [repo, outside]) {
      const plain = await listed(e, cwd, url, "");
      const preloaded = await listed(e, cwd, url, OPTIONS);
      assertEquals(plain.code, 0, plain.stderr);
      assertMatch(plain.list, /refs\/heads\/main/);
      assertEquals(preloaded, { ...plain, list: `:object-format sha1\n${plain.list}` });
    }
  });
}

Deno.test("helper preload: an unreachable store fails list with the same one line", async () => {
  const e = await makeEnv({
    AWS_ACCESS_KEY_ID: "preload",
    AWS_SECRET_ACCESS_KEY: "preload-secret",
    AWS_REGION: "us-east-1",
    TRUNKS_STORE_TIMEOUT: "5",
  });
  const repo = await newRepo(e);
  // Nothing listens on port 9 (discard): the connection is refused.
  const url = "s3://bucket/t/app.trunk?endpoint=http%3A%2F%2F127.0.0.1%3A9";
  const plain = await listed(e, repo, url, "");
  const preloaded = await listed(e, repo, url, OPTIONS);
  assertEquals(plain.code, 128);
  assertMatch(plain.stderr, /^fatal: trunks: .*127\.0\.0\.1:9/m);
  assertEquals(preloaded, plain);
});

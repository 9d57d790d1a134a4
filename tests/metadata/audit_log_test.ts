/**
 * `trunks log` as an auditor uses it, through the real CLI and git: every acknowledged
 * ref update appears once, whatever its writer's name held; the text output cannot drive
 * the terminal and `--json`, one document, cannot either.
 */
import { assert, assertEquals } from "../assert.ts";
import { e2eBackends, type Env, git, makeEnv, newRepo, ok, run, trunkUrl } from "../e2e/harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
/** Local disk and the first server backend configured (MinIO in CI). */
const local = e2eBackends().find((b) => b.name === "local")!;
const backends = e2eBackends().filter((b, i) => b.name === "local" || i === 1);

/** What a terminal acts on (line breaks and tabs aside) or reorders text by. */
// deno-lint-ignore no-control-regex
const TERMINAL_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** A repository pushing to a fresh trunk on `b` as `origin`. */
async function pushedRepo(e: Env, url: string): Promise<string> {
  const a = await newRepo(e, "a");
  await git(e, a, "remote", "add", "origin", `trunks::${url}`);
  await git(e, a, "push", "-q", "origin", "main");
  return a;
}

interface Logged {
  ref: string;
  seq: number;
  writer: string;
  new: string;
}

for (const b of backends) {
  Deno.test({
    name:
      `${b.name}: a writer whose name holds control characters: the push is seen, logged once, harmlessly`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(b.env);
      const url = await trunkUrl(b, "writer");
      const a = await pushedRepo(e, url);
      await git(e, a, "commit", "-q", "--allow-empty", "-m", "two");
      const evil = "ev\u001b]0;pwned\u0007il\u001b[2J\nforged line\u009b31m\u202e";
      const pushed = await run(e, "git", ["push", "-q", "origin", "main"], {
        cwd: a,
        env: { USER: evil },
      });
      assertEquals(pushed.code, 0, pushed.stderr);
      const head = (await git(e, a, "rev-parse", "main")).trim();
      // Every reader sees the acknowledged push: the entry is not one readers skip.
      const listed = await ok(e, "git", ["ls-remote", `trunks::${url}`, "refs/heads/main"]);
      assertEquals(listed.trim(), `${head}\trefs/heads/main`);

      const r = await run(e, "trunks", ["log", "main", "--trunk", url, "--json"]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stderr, "", "no entry is skipped");
      const log: Logged[] = JSON.parse(r.stdout);
      assertEquals(log.map((x) => x.seq), [1, 2]);
      assertEquals(log[1].new, head);
      assert(!TERMINAL_CONTROL.test(log[1].writer), JSON.stringify(log[1].writer));
      assert(log[1].writer.includes("pwned") && log[1].writer.includes("forged line"));

      const text = await run(e, "trunks", ["log", "--trunk", url]);
      assertEquals(text.code, 0, text.stderr);
      assert(!TERMINAL_CONTROL.test(text.stdout), JSON.stringify(text.stdout));
      // One line per entry: main twice and HEAD once, nothing forged.
      assertEquals(text.stdout.trimEnd().split("\n").length, 3, text.stdout);
    },
  });
}

Deno.test({
  name: "local: a ref name or writer the readers accept is still escaped on the terminal",
  ...opts,
  fn: async () => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, "c1");
    const a = await pushedRepo(e, url);
    // git accepts C1 controls and bidi overrides in ref names; a terminal may act on them.
    const ref = "refs/heads/x\u009b2J\u202egnp.exe";
    await git(e, a, "push", "-q", "origin", `main:${ref}`);
    const text = await ok(e, "trunks", ["log", "--trunk", url]);
    assert(!TERMINAL_CONTROL.test(text), JSON.stringify(text));
    const json = await ok(e, "trunks", ["log", "--trunk", url, "--json"]);
    assert(!TERMINAL_CONTROL.test(json), JSON.stringify(json));
    const log: Logged[] = JSON.parse(json);
    assert(log.some((x) => x.ref === ref), "--json keeps the name as it is");
  },
});

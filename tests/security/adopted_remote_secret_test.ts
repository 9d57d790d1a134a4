/**
 * `trunks init` adopts the trunk URL of a remote made by plain git. A remote whose URL
 * carries a secret (added by hand: a plain `git clone` of it is refused) must not become
 * the saved primary: the URL was saved as is in the local database, copied into a second
 * git remote, and printed by init and by `trunks status --json`. Nor is a URL `trunks
 * clone` refuses shown with its secret.
 */
import { assert, assertMatch } from "../assert.ts";
import { git, makeEnv, run } from "../../harness/env.ts";

Deno.test("trunks init refuses to adopt a remote whose URL carries a secret, and shows it masked", async () => {
  const e = await makeEnv();
  const secret = "SEKRET-token-0123456789";
  const store = await Deno.makeTempDir();
  const dir = await Deno.makeTempDir();
  await git(e, dir, "init", "-q");
  await git(
    e,
    dir,
    "remote",
    "add",
    "origin",
    `trunks::local://${store}/trunks/app.trunk?token=${secret}`,
  );
  const r = await run(e, "trunks", ["init"], { cwd: dir });
  const status = await run(e, "trunks", ["status", "--json"], { cwd: dir });
  for (
    const [what, text] of [["init", r.stdout + r.stderr], ["status", status.stdout + status.stderr]]
  ) {
    assert(!text.includes(secret), `${what} printed the secret: ${text}`);
  }
  assert(r.code !== 0, "init adopted it");
  assertMatch(r.stderr, /carries a secret \(token\)/);
  // The user's own remote is all that holds it.
  const config = await Deno.readTextFile(`${dir}/.git/config`);
  assert(config.split(secret).length === 2, config);
  for await (const f of Deno.readDir(`${dir}/.trunks`)) {
    const bytes = new TextDecoder().decode(await Deno.readFile(`${dir}/.trunks/${f.name}`));
    assert(!bytes.includes(secret), `.trunks/${f.name} holds the secret`);
  }
});

Deno.test("trunks clone of a URL that names no trunk shows it masked", async () => {
  const e = await makeEnv();
  const secret = "SEKRET-token-0123456789";
  const store = await Deno.makeTempDir();
  const r = await run(e, "trunks", ["clone", `local://${store}/not-a-trunk?token=${secret}`], {
    cwd: await Deno.makeTempDir(),
  });
  assert(r.code !== 0, "clone accepted it");
  assertMatch(r.stderr, /does not name a trunk/);
  assert(!(r.stdout + r.stderr).includes(secret), r.stderr);
});

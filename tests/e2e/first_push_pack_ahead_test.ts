/**
 * A first push to a location with no trunk builds its pack while the trunk is created (the
 * probe and trunk.json's create: rounds on a network store), and uses that pack: git's
 * pack-objects runs once, and before trunk.json exists. The creation is held 1.5 s
 * (TRUNKS_FAULT_DELAY) so the order does not hang on timing; GIT_TRACE says when
 * pack-objects started.
 */
import { assert, assertEquals } from "../assert.ts";
import { git, makeEnv, newRepo, ok, run } from "./harness.ts";

Deno.test("e2e local: a first push builds its pack once, before trunk.json is created", async () => {
  const store = `${await Deno.makeTempDir({ prefix: "trunks-store-" })}/a.trunk`;
  const trace = `${await Deno.makeTempDir()}/trace`;
  const e = await makeEnv();
  const dir = await newRepo(e, "a");
  const r = await run(e, "git", ["push", "-q", `trunks::local://${store}`, "main"], {
    cwd: dir,
    env: { TRUNKS_FAULT_DELAY: "push:before-create:1500", GIT_TRACE: trace },
  });
  assertEquals(r.code, 0, r.stderr);
  const packs = (await Deno.readTextFile(trace)).split("\n")
    .filter((l) => /trace: (built-in|exec): git pack-objects /.test(l));
  assertEquals(packs.length, 1, packs.join("\n"));
  // GIT_TRACE's clock: local time of day, to the microsecond.
  const [h, m, s] = /^(\d\d):(\d\d):(\d\d\.\d+)/.exec(packs[0])!.slice(1).map(Number);
  const mtime = (await Deno.stat(`${store}/trunk.json`)).mtime!;
  const created = mtime.getHours() * 3600 + mtime.getMinutes() * 60 + mtime.getSeconds() +
    mtime.getMilliseconds() / 1000;
  // Without the build ahead: pack-objects starts after trunk.json's create.
  assert(h * 3600 + m * 60 + s < created - 0.5, `${packs[0]}\ntrunk.json at ${mtime}`);
  const b = `${await Deno.makeTempDir()}/b`;
  await ok(e, "git", ["clone", "-q", `trunks::local://${store}`, b]);
  assertEquals(await Deno.readTextFile(`${b}/README.md`), "hello\n");
  await git(e, b, "fsck", "--strict");
});

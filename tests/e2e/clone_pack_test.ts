/**
 * What a clone leaves in `.git/objects/pack` and tells git: the store's single segment
 * installed as it is (renamed into place, not joined or rewritten), its links checked by
 * index-pack as git's own clone does, and the helper's `lock` + `connectivity-ok` so git
 * skips walking every object again. A fetch into a repository that has objects vouches
 * for nothing, and no `.keep` outlives either.
 */
import { assert, assertEquals } from "../assert.ts";
import {
  commitFile,
  e2eBackends,
  type Env,
  git,
  makeEnv,
  newRepo,
  ok,
  trunksBinDir,
  trunkUrl,
} from "./harness.ts";

const local = e2eBackends().find((b) => b.name === "local")!;

/** A git-remote-trunks that appends what the helper tells git to `log`. */
async function recordingHelper(log: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "trunks-tee-" });
  await Deno.writeTextFile(
    `${dir}/git-remote-trunks`,
    `#!/bin/sh\n${JSON.stringify(`${await trunksBinDir()}/git-remote-trunks`)} "$@" | tee -a ${
      JSON.stringify(log)
    }\n`,
  );
  await Deno.chmod(`${dir}/git-remote-trunks`, 0o755);
  return dir;
}

function packFiles(dir: string, ext: string): string[] {
  return [...Deno.readDirSync(`${dir}/.git/objects/pack`)].map((f) => f.name)
    .filter((n) => n.endsWith(ext));
}

async function sha256(path: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function withHelper(e: Env, dir: string): Record<string, string> {
  return { PATH: `${dir}:${e.env.PATH}` };
}

Deno.test({
  name:
    "clone: the single segment is installed as stored, links checked, git told to skip its walk",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, "onepack");
    const remote = `trunks::${url}`;
    const a = await newRepo(e, "a");
    for (let i = 0; i < 4; i++) await commitFile(e, a, `f${i}.txt`, `v ${i}\n`);
    await git(e, a, "tag", "v1", "main~2");
    await git(e, a, "push", "-q", remote, "main", "v1");
    const segments = [...Deno.readDirSync(`${new URL(url).pathname}/segments`)]
      .map((f) => f.name).filter((n) => n.endsWith(".pack"));
    assertEquals(segments.length, 1, segments.join(" "));

    const log = `${await Deno.makeTempDir()}/helper-out.txt`;
    const helper = await recordingHelper(log);
    const c = `${await Deno.makeTempDir()}/c`;
    await ok(e, "git", ["clone", "-q", remote, c], { env: withHelper(e, helper) });
    const said = await Deno.readTextFile(log);
    const lock = /^lock (.+)$/m.exec(said)?.[1];
    assert(lock, `the helper names the pack's keep:\n${said}`);
    assert(/^connectivity-ok$/m.test(said), `the helper vouches for the pack:\n${said}`);

    const packs = packFiles(c, ".pack");
    assertEquals(packs.length, 1, packs.join(" "));
    assertEquals(lock, `${c}/.git/objects/pack/${packs[0].replace(/\.pack$/, ".keep")}`);
    assertEquals(packFiles(c, ".keep"), [], "git removed the keep once its refs were written");
    // The store's pack itself (a segment is named by its SHA-256), not a rewritten copy.
    assertEquals(
      `${await sha256(`${c}/.git/objects/pack/${packs[0]}`)}.pack`,
      segments[0],
      "the segment is installed without a join",
    );
    await git(e, c, "fsck", "--strict", "--no-dangling");
    assertEquals(
      (await git(e, c, "rev-parse", "HEAD", "v1")).trim(),
      (await git(e, a, "rev-parse", "main", "v1")).trim(),
    );

    // A fetch into a repository with objects: its pack names objects outside it, so
    // nothing is vouched for and git walks as always; no keep is left either.
    await commitFile(e, a, "g.txt", "g\n");
    await git(e, a, "push", "-q", remote, "main");
    await Deno.writeTextFile(log, "");
    await ok(e, "git", ["fetch", "-q", "origin"], { cwd: c, env: withHelper(e, helper) });
    const fetched = await Deno.readTextFile(log);
    assert(!/^(lock |connectivity-ok)/m.test(fetched), `a fetch vouches for nothing:\n${fetched}`);
    assertEquals(packFiles(c, ".pack").length, 2);
    assertEquals(packFiles(c, ".keep"), []);
    await git(e, c, "fsck", "--strict", "--no-dangling");
  },
});

Deno.test({
  name: "clone of several segments: after index-pack, the helper starts no git to find its tips",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, "tips");
    const remote = `trunks::${url}`;
    const a = await newRepo(e, "a");
    for (let i = 0; i < 3; i++) {
      await commitFile(e, a, `f${i}.txt`, `v ${i}\n`);
      await git(e, a, "push", "-q", remote, "main");
    }
    const trace = `${await Deno.makeTempDir()}/trace.txt`;
    const c = `${await Deno.makeTempDir()}/c`;
    await ok(e, "git", ["clone", "-q", remote, c], { env: { GIT_TRACE: trace } });
    const ran = (await Deno.readTextFile(trace)).split("\n")
      .flatMap((l) => /trace: built-in: git (.*)$/.exec(l)?.[1] ?? []);
    assert(ran.some((c) => c.startsWith("index-pack")), ran.join("\n"));
    // The tips are in the pack the helper just installed (index-pack vouched for them):
    // neither `cat-file` for which are held nor a commit walk is needed.
    assert(!ran.some((c) => c.startsWith("cat-file")), ran.join("\n"));
    assert(!ran.some((c) => c.startsWith("rev-list --stdin")), ran.join("\n"));
    assertEquals(packFiles(c, ".pack").length, 1);
    assertEquals(
      (await git(e, c, "rev-parse", "HEAD")).trim(),
      (await git(e, a, "rev-parse", "main")).trim(),
    );
    await git(e, c, "fsck", "--strict", "--no-dangling");
  },
});

/**
 * Bad input and crashes against the core on local disk: one clear line, non-zero exit,
 * the local repository and the trunk unharmed, and a retry that works.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { commitFile, git, makeEnv, newRepo, ok, run } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function setup() {
  const e = await makeEnv();
  const root = await Deno.makeTempDir({ prefix: "trunks-store-" });
  const path = `${root}/trunks/app.trunk`;
  const remote = `trunks::local://${path}`;
  const a = await newRepo(e, "a");
  await git(e, a, "push", "-q", remote, "main");
  return { e, root, path, remote, a };
}

/** The last line git prints from us, which must be the one naming the problem. */
function trunksLine(stderr: string): string {
  return stderr.split("\n").find((l) => l.startsWith("fatal: trunks:")) ?? "";
}

Deno.test({
  name: "bad input: missing store path, URL that is not a trunk, unknown scheme",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const a = await newRepo(e, "a");
    const missing = await run(e, "git", [
      "push",
      "trunks::local:///nonexistent-trunks-root/trunks/x.trunk",
      "main",
    ], {
      cwd: a,
    });
    assert(missing.code !== 0);
    assertMatch(
      trunksLine(missing.stderr),
      /store path \/nonexistent-trunks-root does not exist; create it or fix the URL/,
    );
    const notTrunk = await run(e, "git", [
      "ls-remote",
      `trunks::local://${await Deno.makeTempDir()}`,
    ], { cwd: a });
    assert(notTrunk.code !== 0);
    assertMatch(trunksLine(notTrunk.stderr), /is not a trunk URL: it must end in \/<name>\.trunk/);
    const scheme = await run(e, "git", ["ls-remote", "trunks::nosuch://bucket/trunks/x.trunk"], {
      cwd: a,
    });
    assert(scheme.code !== 0);
    assertMatch(trunksLine(scheme.stderr), /unknown storage scheme "nosuch:"/);
    const empty = await run(e, "git", [
      "clone",
      `trunks::local://${await Deno.makeTempDir()}/trunks/none.trunk`,
      "x",
    ], {
      cwd: await Deno.makeTempDir(),
    });
    assert(empty.code !== 0);
    assertMatch(trunksLine(empty.stderr), /no trunk at .* \(no trunk\.json\)/);
  },
});

Deno.test({
  name: "bad input: a corrupted segment is named, and the fetching repository is unharmed",
  ...opts,
  fn: async () => {
    const { e, path, remote, a } = await setup();
    const b = `${await Deno.makeTempDir()}/b`;
    await ok(e, "git", ["clone", "-q", remote, b]);
    const before = await git(e, b, "rev-parse", "origin/main");
    await commitFile(e, a, "new.txt", "new\n");
    await git(e, a, "push", "-q", remote, "main");
    // Flip one byte in the newest segment.
    const segs = [];
    for await (const f of Deno.readDir(`${path}/segments`)) {
      if (f.name.endsWith(".pack")) {
        segs.push({ name: f.name, mtime: (await Deno.stat(`${path}/segments/${f.name}`)).mtime! });
      }
    }
    segs.sort((x, y) => y.mtime.getTime() - x.mtime.getTime());
    const victim = `${path}/segments/${segs[0].name}`;
    const bytes = await Deno.readFile(victim);
    bytes[bytes.length >> 1] ^= 0xff;
    await Deno.writeFile(victim, bytes);
    const r = await run(e, "git", ["fetch", "origin"], { cwd: b });
    assert(r.code !== 0);
    assertMatch(
      trunksLine(r.stderr),
      new RegExp(`segment segments/${segs[0].name.replace(".", "\\.")} on .* is corrupt`),
    );
    assertEquals(await git(e, b, "rev-parse", "origin/main"), before);
    await git(e, b, "fsck", "--strict", "--no-dangling");
    const leftovers = [...Deno.readDirSync(`${b}/.git/objects/pack`)].filter((f) =>
      f.name.startsWith("tmp_")
    );
    assertEquals(leftovers, []);
  },
});

Deno.test({
  name: "bad input: a truncated ref entry is named; nothing changes",
  ...opts,
  fn: async () => {
    const { e, path, remote, a } = await setup();
    const entry = `${path}/refs/refs=2fheads=2fmain/000000000001`;
    const text = await Deno.readTextFile(entry);
    await Deno.writeTextFile(entry, text.slice(0, 20));
    const r = await run(e, "git", ["ls-remote", remote], { cwd: a });
    assert(r.code !== 0);
    assertMatch(
      trunksLine(r.stderr),
      /ref entry refs\/refs=2fheads=2fmain\/000000000001 is not valid JSON/,
    );
    const c = await run(e, "git", ["clone", remote, "c"], { cwd: await Deno.makeTempDir() });
    assert(c.code !== 0);
  },
});

Deno.test({
  name: "kill -9 at each push step: ref is old or new, retry succeeds, fsck clean",
  ...opts,
  fn: async () => {
    for (const point of ["push:after-pack", "push:after-segments", "push:between-refs"]) {
      const { e, remote, a } = await setup();
      const old = (await git(e, a, "rev-parse", "main")).trim();
      await commitFile(e, a, "k.txt", `${point}\n`);
      const died = await run(e, "git", ["push", remote, "main"], {
        cwd: a,
        env: { TRUNKS_FAULT: point },
      });
      assert(died.code !== 0, `${point}: push should have died`);
      const ls = await git(e, a, "ls-remote", remote, "refs/heads/main");
      assertEquals(ls.split("\t")[0], old, point);
      await git(e, a, "push", "-q", remote, "main");
      const c = `${await Deno.makeTempDir()}/c`;
      await ok(e, "git", ["clone", "-q", remote, c]);
      assertEquals(await git(e, c, "rev-parse", "HEAD"), await git(e, a, "rev-parse", "main"));
      await git(e, c, "fsck", "--strict", "--no-dangling");
    }
  },
});

Deno.test({
  name: "kill -9 mid-fetch: nothing half-installed, the next fetch completes",
  ...opts,
  fn: async () => {
    const { e, remote, a } = await setup();
    const b = `${await Deno.makeTempDir()}/b`;
    await ok(e, "git", ["clone", "-q", remote, b]);
    await commitFile(e, a, "f.txt", "f\n");
    await git(e, a, "push", "-q", remote, "main");
    const died = await run(e, "git", ["fetch", "origin"], {
      cwd: b,
      env: { TRUNKS_FAULT: "fetch:after-download" },
    });
    assert(died.code !== 0);
    await git(e, b, "fetch", "-q", "origin");
    assertEquals(await git(e, b, "rev-parse", "origin/main"), await git(e, a, "rev-parse", "main"));
    await git(e, b, "fsck", "--strict", "--no-dangling");
  },
});

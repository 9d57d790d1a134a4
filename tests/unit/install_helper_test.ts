import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import {
  findHelper,
  HELPER_NAME,
  helperOnPath,
  helperScript,
  installHelper,
  selfCommand,
  shQuote,
} from "../../src/cli/install_helper.ts";
import { DENO_RUN_ARGS } from "../../src/helper/self.ts";

const posix = Deno.build.os !== "windows";

/** A stand-in for the trunks binary: prints its arguments one per line. */
async function fakeTrunks(dir: string, name = "trunks"): Promise<string> {
  const p = join(dir, name);
  await Deno.writeTextFile(p, `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done\n`);
  await Deno.chmod(p, 0o755);
  return p;
}

async function run(cmd: string, args: string[], env?: Record<string, string>) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("helper script is two lines: #!/bin/sh and exec trunks remote-helper", () => {
  assertEquals(
    helperScript("/opt/bin/trunks"),
    `#!/bin/sh\nexec '/opt/bin/trunks' remote-helper "$@"\n`,
  );
  assertEquals(
    helperScript("/usr/bin/deno", ["run", "-A", "/src/main.ts"]),
    `#!/bin/sh\nexec '/usr/bin/deno' 'run' '-A' '/src/main.ts' remote-helper "$@"\n`,
  );
  assertEquals(shQuote("it's"), `'it'\\''s'`);
});

Deno.test({
  name: "installed helper execs trunks remote-helper with git's arguments",
  ignore: !posix,
  fn: async () => {
    const tmp = await Deno.makeTempDir();
    try {
      // Spaces, quotes and $ in the path must survive the shell.
      const binDir = join(tmp, `it's a "dir" $HOME`);
      await Deno.mkdir(binDir);
      const trunks = await fakeTrunks(binDir);
      const helper = await installHelper(join(tmp, "helpers"), trunks);
      assertEquals(helper, join(tmp, "helpers", HELPER_NAME));
      const lines = (await Deno.readTextFile(helper)).split("\n");
      assertEquals(lines.length, 3); // two lines and the final newline
      assertEquals((await Deno.stat(helper)).mode! & 0o777, 0o755);
      const r = await run(helper, ["origin", "trunks::local:///x/trunks/r.trunk"]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, "remote-helper\norigin\ntrunks::local:///x/trunks/r.trunk\n");
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "installHelper is idempotent and leaves no temp files",
  ignore: !posix,
  fn: async () => {
    const tmp = await Deno.makeTempDir();
    try {
      const trunks = await fakeTrunks(tmp);
      const dir = join(tmp, "bin");
      const first = await installHelper(dir, trunks);
      const before = await Deno.stat(first);
      const second = await installHelper(dir, trunks);
      assertEquals(second, first);
      const after = await Deno.stat(second);
      // Unchanged content is not rewritten (same inode, same mtime).
      assertEquals(after.ino, before.ino);
      assertEquals(after.mtime?.getTime(), before.mtime?.getTime());
      const names = [];
      for await (const e of Deno.readDir(dir)) names.push(e.name);
      assertEquals(names, [HELPER_NAME]);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "installHelper replaces an old symlink or a stale shim in one rename",
  ignore: !posix,
  fn: async () => {
    const tmp = await Deno.makeTempDir();
    try {
      const oldTrunks = await fakeTrunks(tmp, "old-trunks");
      const newTrunks = await fakeTrunks(tmp, "new-trunks");
      const dir = join(tmp, "bin");
      await Deno.mkdir(dir);
      await Deno.symlink(oldTrunks, join(dir, HELPER_NAME));
      const helper = await installHelper(dir, newTrunks);
      assert(!(await Deno.lstat(helper)).isSymlink, "the symlink itself is replaced");
      // ...and its old target is not written through.
      assert((await Deno.readTextFile(oldTrunks)).includes("printf"));
      assertEquals(await Deno.readTextFile(helper), helperScript(newTrunks));
      // A shim pointing elsewhere is rewritten too.
      await installHelper(dir, oldTrunks);
      assertEquals(await Deno.readTextFile(helper), helperScript(oldTrunks));
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("installHelper makes a relative trunks path absolute", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const helper = await installHelper(tmp, "some/relative/trunks");
    const text = await Deno.readTextFile(helper);
    assert(text.includes(`'${join(Deno.cwd(), "some/relative/trunks")}'`), text);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("installHelper fails with one line naming the directory", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const file = join(tmp, "a-file");
    await Deno.writeTextFile(file, "");
    const err = await assertRejects(() => installHelper(join(file, "bin"), "/x/trunks"));
    assert(!err.message.includes("\n"), err.message);
    assertMatch(err.message, /^install-helper: cannot write .*a-file\/bin\/git-remote-trunks: /);
    assertMatch(err.message, /trunks install-helper ~\/\.local\/bin$/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test({
  name: "helperOnPath finds the helper on PATH and not elsewhere",
  ignore: !posix,
  fn: async () => {
    const tmp = await Deno.makeTempDir();
    try {
      const empty = join(tmp, "empty");
      await Deno.mkdir(empty);
      const bin = join(tmp, "bin");
      // No git either: only PATH is searched, and it holds nothing.
      assertEquals(await helperOnPath(empty), false);
      const helper = await installHelper(bin, "/x/trunks");
      assertEquals(await helperOnPath(`${empty}:${bin}`), true);
      assertEquals(await findHelper(`${empty}:${bin}`), helper);
      // A non-executable file of that name is not something git can run.
      await Deno.chmod(helper, 0o644);
      assertEquals(await helperOnPath(`${empty}:${bin}`), false);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("helperOnPath uses the process PATH by default", async () => {
  // Whatever this machine has, the default must agree with passing PATH explicitly.
  assertEquals(await helperOnPath(), await helperOnPath(Deno.env.get("PATH") ?? ""));
});

Deno.test({
  name: "helperOnPath also searches git --exec-path",
  ignore: !posix,
  fn: async () => {
    const tmp = await Deno.makeTempDir();
    try {
      // A fake git whose exec-path is a directory holding the helper.
      const fakeGitDir = join(tmp, "gitbin");
      const execDir = join(tmp, "git-core");
      await Deno.mkdir(fakeGitDir);
      await Deno.writeTextFile(
        join(fakeGitDir, "git"),
        `#!/bin/sh\n[ "$1" = --exec-path ] && echo '${execDir}'\n`,
      );
      await Deno.chmod(join(fakeGitDir, "git"), 0o755);
      assertEquals(await helperOnPath(fakeGitDir), false);
      const helper = await installHelper(execDir, "/x/trunks");
      assertEquals(await findHelper(fakeGitDir), helper);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("selfCommand re-runs main.ts through deno when not compiled", async () => {
  const cmd = selfCommand();
  assertEquals(cmd.path, Deno.execPath());
  assertEquals(cmd.args.slice(0, -1), DENO_RUN_ARGS);
  const main = cmd.args.at(-1)!;
  assert((await Deno.stat(main)).isFile, main);
  assert(main.endsWith("main.ts"));
});

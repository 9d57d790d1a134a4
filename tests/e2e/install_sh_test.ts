/**
 * scripts/install.sh against a fake release served on loopback: which asset it picks,
 * what it refuses, and what it leaves behind. The fake `trunks-<target>` assets are small
 * shell scripts that print their version and target, so the installed file tells which
 * asset was chosen.
 */
import { createHash } from "node:crypto";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import { helperScript } from "../../src/cli/install_helper.ts";

const SCRIPT = fileURLToPath(new URL("../../scripts/install.sh", import.meta.url));
const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];
const posix = Deno.build.os !== "windows";
const HOST_PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";

function assetName(target: string): string {
  return `trunks-${target}${target.includes("windows") ? ".exe" : ""}`;
}

function fakeTrunks(version: string, target: string): string {
  return `#!/bin/sh\nif [ "$1" = --version ]; then echo "trunks ${version} (${target})"; exit 0; fi\n` +
    `echo "trunks ${target}: $*"\n`;
}

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

interface ReleaseOpts {
  /** Serve this target's asset with bytes that do not match SHA256SUMS. */
  corrupt?: string;
  /** Leave this target out of SHA256SUMS. */
  unlisted?: string;
}

/** path -> bytes of one release, under `/releases/<prefix>/`. */
function release(prefix: string, version: string, opts: ReleaseOpts = {}) {
  const files = new Map<string, string>();
  const sums: string[] = [];
  for (const t of TARGETS) {
    const body = fakeTrunks(version, t);
    if (t !== opts.unlisted) sums.push(`${sha256(body)}  ${assetName(t)}`);
    files.set(`/releases/${prefix}/${assetName(t)}`, t === opts.corrupt ? body + "# evil\n" : body);
  }
  files.set(`/releases/${prefix}/SHA256SUMS`, sums.join("\n") + "\n");
  return files;
}

interface Server {
  url: string;
  requests: { path: string; agent: string }[];
  close(): Promise<void>;
}

function serve(files: Map<string, string>): Server {
  const requests: { path: string; agent: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    requests.push({ path, agent: req.headers.get("user-agent") ?? "" });
    const body = files.get(path);
    return body === undefined
      ? new Response("not found\n", { status: 404 })
      : new Response(body, { headers: { "content-type": "application/octet-stream" } });
  });
  const { port } = server.addr as Deno.NetAddr;
  return { url: `http://127.0.0.1:${port}/releases`, requests, close: () => server.shutdown() };
}

interface RunOpts {
  args?: string[];
  /** The shell to run it with (macOS's /bin/sh is bash); default sh (dash on Debian). */
  shell?: string;
  path?: string;
  installDir: string;
  releaseUrl: string;
  home: string;
  /** Feed the script on stdin, as `curl ... | sh -s -- ARGS` does. */
  piped?: boolean;
}

async function installSh(o: RunOpts) {
  const args = o.piped ? ["-s", "--", ...(o.args ?? [])] : [SCRIPT, ...(o.args ?? [])];
  const child = new Deno.Command(o.shell ?? "sh", {
    args,
    clearEnv: true,
    env: {
      PATH: o.path ?? HOST_PATH,
      HOME: o.home,
      TRUNKS_RELEASE_URL: o.releaseUrl,
      TRUNKS_INSTALL_DIR: o.installDir,
    },
    stdin: o.piped ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (o.piped) {
    const w = child.stdin.getWriter();
    await w.write(await Deno.readFile(SCRIPT));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function run(cmd: string, args: string[] = []) {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  return new TextDecoder().decode(out.stdout);
}

async function listDir(dir: string): Promise<string[] | null> {
  try {
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    return names.sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** A PATH whose first directory holds a fake `uname` reporting this OS and machine. */
async function fakeUname(dir: string, os: string, machine: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "uname"),
    `#!/bin/sh\ncase "$1" in -m) echo '${machine}' ;; *) echo '${os}' ;; esac\n`,
  );
  await Deno.chmod(join(dir, "uname"), 0o755);
  return `${dir}${delimiter}${HOST_PATH}`;
}

/** Every command on PATH except `curl`, linked into one directory. */
async function pathWithout(dir: string, omit: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const seen = new Set<string>();
  for (const d of HOST_PATH.split(delimiter)) {
    const names = await listDir(d).catch(() => null);
    for (const name of names ?? []) {
      if (name === omit || seen.has(name)) continue;
      seen.add(name);
      await Deno.symlink(join(d, name), join(dir, name));
    }
  }
  return dir;
}

function hostTarget(): string | null {
  return TARGETS.includes(Deno.build.target) ? Deno.build.target : null;
}

/** A temp dir, a server over `files`, and cleanup of both. */
async function withRelease(
  files: Map<string, string>,
  fn: (ctx: { tmp: string; srv: Server; dir: string }) => Promise<void>,
) {
  const tmp = await Deno.makeTempDir({ prefix: "trunks-install-" });
  const srv = serve(files);
  try {
    await fn({ tmp, srv, dir: join(tmp, "home", ".local", "bin") });
  } finally {
    await srv.close();
    await Deno.remove(tmp, { recursive: true });
  }
}

function latest(version = "0.2.0", opts?: ReleaseOpts) {
  return release("latest/download", version, opts);
}

Deno.test({
  name: "install.sh installs the host's asset and a working helper shim",
  ignore: !posix || hostTarget() === null,
  fn: () =>
    withRelease(latest(), async ({ tmp, srv, dir }) => {
      const r = await installSh({ installDir: dir, releaseUrl: srv.url, home: join(tmp, "home") });
      assertEquals(r.code, 0, r.stderr);
      const target = hostTarget()!;
      assertEquals(await listDir(dir), ["git-remote-trunks", "trunks"]);
      assertEquals(
        (await run(join(dir, "trunks"), ["--version"])).trim(),
        `trunks 0.2.0 (${target})`,
      );
      assertEquals(
        srv.requests.map((q) => q.path).sort(),
        [`/releases/latest/download/${assetName(target)}`, "/releases/latest/download/SHA256SUMS"]
          .sort(),
      );
      // The shim is byte for byte what `trunks install-helper` writes, and it works.
      const helper = join(dir, "git-remote-trunks");
      assertEquals(await Deno.readTextFile(helper), helperScript(join(dir, "trunks")));
      assertEquals(
        (await run(helper, ["origin", "trunks::local:///t/r.trunk"])).trim(),
        `trunks ${target}: remote-helper origin trunks::local:///t/r.trunk`,
      );
      // Not on PATH: say what to add.
      assertStringIncludes(r.stdout, `export PATH="${dir}:$PATH"`);
    }),
});

Deno.test({
  name: "install.sh picks the Darwin arm64 asset on a Mac (faked uname)",
  ignore: !posix,
  fn: () =>
    withRelease(latest(), async ({ tmp, srv, dir }) => {
      const path = await fakeUname(join(tmp, "shim"), "Darwin", "arm64");
      const r = await installSh({ installDir: dir, releaseUrl: srv.url, home: tmp, path });
      assertEquals(r.code, 0, r.stderr);
      assertEquals(
        (await run(join(dir, "trunks"), ["--version"])).trim(),
        "trunks 0.2.0 (aarch64-apple-darwin)",
      );
    }),
});

Deno.test({
  name: "install.sh picks the Windows asset under Git Bash (faked uname)",
  ignore: !posix,
  fn: () =>
    withRelease(latest(), async ({ tmp, srv, dir }) => {
      const path = await fakeUname(join(tmp, "shim"), "MINGW64_NT-10.0-19045", "x86_64");
      const r = await installSh({ installDir: dir, releaseUrl: srv.url, home: tmp, path });
      assertEquals(r.code, 0, r.stderr);
      assertEquals(await listDir(dir), [
        "git-remote-trunks",
        "git-remote-trunks.cmd",
        "trunks.exe",
      ]);
      assertEquals(
        (await run(join(dir, "trunks.exe"), ["--version"])).trim(),
        "trunks 0.2.0 (x86_64-pc-windows-msvc)",
      );
      assertEquals(
        await Deno.readTextFile(join(dir, "git-remote-trunks.cmd")),
        `@echo off\r\n"${dir}/trunks.exe" remote-helper %*\r\n`,
      );
    }),
});

Deno.test({
  name: "install.sh refuses an unknown architecture in one line, before downloading",
  ignore: !posix,
  fn: () =>
    withRelease(latest(), async ({ tmp, srv, dir }) => {
      const path = await fakeUname(join(tmp, "shim"), "Linux", "riscv64");
      const r = await installSh({ installDir: dir, releaseUrl: srv.url, home: tmp, path });
      assertEquals(r.code, 1);
      assertEquals(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assertMatch(r.stderr, /^install\.sh: unsupported architecture 'riscv64' \(Linux\)/);
      assertEquals(srv.requests, []);
      assertEquals(await listDir(dir), null);
    }),
});

Deno.test({
  name: "install.sh refuses a bad checksum and installs nothing",
  ignore: !posix || hostTarget() === null,
  fn: () =>
    withRelease(latest("0.2.0", { corrupt: hostTarget()! }), async ({ tmp, srv, dir }) => {
      const r = await installSh({ installDir: dir, releaseUrl: srv.url, home: tmp });
      assertEquals(r.code, 1);
      assertEquals(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assertMatch(r.stderr, /checksum mismatch for trunks-.* nothing was installed/);
      assertEquals(await listDir(dir), null);
    }),
});

Deno.test({
  name: "install.sh keeps an existing install when the new download is bad",
  ignore: !posix || hostTarget() === null,
  fn: async () => {
    const good = latest("0.2.0");
    const files = new Map([
      ...good,
      ...release("download/v0.3.0", "0.3.0", { corrupt: hostTarget()! }),
    ]);
    await withRelease(files, async ({ tmp, srv, dir }) => {
      const ok = await installSh({ installDir: dir, releaseUrl: srv.url, home: tmp });
      assertEquals(ok.code, 0, ok.stderr);
      const before = await Deno.readTextFile(join(dir, "trunks"));
      const r = await installSh({
        installDir: dir,
        releaseUrl: srv.url,
        home: tmp,
        args: ["--version", "v0.3.0"],
      });
      assertEquals(r.code, 1);
      assertMatch(r.stderr, /checksum mismatch/);
      assertEquals(await Deno.readTextFile(join(dir, "trunks")), before);
      assertEquals(await listDir(dir), ["git-remote-trunks", "trunks"]);
    });
  },
});

Deno.test({
  name: "install.sh refuses an asset that SHA256SUMS does not list",
  ignore: !posix || hostTarget() === null,
  fn: () =>
    withRelease(latest("0.2.0", { unlisted: hostTarget()! }), async ({ tmp, srv, dir }) => {
      const r = await installSh({ installDir: dir, releaseUrl: srv.url, home: tmp });
      assertEquals(r.code, 1);
      assertMatch(r.stderr, /SHA256SUMS at .* lists no trunks-.*; nothing was installed/);
      assertEquals(await listDir(dir), null);
    }),
});

Deno.test({
  name: "install.sh --version pins the release path",
  ignore: !posix || hostTarget() === null,
  fn: async () => {
    const files = new Map([...latest("0.2.0"), ...release("download/v0.1.0", "0.1.0")]);
    await withRelease(files, async ({ tmp, srv, dir }) => {
      for (const pin of [["--version", "v0.1.0"], ["--version=0.1.0"]]) {
        srv.requests.length = 0;
        const r = await installSh({ installDir: dir, releaseUrl: srv.url, home: tmp, args: pin });
        assertEquals(r.code, 0, r.stderr);
        assert(srv.requests.every((q) => q.path.startsWith("/releases/download/v0.1.0/")));
        assertStringIncludes(
          await run(join(dir, "trunks"), ["--version"]),
          "trunks 0.1.0",
        );
      }
    });
  },
});

Deno.test({
  name: "install.sh reinstall is idempotent and quiet about PATH when the dir is on it",
  ignore: !posix || hostTarget() === null,
  fn: () =>
    withRelease(latest(), async ({ tmp, srv, dir }) => {
      const path = `${dir}${delimiter}${HOST_PATH}`;
      const first = await installSh({ installDir: dir, releaseUrl: srv.url, home: tmp, path });
      assertEquals(first.code, 0, first.stderr);
      const bin = await Deno.stat(join(dir, "trunks"));
      const helper = await Deno.readTextFile(join(dir, "git-remote-trunks"));
      const second = await installSh({ installDir: dir, releaseUrl: srv.url, home: tmp, path });
      assertEquals(second.code, 0, second.stderr);
      assertStringIncludes(second.stdout, "already this build");
      assert(!second.stdout.includes("not on your PATH"), second.stdout);
      assertEquals(await listDir(dir), ["git-remote-trunks", "trunks"]);
      assertEquals((await Deno.stat(join(dir, "trunks"))).ino, bin.ino);
      assertEquals(await Deno.readTextFile(join(dir, "git-remote-trunks")), helper);
    }),
});

Deno.test({
  name: "install.sh runs piped into sh, as curl | sh does",
  ignore: !posix || hostTarget() === null,
  fn: () =>
    withRelease(latest(), async ({ tmp, srv, dir }) => {
      const r = await installSh({ installDir: dir, releaseUrl: srv.url, home: tmp, piped: true });
      assertEquals(r.code, 0, r.stderr);
      assertStringIncludes(await run(join(dir, "trunks"), ["--version"]), "trunks 0.2.0");
    }),
});

Deno.test({
  name: "install.sh defaults to ~/.local/bin",
  ignore: !posix || hostTarget() === null,
  fn: () =>
    withRelease(latest(), async ({ tmp, srv }) => {
      const home = join(tmp, "h");
      const child = new Deno.Command("sh", {
        args: [SCRIPT],
        clearEnv: true,
        env: { PATH: HOST_PATH, HOME: home, TRUNKS_RELEASE_URL: srv.url },
        stdout: "piped",
        stderr: "piped",
      });
      const out = await child.output();
      assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
      assertEquals(await listDir(join(home, ".local", "bin")), ["git-remote-trunks", "trunks"]);
    }),
});

async function ensureWget(): Promise<boolean> {
  const has = async () => (await run("sh", ["-c", "command -v wget || true"])).trim() !== "";
  if (await has()) return true;
  if (!Deno.env.get("CI")) {
    console.error("skipping the wget test: wget is not installed (apt-get install -y wget)");
    return false;
  }
  // CI must not skip: install it the way the test servers install their packages.
  for (const args of [["update"], ["install", "-y", "wget"]]) {
    await new Deno.Command("apt-get", { args, stdout: "null", stderr: "null" }).output()
      .catch(() => null);
  }
  if (!(await has())) throw new Error("CI: wget is missing and apt-get could not install it");
  return true;
}

Deno.test({
  name: "install.sh uses wget when curl is absent",
  ignore: !posix || hostTarget() === null,
  fn: async () => {
    if (!(await ensureWget())) return;
    await withRelease(latest(), async ({ tmp, srv, dir }) => {
      const path = await pathWithout(join(tmp, "nocurl"), "curl");
      const r = await installSh({ installDir: dir, releaseUrl: srv.url, home: tmp, path });
      assertEquals(r.code, 0, r.stderr);
      assert(srv.requests.length === 2);
      for (const q of srv.requests) assertMatch(q.agent, /^Wget\//);
      assertStringIncludes(await run(join(dir, "trunks"), ["--version"]), "trunks 0.2.0");
    });
  },
});

Deno.test({
  name: "install.sh without curl or wget says so in one line",
  ignore: !posix || hostTarget() === null,
  fn: () =>
    withRelease(latest(), async ({ tmp, srv, dir }) => {
      const path = await pathWithout(join(tmp, "nocurl"), "curl");
      await Deno.remove(join(path, "wget")).catch(() => {});
      const r = await installSh({ installDir: dir, releaseUrl: srv.url, home: tmp, path });
      assertEquals(r.code, 1);
      assertEquals(
        r.stderr,
        "install.sh: neither curl nor wget is installed; install one of them and run this again\n",
      );
      assertEquals(await listDir(dir), null);
    }),
});

Deno.test({
  name: "install.sh runs under bash too (macOS's /bin/sh)",
  ignore: !posix || hostTarget() === null,
  fn: () =>
    withRelease(latest(), async ({ tmp, srv, dir }) => {
      const bash = (await run("sh", ["-c", "command -v bash || true"])).trim();
      if (!bash) return;
      const r = await installSh({ installDir: dir, releaseUrl: srv.url, home: tmp, shell: bash });
      assertEquals(r.code, 0, r.stderr);
      assertEquals(
        await Deno.readTextFile(join(dir, "git-remote-trunks")),
        helperScript(join(dir, "trunks")),
      );
    }),
});

Deno.test({
  name: "install.sh names the URL when a pinned version does not exist",
  ignore: !posix || hostTarget() === null,
  fn: () =>
    withRelease(latest(), async ({ tmp, srv, dir }) => {
      const r = await installSh({
        installDir: dir,
        releaseUrl: srv.url,
        home: tmp,
        args: ["--version", "v9.9.9"],
      });
      assertEquals(r.code, 1);
      assertEquals(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assertMatch(
        r.stderr,
        /download failed: http:\/\/127\.0\.0\.1:\d+\/releases\/download\/v9\.9\.9\/SHA256SUMS/,
      );
      assertEquals(await listDir(dir), null);
    }),
});

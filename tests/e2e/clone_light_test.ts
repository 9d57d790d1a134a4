/**
 * A clone of a small trunk loads neither node:crypto nor Deno's `process` global (which
 * reaching node:crypto touches): ~30 ms of a helper's CPU, more under load. Its hashes
 * (trunk.json's and the ref entries' seals, segment SHA-256s, pack trailers, pack
 * indexes) are of bytes held in memory, hashed by WebCrypto (src/pack/hash.ts); node:timers
 * loads only for a listing long enough to need an event-loop turn (src/storage/local.ts).
 * The helper runs behind a launcher that reports the first touch of those globals.
 */
import { assert, assertEquals } from "../assert.ts";
import { DENO_RUN_ARGS } from "../../src/helper/self.ts";
import { commitFile, e2eBackends, git, makeEnv, newRepo, REPO_ROOT, trunkUrl } from "./harness.ts";

const local = e2eBackends().find((b) => b.name === "local")!;

/** Globals whose getter loads part of Deno's node layer on first touch. */
const NODE_GLOBALS = ["process", "setImmediate", "Buffer", "clearImmediate"];

const TRAP = `
Error.stackTraceLimit = 40;
for (const name of ${JSON.stringify(NODE_GLOBALS)}) {
  const d = Object.getOwnPropertyDescriptor(globalThis, name);
  if (!d?.get) throw new Error("no lazy global " + name);
  let told = false;
  Object.defineProperty(globalThis, name, {
    ...d,
    get() {
      if (!told) {
        told = true;
        console.error("node-global-touched " + name + " " + new Error().stack);
      }
      return d.get.call(this);
    },
  });
}
const { main } = await import(${JSON.stringify(`file://${REPO_ROOT}/src/cli/main.ts`)});
Deno.exit(await main(Deno.args));
`;

/** A directory holding a `git-remote-trunks` that runs the helper under TRAP. */
async function trapBin(): Promise<string> {
  const bin = await Deno.makeTempDir({ prefix: "trunks-trap-bin-" });
  await Deno.writeTextFile(`${bin}/trap.ts`, TRAP);
  await Deno.writeTextFile(
    `${bin}/git-remote-trunks`,
    `#!/bin/sh\nexec ${JSON.stringify(Deno.execPath())} ${DENO_RUN_ARGS.join(" ")} ${
      JSON.stringify(`${bin}/trap.ts`)
    } remote-helper "$@"\n`,
  );
  await Deno.chmod(`${bin}/git-remote-trunks`, 0o755);
  return bin;
}

Deno.test({
  name: "a clone of a small trunk loads no node:crypto, `process` or node:timers",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, `light-${crypto.randomUUID()}`);
    const a = await newRepo(e, "a");
    await git(e, a, "push", "-q", `trunks::${url}`, "main");
    // Several segments: the clone joins their packs (pack trailers and indexes hashed).
    for (let i = 0; i < 3; i++) {
      await commitFile(e, a, `f${i}.txt`, `v ${i}\n`);
      await git(e, a, "push", "-q", `trunks::${url}`, "main");
    }
    const bin = await trapBin();
    const dest = `${await Deno.makeTempDir({ prefix: "trunks-clone-" })}/b`;
    const out = await new Deno.Command("git", {
      args: ["clone", "-q", `trunks::${url}`, dest],
      env: { ...e.env, PATH: `${bin}:${e.env.PATH}` },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert(out.success, stderr);
    assertEquals(
      (await git(e, dest, "rev-parse", "main")).trim(),
      (await git(e, a, "rev-parse", "main")).trim(),
    );
    assert(!stderr.includes("node-global-touched"), stderr);
  },
});

Deno.test({
  name: "a clone of a trunk of 300 refs loads no node:crypto or `process`",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // 300 entries' seals, read from the store: hashed by WebCrypto, not node:crypto (whose
    // load costs more than 300 async digests: src/trunk/refs.ts WEB_SEALS_MAX).
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, `light-refs-${crypto.randomUUID()}`);
    const a = await newRepo(e, "a");
    const head = (await git(e, a, "rev-parse", "main")).trim();
    const creates = Array.from({ length: 299 }, (_, i) => `create refs/tags/t${i} ${head}\n`);
    const upd = new Deno.Command("git", {
      args: ["update-ref", "--stdin"],
      cwd: a,
      env: e.env,
      clearEnv: true,
      stdin: "piped",
    }).spawn();
    const w = upd.stdin.getWriter();
    await w.write(new TextEncoder().encode(creates.join("")));
    await w.close();
    assert((await upd.status).success);
    await git(e, a, "push", "-q", `trunks::${url}`, "main", "refs/tags/*:refs/tags/*");
    const bin = await trapBin();
    const dest = `${await Deno.makeTempDir({ prefix: "trunks-clone-" })}/b`;
    const out = await new Deno.Command("git", {
      args: ["clone", "-q", `trunks::${url}`, dest],
      env: { ...e.env, PATH: `${bin}:${e.env.PATH}` },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert(out.success, stderr);
    assertEquals((await git(e, dest, "tag", "--list")).trim().split("\n").length, 299);
    assert(!stderr.includes("node-global-touched"), stderr);
  },
});

Deno.test({
  name: "a one-commit push loads no node:crypto or `process`",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // The segment's SHA-256 (a small pack) goes to WebCrypto and the entry's seal to plain
    // code (src/trunk/seal.ts): node:crypto's load was ~25 ms between git's `push` and the
    // segment's upload.
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, `light-push-${crypto.randomUUID()}`);
    const a = await newRepo(e, "a");
    await git(e, a, "push", "-q", `trunks::${url}`, "main");
    await commitFile(e, a, "next.txt", "next\n");
    const bin = await trapBin();
    const out = await new Deno.Command("git", {
      args: ["push", "-q", `trunks::${url}`, "main"],
      cwd: a,
      env: { ...e.env, PATH: `${bin}:${e.env.PATH}` },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert(out.success, stderr);
    assertEquals(
      (await git(e, a, "ls-remote", `trunks::${url}`, "refs/heads/main")).split(/\s/)[0],
      (await git(e, a, "rev-parse", "main")).trim(),
    );
    assert(!stderr.includes("node-global-touched"), stderr);
  },
});

/**
 * Large-file benchmark: one file (1 GiB by default; random bytes, or text-like log lines
 * with `--content text`) pushed and cloned with trunks and with plain git to a bare
 * repository over file://, side by side: wall time, peak RSS (of the trunks helper
 * process alone, and of the whole process tree git starts) and bytes stored. The same
 * file written and pushed by the library (no git) too. Then a 1 MiB edit in the middle
 * of the file, committed and pushed (bytes uploaded), and the same file pushed to a
 * second branch (chunk bytes uploaded).
 *
 * The library writes the file with `writeFile` (streamed: never whole in memory) and
 * reads it back with `readStream` (compared by SHA-256), each in its own process, whose
 * peak RSS is what the 256 MiB target of issue 22 is about.
 *
 *   deno run -A bench/largefile.ts [--size-mib 1024] [--content random|text] [--root <URL>]
 *                                  [--push-only] [--git-remote-s3]
 *
 * `--push-only` skips the clones, the edit and the second branch. `--git-remote-s3` adds
 * awslabs' git-remote-s3 (installed by bench/tools.ts) pushing to the MinIO named by
 * TRUNKS_TEST_MINIO_* (`scripts/test-servers.sh up minio`).
 *
 * `--root` points trunks at another storage (e.g. `s3://bench?endpoint=http://127.0.0.1:9000`,
 * credentials in the environment); the default is a temp dir on local disk.
 */
import "./run_tmp.ts";
import { parseArgs } from "node:util";
import { fmtMs, formatRequests, machineLine, makeEnv, ok, sumRequests, table } from "./lib.ts";
import type { Env } from "./lib.ts";
import { DENO_RUN_ARGS } from "../src/helper/self.ts";
import { openStore } from "../src/storage/registry.ts";
import { textLike } from "../harness/text_like.ts";
import { startProxy } from "./proxy.ts";
import { gitRemoteS3Tool, minioFromEnv } from "./tools.ts";

const { values } = parseArgs({
  options: {
    "size-mib": { type: "string", default: "1024" },
    content: { type: "string", default: "random" },
    root: { type: "string" },
    "push-only": { type: "boolean", default: false },
    "git-remote-s3": { type: "boolean", default: false },
  },
});
const sizeMiB = Number(values["size-mib"]);
const content = values.content === "text" ? "text" : "random";
const MiB = 1024 * 1024;
const REPO_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

const tmp = await Deno.makeTempDir({ prefix: "bench-large-" });
// Shared machines: the load says how far to trust the times (RSS does not depend on it).
const loadAtStart = (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ")[0];
const rssLog = `${tmp}/helper-rss.log`;

/**
 * `git-remote-trunks` that records the helper's own peak RSS (VmHWM, sampled every
 * 50 ms while it runs) to the log: /usr/bin/time would count its git children too.
 */
async function benchBinDir(): Promise<string> {
  const dir = `${tmp}/bin`;
  await Deno.mkdir(dir);
  const helper = `#!/bin/sh
exec 3<&0
${JSON.stringify(Deno.execPath())} ${DENO_RUN_ARGS.join(" ")} ${
    JSON.stringify(`${REPO_ROOT}/main.ts`)
  } remote-helper "$@" <&3 &
pid=$!
hwm=0
while kill -0 $pid 2>/dev/null; do
  v=$(awk '/^VmHWM/{print $2}' /proc/$pid/status 2>/dev/null)
  [ -n "$v" ] && hwm=$v
  sleep 0.05
done
wait $pid
rc=$?
echo $hwm >> ${JSON.stringify(rssLog)}
exit $rc
`;
  await Deno.writeTextFile(`${dir}/git-remote-trunks`, helper);
  await Deno.chmod(`${dir}/git-remote-trunks`, 0o755);
  return dir;
}

interface Measured {
  ms: number;
  /** Peak RSS of the largest process in the tree (GNU time), KiB. */
  treeKiB: number;
  /** Peak RSS of the trunks helper alone, KiB (trunks runs only). */
  helperKiB?: number;
  requests?: Record<string, number>;
}

async function measure(e: Env, args: string[], cwd?: string): Promise<Measured> {
  await Deno.writeTextFile(rssLog, "");
  const timeOut = `${tmp}/time.out`;
  const t0 = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", "-o", timeOut, "git", ...args],
    cwd,
    env: { ...e.env, TRUNKS_DEBUG_REQUESTS: "1" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`git ${args.join(" ")} failed:\n${stderr}`);
  const treeKiB = Number((await Deno.readTextFile(timeOut)).trim().split("\n").pop());
  const helper = (await Deno.readTextFile(rssLog)).trim().split("\n").filter(Boolean).map(Number);
  return {
    ms,
    treeKiB,
    helperKiB: helper.length ? Math.max(...helper) : undefined,
    requests: sumRequests(stderr),
  };
}

/** A library script (bench/sdk_*_large.ts) in its own process: wall time and its peak RSS. */
async function measureLibrary(script: string, trunk: string, file: string): Promise<Measured> {
  const timeOut = `${tmp}/time-lib.out`;
  const t0 = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: [
      "-f",
      "%M",
      "-o",
      timeOut,
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      `${REPO_ROOT}/bench/${script}`,
      trunk,
      file,
    ],
    env: e.env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  if (!out.success) {
    throw new Error(`library ${script} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  const treeKiB = Number((await Deno.readTextFile(timeOut)).trim().split("\n").pop());
  return { ms, treeKiB };
}

const storedTotal = (t: Record<string, number>) => Object.values(t).reduce((a, b) => a + b, 0);
const pct = (n: number) => `${((n / (sizeMiB * MiB)) * 100).toFixed(1)}%`;

const mib = (kib?: number) => kib === undefined ? "" : `${(kib / 1024).toFixed(0)} MiB`;
const bytes = (n: number) =>
  n >= MiB ? `${(n / MiB).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;

async function dirBytes(path: string): Promise<number> {
  let total = 0;
  for await (const f of Deno.readDir(path)) {
    const p = `${path}/${f.name}`;
    if (f.isDirectory) total += await dirBytes(p);
    else if (f.isFile) total += (await Deno.stat(p)).size;
  }
  return total;
}

/** Bytes under each top-level prefix of the trunk (chunks/, segments/, blobs/, refs/). */
async function trunkBytes(url: string): Promise<Record<string, number>> {
  const store = await openStore(url, {});
  try {
    const out: Record<string, number> = {};
    for (const { key, size } of await store.list("")) {
      const top = key.split("/")[0];
      out[top] = (out[top] ?? 0) + size;
    }
    return out;
  } finally {
    await store.close();
  }
}

function growth(before: Record<string, number>, after: Record<string, number>) {
  const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
  return { chunks: d("chunks"), segments: d("segments"), total: d("chunks") + d("segments") };
}

async function writeBigFile(path: string, size: number): Promise<void> {
  using f = await Deno.open(path, { write: true, create: true, truncate: true });
  let buf: Uint8Array = new Uint8Array(MiB);
  for (let done = 0; done < size; done += buf.byteLength) {
    if (content === "text") buf = textLike(MiB, 1 + done / MiB);
    else {
      for (let i = 0; i < buf.byteLength; i += 65536) {
        crypto.getRandomValues(buf.subarray(i, i + 65536));
      }
    }
    let at = 0;
    while (at < buf.byteLength) at += await f.write(buf.subarray(at));
  }
}

/** The push table (every path), the library's read, and the targets of issue 22. */
async function report(more: string[] = []): Promise<void> {
  const raw = sizeMiB * MiB;
  const pushRows: { label: string; m: Measured; rssKiB?: number; stored?: number }[] = [
    { label: "git push file://", m: gitPush, rssKiB: gitPush.treeKiB, stored: gitStored },
    {
      label: "git push trunks:: (helper)",
      m: trunksPush,
      rssKiB: trunksPush.helperKiB,
      stored: storedTotal(trunksStored),
    },
    {
      label: "library writeFile + push",
      m: libPush,
      rssKiB: libPush.treeKiB,
      stored: storedTotal(libStored),
    },
    { label: "library readStream (read back)", m: libRead, rssKiB: libRead.treeKiB },
  ];
  if (s3Push) {
    pushRows.push({
      label: "git push git-remote-s3 (MinIO)",
      m: s3Push.m,
      rssKiB: s3Push.m.treeKiB,
      stored: s3Push.bytes,
    });
  }
  // The targets concern trunks' own paths: plain git and git-remote-s3 are references.
  const ours = pushRows.filter((r) => !/file:\/\/|git-remote-s3/.test(r.label));
  const maxRss = Math.max(...ours.map((r) => r.rssKiB ?? 0)) / 1024;
  const storedShare = Math.max(
    storedTotal(trunksStored) / raw,
    storedTotal(libStored) / raw,
  );
  const target = content === "text" ? 0.35 : 1.01;
  console.log([
    `# trunks large-file benchmark`,
    ``,
    `machine: ${await machineLine()}; load average at start ${loadAtStart}`,
    `storage: ${values.root ?? "local disk (temp dir)"}; git: bare repository over file://${
      s3Push ? `; ${s3Push.version}` : ""
    }`,
    ``,
    `content: ${content}, ${sizeMiB} MiB`,
    ``,
    table(
      ["path", "time", "peak RSS", "bytes stored", "of raw"],
      pushRows.map((r) => [
        r.label,
        fmtMs(r.m.ms),
        mib(r.rssKiB),
        r.stored === undefined ? "" : bytes(r.stored),
        r.stored === undefined ? "" : pct(r.stored),
      ]),
    ),
    ``,
    `targets (trunks' paths): stored at most ${(target * 100).toFixed(0)}% of raw: ${
      storedShare <= target ? "met" : "NOT MET"
    } (${(storedShare * 100).toFixed(1)}%); peak RSS at most 256 MiB: ${
      maxRss <= 256 ? "met" : "NOT MET"
    } (${maxRss.toFixed(0)} MiB)`,
    ...more,
  ].join("\n"));
}

const base = await makeEnv();
const e: Env = { ...base, env: { ...base.env, PATH: `${await benchBinDir()}:${base.env.PATH}` } };

const root = values.root ?? `local://${tmp}/store`;
if (!values.root) await Deno.mkdir(`${tmp}/store`);
const u = new URL(root);
u.pathname = `${u.pathname.replace(/\/+$/, "")}/trunks/large-${Date.now()}.trunk`;
const url = u.toString();

const src = `${tmp}/src`;
await ok(e, "git", ["init", "-q", "-b", "main", src]);
console.error(`writing a ${sizeMiB} MiB ${content} file and committing it...`);
await writeBigFile(`${src}/big.bin`, sizeMiB * MiB);
await ok(e, "git", ["add", "big.bin"], { cwd: src });
await ok(e, "git", ["commit", "-qm", "big file"], { cwd: src });
const bare = `${tmp}/bare.git`;
await ok(e, "git", ["init", "-q", "--bare", bare]);

console.error("push...");
const gitPush = await measure(e, ["push", "-q", `file://${bare}`, "main"], src);
const gitStored = await dirBytes(`${bare}/objects`);
const trunksPush = await measure(e, ["push", "-q", `trunks::${url}`, "main"], src);
const trunksStored = await trunkBytes(url);

// The library: the same file written, committed and pushed by a program (no git), then
// read back.
console.error("library push...");
const libUrl = url.replace(/\.trunk(\?|$)/, "-lib.trunk$1");
const libPush = await measureLibrary("sdk_write_large.ts", libUrl, `${src}/big.bin`);
const libStored = await trunkBytes(libUrl);
console.error("library read...");
const libRead = await measureLibrary("sdk_read_large.ts", libUrl, `${src}/big.bin`);

let s3Push: { m: Measured; bytes: number; version: string } | null = null;
if (values["git-remote-s3"]) {
  const minio = minioFromEnv();
  if (!minio) throw new Error("--git-remote-s3 needs MinIO: scripts/test-servers.sh up minio");
  console.error("git-remote-s3 push...");
  const proxy = startProxy(minio.endpoint);
  try {
    const tool = await gitRemoteS3Tool(e, minio, proxy, tmp);
    const remote = await tool.newRemote("large");
    const s3e: Env = { ...e, env: { ...e.env, ...tool.env } };
    const m = await measure(s3e, ["push", "-q", remote.url, "main"], src);
    s3Push = { m, bytes: (await remote.size()).bytes, version: tool.version };
  } finally {
    await proxy.close();
  }
}

if (values["push-only"]) {
  await report();
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  Deno.exit(0);
}

console.error("clone...");
const gitClone = await measure(e, ["clone", "-q", "--no-local", `file://${bare}`, `${tmp}/gc`]);
const trunksClone = await measure(e, ["clone", "-q", `trunks::${url}`, `${tmp}/tc`]);

// 1 MiB overwritten in the middle, committed, pushed by both.
console.error("middle edit...");
{
  using f = await Deno.open(`${src}/big.bin`, { write: true });
  await f.seek(Math.floor(sizeMiB / 2) * MiB + 4321, Deno.SeekMode.Start);
  const patch = new Uint8Array(MiB);
  for (let i = 0; i < patch.byteLength; i += 65536) {
    crypto.getRandomValues(patch.subarray(i, i + 65536));
  }
  await f.write(patch);
}
await ok(e, "git", ["commit", "-qam", "edit 1 MiB in the middle"], { cwd: src });
const bareBefore = await dirBytes(`${bare}/objects`);
const gitEdit = await measure(e, ["push", "-q", `file://${bare}`, "main"], src);
const gitEditBytes = (await dirBytes(`${bare}/objects`)) - bareBefore;
const tb0 = await trunkBytes(url);
const trunksEdit = await measure(e, ["push", "-q", `trunks::${url}`, "main"], src);
const editUp = growth(tb0, await trunkBytes(url));

// The same file on a second branch (a new commit that carries it under another name).
await ok(e, "git", ["checkout", "-q", "-b", "second"], { cwd: src });
await Deno.copyFile(`${src}/big.bin`, `${src}/copy.bin`);
await ok(e, "git", ["add", "copy.bin"], { cwd: src });
await ok(e, "git", ["commit", "-qm", "same file again"], { cwd: src });
const tb1 = await trunkBytes(url);
const trunksBranch = await measure(e, ["push", "-q", `trunks::${url}`, "second"], src);
const branchUp = growth(tb1, await trunkBytes(url));

const rows = [
  [
    `push ${sizeMiB} MiB`,
    fmtMs(gitPush.ms),
    fmtMs(trunksPush.ms),
    `${(trunksPush.ms / gitPush.ms).toFixed(2)}x`,
    mib(trunksPush.helperKiB),
    mib(gitPush.treeKiB),
    mib(trunksPush.treeKiB),
    formatRequests(trunksPush.requests),
  ],
  [
    `clone ${sizeMiB} MiB`,
    fmtMs(gitClone.ms),
    fmtMs(trunksClone.ms),
    `${(trunksClone.ms / gitClone.ms).toFixed(2)}x`,
    mib(trunksClone.helperKiB),
    mib(gitClone.treeKiB),
    mib(trunksClone.treeKiB),
    formatRequests(trunksClone.requests),
  ],
  [
    "push 1 MiB middle edit",
    fmtMs(gitEdit.ms),
    fmtMs(trunksEdit.ms),
    `${(trunksEdit.ms / gitEdit.ms).toFixed(2)}x`,
    mib(trunksEdit.helperKiB),
    mib(gitEdit.treeKiB),
    mib(trunksEdit.treeKiB),
    formatRequests(trunksEdit.requests),
  ],
  [
    "push same file, 2nd branch",
    "",
    fmtMs(trunksBranch.ms),
    "",
    mib(trunksBranch.helperKiB),
    "",
    mib(trunksBranch.treeKiB),
    formatRequests(trunksBranch.requests),
  ],
];
await report([
  ``,
  table([
    "workload",
    "git file://",
    "trunks",
    "ratio",
    "trunks helper peak RSS",
    "git tree peak RSS",
    "trunks tree peak RSS",
    "trunks store ops",
  ], rows),
  ``,
  `bytes uploaded by the middle edit: trunks ${bytes(editUp.total)} (chunks ${
    bytes(editUp.chunks)
  }, segment ${bytes(editUp.segments)}); git ${bytes(gitEditBytes)} (new objects in the bare repo)`,
  `chunk bytes uploaded by the second-branch push: ${bytes(branchUp.chunks)} (segment ${
    bytes(branchUp.segments)
  })`,
]);

await Deno.remove(tmp, { recursive: true }).catch(() => {});

/**
 * Metadata benchmarks (issue "Metadata that stays small"), trunks on local disk side by
 * side with plain git over file://:
 * - many refs: `git push --all` of N branches (3 commits) to a new trunk vs a bare repo,
 *   then a fresh `git clone --mirror`, each under `ulimit -n 1024`. The push also goes to a
 *   bare repo that fsyncs each ref it writes (harness/durable_bare.ts), git at a trunk's
 *   durability: plain git syncs none, trunks syncs every entry (the target stays plain git).
 *   The push is timed as its user waits for it, with the maintenance step it calls for (a
 *   snapshot of N refs) timed on its own after it, as `trunks maintenance`: users get that
 *   step in the background once the push has returned;
 * - long log: P successive one-commit pushes to one branch with automatic maintenance on
 *   (the default; the bench waits for a running step to finish), then a fresh clone, its
 *   pack count, and an up-to-date fetch.
 *
 *   deno run -A bench/metadata.ts [--refs 1500,20000] [--pushes 2000] [--lease SECONDS]
 *
 * `--lease` creates the long-log trunk with that lease (TRUNKS_LEASE_SECONDS): entries
 * are pruned once superseded for two leases, so with a short lease the up-to-date
 * fetch's listing shows what it holds once pruned (with the default, two hours later).
 *
 * `--git-sample S`: only the first and the last S pushes go through git and the helper (timed
 * against git's own pushes to a bare repository); the ones between are made by the library
 * in this process (the same push engine and maintenance rule, without a process start-up per
 * push), and reach the bare repository in one push. The clone and the fetch are git's.
 *
 * Markdown on stdout. Times are single runs (wall clock); helper RSS is the peak of the
 * process tree's largest member (GNU time), when /usr/bin/time exists. Each timed command
 * starts with the disk settled (`sync`).
 *
 * The file system is part of the figure: everything lands under TMPDIR (run_tmp.ts), so
 * `TMPDIR=/mnt/ext4 deno run -A bench/metadata.ts` measures there. On ext4 without a
 * journal (the root of the machines these figures were first taken on) each new file scans
 * past the inodes deleted in the last minute or more (`recently_deleted`), so a run just
 * after a large delete pays per create, whichever side; docs/benchmarks.md gives both.
 */
import "./run_tmp.ts";
import { parseArgs } from "node:util";
import { Trunk } from "../mod.ts";
import { fmtMs, makeEnv, ok, table, timed } from "./lib.ts";
import { initBareSyncingRefs } from "../harness/durable_bare.ts";
import { type Env, REPO_ROOT } from "../harness/env.ts";
import { loadLine, sampleLoad } from "./notes.ts";
import { openStore } from "../src/storage/registry.ts";
import { readMeta } from "../src/trunk/meta.ts";
import { refLayout, REFS_PREFIX } from "../src/trunk/layout.ts";

const { values } = parseArgs({
  options: {
    refs: { type: "string", default: "1500,20000" },
    pushes: { type: "string", default: "2000" },
    lease: { type: "string" },
    "git-sample": { type: "string", default: "0" },
  },
});

async function hasGnuTime(): Promise<boolean> {
  try {
    return (await Deno.stat("/usr/bin/time")).isFile;
  } catch {
    return false;
  }
}
const gnuTime = await hasGnuTime();

/**
 * Written data still on its way to disk, flushed before a timed command: otherwise a side
 * pays for the writeback of the one before it (20,000 loose refs just written by git, or a
 * trunk's entries), and the order of the sides bends the ratio.
 */
async function settleDisk(): Promise<void> {
  if (Deno.build.os === "windows") return;
  await new Deno.Command("sync", { stdout: "null", stderr: "null" }).output().catch(() => {});
}

/** Run under `ulimit -n 1024`; returns ms and peak RSS (KiB) of the largest process. */
async function limited(e: Env, cwd: string, cmd: string, env: Record<string, string> = {}) {
  await settleDisk();
  const wrapped = gnuTime ? `/usr/bin/time -f 'RSS %M' ${cmd}` : cmd;
  const t = await timed(e, "bash", ["-c", `ulimit -n 1024 && ${wrapped}`], { cwd, env });
  const rss = /RSS (\d+)/.exec(t.stderr);
  return { ms: t.ms, rssKb: rss ? Number(rss[1]) : undefined, requests: t.requests };
}

const mib = (kb?: number) => kb === undefined ? "n/a" : `${(kb / 1024).toFixed(0)} MiB`;

async function manyRefs(e: Env, n: number, tmp: string): Promise<string[][]> {
  const work = `${tmp}/refs-${n}`;
  await ok(e, "git", ["init", "-q", "-b", "main", work]);
  for (let i = 0; i < 3; i++) {
    await Deno.writeTextFile(`${work}/f.txt`, `${i}\n`);
    await ok(e, "git", ["add", "."], { cwd: work });
    await ok(e, "git", ["commit", "-qm", `c${i}`], { cwd: work });
  }
  const lines = Array.from({ length: n }, (_, i) => `create refs/heads/b${i} HEAD`);
  await ok(e, "git", ["update-ref", "--stdin"], { cwd: work, stdin: lines.join("\n") + "\n" });
  await ok(e, "git", ["init", "-q", "--bare", `${tmp}/bare-${n}.git`]);
  await initBareSyncingRefs(e, `${tmp}/bare-synced-${n}.git`);
  await Deno.mkdir(`${tmp}/store-${n}`);
  const url = `local://${tmp}/store-${n}/trunks/r.trunk`;
  const gitPush = await limited(e, work, `git push -q file://${tmp}/bare-${n}.git --all`);
  // The push as its user waits for it: the maintenance step it calls for runs after it in
  // the background (the product's default), so it is timed on its own, as the same one step
  // (`trunks maintenance`), with its own peak RSS; the clone below then reads its snapshot.
  const trPush = await limited(e, work, `git push -q trunks::${url} --all`, {
    TRUNKS_AUTO_MAINTENANCE: "0",
  });
  const step = await limited(e, work, `trunks maintenance ${url}`);
  const syncedPush = await limited(e, work, `git push -q file://${tmp}/bare-synced-${n}.git --all`);
  const gitClone = await limited(
    e,
    tmp,
    `git clone -q --mirror file://${tmp}/bare-${n}.git c-git-${n}`,
  );
  const trClone = await limited(e, tmp, `git clone -q --mirror trunks::${url} c-tr-${n}`);
  return [
    [
      `${n} refs: push --all`,
      fmtMs(gitPush.ms),
      fmtMs(trPush.ms),
      (trPush.ms / gitPush.ms).toFixed(2),
      mib(trPush.rssKb),
      fmtMs(syncedPush.ms),
      (trPush.ms / syncedPush.ms).toFixed(2),
    ],
    [
      `${n} refs: the push's maintenance step (background)`,
      "",
      fmtMs(step.ms),
      "",
      mib(step.rssKb),
    ],
    [
      `${n} refs: clone --mirror`,
      fmtMs(gitClone.ms),
      fmtMs(trClone.ms),
      (trClone.ms / gitClone.ms).toFixed(2),
      mib(trClone.rssKb),
    ],
  ];
}

async function longLog(e: Env, pushes: number, tmp: string): Promise<string[][]> {
  const work = `${tmp}/long`;
  await ok(e, "git", ["init", "-q", "-b", "main", work]);
  await ok(e, "git", ["init", "-q", "--bare", `${tmp}/long-bare.git`]);
  await Deno.mkdir(`${tmp}/long-store`);
  const url = `local://${tmp}/long-store/trunks/long.trunk`;
  const auto: Record<string, string> = { TRUNKS_AUTO_MAINTENANCE: "1" };
  if (values.lease) auto.TRUNKS_LEASE_SECONDS = values.lease;
  let trMs = 0;
  let gitMs = 0;
  // Per-push times of the first and the last tenth: does push N cost what push 1 did?
  const sample = Number(values["git-sample"]);
  const tenth = sample > 0 ? sample : Math.max(1, Math.floor(pushes / 10));
  const first = { git: 0, tr: 0 };
  const last = { git: 0, tr: 0 };
  const lib = { n: 0, ms: 0 };
  let library: Trunk | null = null;
  const started = Date.now();
  for (let i = 0; i < pushes; i++) {
    if (sample > 0 && i >= sample && i < pushes - sample) {
      library ??= await Trunk.open({ url, writer: "bench" });
      const t0 = performance.now();
      library.write(`f${i % 50}.txt`, `${i}\n`);
      await library.commit({ message: `c${i}`, branch: "main" });
      await library.push();
      lib.ms += performance.now() - t0;
      lib.n++;
      if ((i + 1) % 100 === 0) {
        console.error(`${i + 1} pushes, ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
      continue;
    }
    if (library) {
      // Waits for a running maintenance step; then git catches up (not timed).
      await library.close();
      library = null;
      await ok(e, "git", ["pull", "-q", "--ff-only", `trunks::${url}`, "main"], { cwd: work });
      await ok(e, "git", ["push", "-q", `file://${tmp}/long-bare.git`, "main"], { cwd: work });
    }
    await Deno.writeTextFile(`${work}/f${i % 50}.txt`, `${i}\n`);
    await ok(e, "git", ["add", "."], { cwd: work });
    await ok(e, "git", ["commit", "-qm", `c${i}`], { cwd: work });
    const g =
      (await timed(e, "git", ["push", "-q", `file://${tmp}/long-bare.git`, "main"], { cwd: work }))
        .ms;
    const t =
      (await timed(e, "git", ["push", "-q", `trunks::${url}`, "main"], { cwd: work, env: auto }))
        .ms;
    gitMs += g;
    trMs += t;
    const phase = i < tenth ? first : i >= pushes - tenth ? last : null;
    if (phase) {
      phase.git += g;
      phase.tr += t;
    }
    if ((i + 1) % 100 === 0) {
      console.error(`${i + 1} pushes, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  }
  let extra = "";
  if (values.lease) {
    // Two leases on, one more push: the step it starts (awaited here) prunes the burst.
    await new Promise((r) => setTimeout(r, 2000 * Number(values.lease) + 1000));
    await Deno.writeTextFile(`${work}/after.txt`, "after\n");
    await ok(e, "git", ["add", "."], { cwd: work });
    await ok(e, "git", ["commit", "-qm", "after two leases"], { cwd: work });
    await ok(e, "git", ["push", "-q", `file://${tmp}/long-bare.git`, "main"], { cwd: work });
    await ok(e, "git", ["push", "-q", `trunks::${url}`, "main"], {
      cwd: work,
      env: { TRUNKS_AUTO_MAINTENANCE: "wait" },
    });
    extra = `, lease ${values.lease} s, one more push two leases later`;
  }
  // A background step may still be running: a clone right now would still work.
  for (let i = 0; i < 600; i++) {
    try {
      await Deno.stat(`${work}/.git/trunks-maintenance.lock`);
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const gitClone = await timed(e, "git", [
    "clone",
    "-q",
    "--no-local",
    `${tmp}/long-bare.git`,
    `${tmp}/lc-git`,
  ]);
  const trClone = await timed(e, "git", ["clone", "-q", `trunks::${url}`, `${tmp}/lc-tr`]);
  const packs =
    [...Deno.readDirSync(`${tmp}/lc-tr/.git/objects/pack`)].filter((f) => f.name.endsWith(".pack"))
      .length;
  const fetch = await timed(e, "git", ["fetch", "-q"], { cwd: `${tmp}/lc-tr` });
  const listedKeys = [...fetch.stderr.matchAll(/^trunks-requests \S+ (.*)$/gm)]
    .reduce((n, m) => n + (JSON.parse(m[1]).listedKeys ?? 0), 0);
  // Keys under refs/ (entries and snapshots) as the store lists them, whatever the format.
  const store = await openStore(url);
  const layout = refLayout((await readMeta(store))!.format);
  const refList = await store.list(REFS_PREFIX);
  await store.close();
  const refKeys = refList.length;
  const segs =
    [...Deno.readDirSync(`${tmp}/long-store/trunks/long.trunk/segments`)].filter((f) =>
      f.name.endsWith(".pack")
    ).length;
  const entries = refList.filter((l) => layout.parse(l.key)?.ref === "refs/heads/main").length;
  const each = (ms: number) => fmtMs(ms / tenth);
  return [
    sample > 0
      ? [
        `${pushes} one-commit pushes: ${lib.n} by the library, in-process (per push)`,
        "",
        fmtMs(lib.ms / lib.n),
        "",
        "",
      ]
      : [
        `${pushes} one-commit pushes (sum)`,
        fmtMs(gitMs),
        fmtMs(trMs),
        (trMs / gitMs).toFixed(2),
        "",
      ],
    [
      `  per push through git, first ${tenth}`,
      each(first.git),
      each(first.tr),
      (first.tr / first.git).toFixed(2),
      "",
    ],
    [
      `  per push through git, last ${tenth}`,
      each(last.git),
      each(last.tr),
      (last.tr / last.git).toFixed(2),
      "",
    ],
    [
      `then a fresh clone (${packs} packs; trunk: ${segs} segments, ${entries} live main entries${extra})`,
      fmtMs(gitClone.ms),
      fmtMs(trClone.ms),
      (trClone.ms / gitClone.ms).toFixed(2),
      "",
    ],
    [
      `then an up-to-date fetch (${
        JSON.stringify(fetch.requests ?? {})
      }, ${listedKeys} keys listed; refs/ holds ${refKeys} keys)`,
      "",
      fmtMs(fetch.ms),
      "",
      "",
    ],
  ];
}

const e = await makeEnv();
const tmp = await Deno.makeTempDir({ prefix: "trunks-bench-meta-" });
const before = await sampleLoad();
const startedAt = new Date().toISOString();
const rows: string[][] = [];
try {
  for (const n of values.refs!.split(",").filter(Boolean).map(Number)) {
    rows.push(...await manyRefs(e, n, tmp));
  }
  const p = Number(values.pushes);
  if (p > 0) rows.push(...await longLog(e, p, tmp));
} finally {
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
console.log(
  table([
    "workload",
    "git (file://)",
    "trunks (local)",
    "ratio",
    "helper peak RSS",
    "git, refs fsynced",
    "ratio to it",
  ], rows),
);
const commit = new TextDecoder().decode(
  (await new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"], cwd: REPO_ROOT })
    .output()).stdout,
).trim();
console.log(`\n${startedAt} -> ${new Date().toISOString()}, commit ${commit}`);
console.log(`load: ${loadLine(before, await sampleLoad())}`);

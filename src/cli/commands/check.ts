/**
 * `trunks check [<remote>|<url>] [--clean] [--grace <age>] [--repair [--roll-back]] [--json]`:
 * verify the trunk (and the local repository, when run inside one); with --clean, compact
 * and collect garbage; with --repair, repair damaged refs (src/trunk/repair.ts) and check
 * again. Exit 0 when healthy, 1 when a problem was found (or remains), 2 on bad usage.
 * The --json shape is documented in docs/check.md.
 */
import { parseArgs } from "node:util";
import { git } from "../../git/run.ts";
import { LocalDb } from "../../local/db.ts";
import { REMOTE, UNSET_REMOTE_URL } from "../../local/repo.ts";
import { type RemoteContext, resolveRemote } from "../../helper/resolve.ts";
import { type CheckReport, checkTrunk, type Problem } from "../../trunk/check.ts";
import { type CleanReport, cleanTrunk, DEFAULT_GRACE_MS } from "../../trunk/gc.ts";
import { TrunkError } from "../../trunk/errors.ts";
import { damagedRefs, type RepairReport, repairTrunk } from "../../trunk/repair.ts";
import { escapeUnsafe } from "../../storage/plain_text.ts";
import { printJson } from "../args.ts";
import type { Command } from "../command.ts";

const USAGE =
  "trunks check [<remote>|<trunk-url>] [--clean] [--grace <age>] [--repair [--roll-back]] [--json]";
const HELP = `usage: ${USAGE}

Verifies the trunk (trunk.json, every ref entry, every segment's SHA-256 and objects,
every object the refs reach, large-blob chunks) and, inside a repository, the local
repository and state database. Exit 0 healthy, 1 problems found, 2 bad usage.

  <remote>        a trunks remote of this repository (default: trunks, origin, or the only one)
  <trunk-url>     or a trunk URL, e.g. s3://bucket/trunks/app.trunk
  --clean         compact segments into one, drop what no ref reaches, remove garbage
  --grace <age>   never delete anything younger than this (default 1d; 90s, 30m, 1h, 2d, 0)
  --repair        a ref whose value or history is in no segment: upload the missing objects
                  again from this repository when it has them (a new segment), then check again
  --roll-back     with --repair: move a ref this repository cannot repair back to its last
                  complete value with a new ref entry (the damaged entry stays in the ref log)
  --json          print the documented JSON shape (see docs/check.md)`;

export const command: Command = {
  summary: "verify a trunk; --clean compacts segments and collects garbage",
  usage: HELP,
  run,
};

/** `90s`, `30m`, `1h`, `2d`, or plain seconds. */
export function parseAge(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(s.trim());
  if (!m) return null;
  const unit = { "": 1e3, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2]]!;
  return Number(m[1]) * unit;
}

function formatAge(ms: number): string {
  if (ms % 86400e3 === 0 && ms > 0) return `${ms / 86400e3}d`;
  if (ms % 3600e3 === 0 && ms > 0) return `${ms / 3600e3}h`;
  if (ms % 60e3 === 0 && ms > 0) return `${ms / 60e3}m`;
  return `${ms / 1e3}s`;
}

async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        clean: { type: "boolean", default: false },
        grace: { type: "string" },
        repair: { type: "boolean", default: false },
        "roll-back": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    console.error(`trunks check: ${(e as Error).message}; usage: ${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 1) {
    console.error(`trunks check: one trunk at a time; usage: ${USAGE}`);
    return 2;
  }
  if (values["roll-back"] && !values.repair) {
    console.error(`trunks check: --roll-back goes with --repair; usage: ${USAGE}`);
    return 2;
  }
  if (values.repair && values.clean) {
    console.error("trunks check: --repair and --clean are separate runs: repair first, then clean");
    return 2;
  }
  const graceMs = values.grace === undefined ? DEFAULT_GRACE_MS : parseAge(values.grace);
  if (graceMs === null) {
    console.error(
      `trunks check: --grace ${
        JSON.stringify(values.grace)
      } is not an age; use e.g. 90s, 30m, 1h, 2d`,
    );
    return 2;
  }
  const { url, remote } = await target(positionals[0]);
  // Progress of the check, repair and clean: a line may name a ref as the store holds it.
  const log = values.json ? () => {} : (l: string) => console.error(`trunks: ${escapeUnsafe(l)}`);
  const ctx = await resolveRemote(url, remote ?? url);
  if (values.clean) {
    // Refused before any work: the trunk's lease says how short a grace may be.
    try {
      (await ctx.trunkIfExists())?.requireGrace(graceMs);
    } catch (e) {
      await ctx.close();
      throw e;
    }
  }
  const workDir = await Deno.makeTempDir({ prefix: "trunks-check-" });
  try {
    let { report, inventory } = await verify(ctx, `${workDir}/check`, log);
    let clean: CleanReport | null = null;
    let refused: string | null = null;
    let repair: (RepairReport & { before: Problem[] }) | null = null;
    if (values.repair && inventory && damagedRefs(report, inventory).length) {
      const trunk = (await ctx.trunkForPush())!;
      const done = await repairTrunk(trunk, report, inventory, {
        gitDir: ctx.gitDir,
        rollBack: values["roll-back"],
        workDir: `${workDir}/repair`,
        log,
      });
      repair = { ...done, before: report.problems };
      if (done.uploaded || done.rolledBack.length) {
        log("checking again after the repair");
        ({ report, inventory } = await verify(ctx, `${workDir}/again`, log));
      }
    }
    if (values.clean) {
      if (!report.ok || !inventory) {
        refused = "not cleaning: the trunk has problems; fix them first (see above)";
      } else {
        clean = await cleanTrunk(ctx.store, inventory, { graceMs, workDir, log });
        // The local cache of what was ingested forgets segments that no longer exist.
        if (ctx.gitDir && clean.deleted.segments.length) {
          ctx.cache.forgetIngested(inventory.meta.id, clean.deleted.segments);
        }
      }
    }
    if (values.json) {
      printJson(
        { ...report, clean, ...(repair ? { repair } : {}), ...(refused ? { refused } : {}) },
      );
    } else {
      if (repair) {
        // The report below is the one after the repair: show what it started from.
        if (repair.uploaded || repair.rolledBack.length) {
          for (const p of repair.before) console.log(formatProblem(p));
        }
        printRepair(repair);
      }
      printReport(report, url);
      if (clean) printClean(clean);
      if (refused) console.error(`trunks: ${refused}`);
    }
    return report.ok && !refused ? 0 : 1;
  } finally {
    await ctx.close();
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}

/** The trunk, then (inside a repository) the local side; `ok` covers both. */
async function verify(
  ctx: RemoteContext,
  workDir: string,
  log: (l: string) => void,
): ReturnType<typeof checkTrunk> {
  await Deno.mkdir(workDir, { recursive: true });
  const { report, inventory } = await checkTrunk(ctx.store, { workDir, log });
  if (ctx.gitDir) await checkLocal(ctx, report);
  report.ok = report.problems.length === 0;
  return { report, inventory };
}

/** The trunk URL to check: given, or the repository's trunks remote. */
export async function target(
  arg: string | undefined,
  use = { verb: "check", give: "give a trunk URL" },
): Promise<{ url: string; remote?: string }> {
  if (arg && (arg.includes("://") || arg.startsWith("trunks::"))) {
    return { url: arg.replace(/^trunks::/, "") };
  }
  const res = await git(["config", "--get-regexp", "^remote\\..*\\.url$"], { okCodes: [1, 128] });
  const remotes = new Map<string, string>();
  for (const line of new TextDecoder().decode(res.stdout).split("\n")) {
    const m = /^remote\.(.+)\.url (.*)$/.exec(line);
    if (m && m[2].startsWith("trunks::") && m[2] !== UNSET_REMOTE_URL) {
      remotes.set(m[1], m[2].slice("trunks::".length));
    }
  }
  const name = arg ?? [REMOTE, "origin"].find((r) => remotes.has(r)) ??
    (remotes.size === 1 ? [...remotes.keys()][0] : undefined);
  if (name && remotes.has(name)) return { url: remotes.get(name)!, remote: name };
  if (arg) {
    throw new TrunkError(
      `${arg} is neither a trunks remote of this repository nor a trunk URL; ` +
        `give a URL such as s3://bucket/trunks/app.trunk`,
      "bad-input",
    );
  }
  throw new TrunkError(
    remotes.size > 1
      ? `this repository has several trunks remotes (${[...remotes.keys()].join(", ")}); name one`
      : `no trunk to ${use.verb}: run inside a repository with a trunks remote, or ${use.give}`,
    "bad-input",
  );
}

/** The local side: the repository's objects are connected, the state database is sound. */
async function checkLocal(ctx: RemoteContext, report: CheckReport): Promise<void> {
  const fsck = await git(
    ["fsck", "--connectivity-only", "--no-dangling", "--no-progress"],
    { okCodes: [1, 2, 3, 4, 5, 6, 7, 8, 128], env: { GIT_DIR: ctx.gitDir! } },
  );
  if (fsck.code !== 0) {
    const first = fsck.stderr.split("\n").find((l) => l.trim()) ?? `exit code ${fsck.code}`;
    report.problems.push({
      key: ctx.gitDir!,
      kind: "local-repo",
      message: `git fsck of the local repository failed: ${first}`,
      fix: "run git fsck for details; git fetch again from the trunk to restore missing objects",
    });
  }
  if (ctx.cache instanceof LocalDb) {
    const rows = ctx.cache.db.prepare("PRAGMA quick_check").all() as Record<string, string>[];
    const bad = rows.map((r) => Object.values(r)[0]).filter((v) => v !== "ok");
    if (bad.length) {
      report.problems.push({
        key: ctx.cache.path,
        kind: "local-db",
        message: `the local state database is damaged: ${bad[0]}`,
        fix:
          "delete it; trunks rebuilds its caches (saved storages and credentials must be re-added)",
      });
    }
  }
}

function printReport(r: CheckReport, url: string): void {
  const s = r.stats;
  const out = (l: string) => console.log(l);
  out(`trunk ${url}`);
  out(
    `  ${s.refs} refs (${s.refEntries} ref entries), ${s.segments} segments (${
      mib(s.packBytes)
    }), ${s.objects} objects, ${s.largeBlobs} large blobs, ${s.chunks} chunks`,
  );
  for (const p of r.problems) out(formatProblem(p));
  const garbage = new Map<string, number>();
  for (const n of r.notes) {
    if (n.kind === "head" || n.kind === "vanished") out(`note: ${escapeUnsafe(n.message)}`);
    else garbage.set(n.kind, (garbage.get(n.kind) ?? 0) + 1);
  }
  if (garbage.size) {
    out(
      `  garbage (removed by --clean once older than the grace period): ${
        [...garbage].map(([k, n]) => `${n} ${k.replace(/-/g, " ")}`).join(", ")
      }`,
    );
  }
  out(r.ok ? "ok: no problems found" : `${r.problems.length} problem(s) found`);
}

/** Messages name refs as the store holds them (src/storage/plain_text.ts). */
function formatProblem(p: Problem): string {
  const [key, message, fix] = [p.key, p.message, p.fix].map(escapeUnsafe);
  return `problem: ${key}: ${message}\n  fix: ${fix}`;
}

function printRepair(r: RepairReport): void {
  // Ref names and reasons are the store's: one line each, nothing a terminal acts on.
  const out = (l: string) => console.log(escapeUnsafe(l));
  if (r.uploaded) {
    out(
      `repaired: uploaded segment ${r.uploaded.id.slice(0, 12)} (${r.uploaded.objects} objects ` +
        `from this repository) for ${r.uploaded.refs.join(", ")}`,
    );
  }
  for (const b of r.rolledBack) {
    out(`repaired: ${b.ref} moved back from ${b.from} to ${b.to} (new entry ${b.key})`);
  }
  for (const l of r.left) out(`not repaired: ${l.ref}: ${l.reason}`);
}

function printClean(c: CleanReport): void {
  const out = (l: string) => console.log(l);
  if (c.compacted) {
    out(
      `compacted ${c.compacted.replaces} segment(s) into ${
        c.compacted.id.slice(0, 12)
      } (${c.compacted.objects} objects, ${mib(c.compacted.bytes)})`,
    );
  } else out("nothing to compact");
  const d = c.deleted;
  out(
    `deleted ${d.segments.length} segment(s), ${d.manifests} manifest(s), ${d.chunks} chunk(s), ${d.strays} stray key(s), ${d.tempFiles} temp file(s)`,
  );
  const w = c.waiting;
  const waiting = w.segments + w.manifests + w.chunks + w.strays;
  if (waiting) {
    out(
      `kept ${waiting} item(s) younger than the grace period (${
        formatAge(c.graceSeconds * 1000)
      }); a later --clean removes them`,
    );
  }
}

function mib(n: number): string {
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

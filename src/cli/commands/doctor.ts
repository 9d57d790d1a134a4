/** `trunks doctor`: is this machine set up to use trunks, and if not, what to fix. */
import { findRepo, findTrunksDb } from "../../local/repo.ts";
import { LocalDb } from "../../local/db.ts";
import { listStorages } from "../../local/storages.ts";
import { bool, parseCommand, printJson } from "../args.ts";
import { Exit } from "../errors.ts";
import type { Command } from "../command.ts";
import {
  type Check,
  checkClock,
  checkCredentials,
  checkGit,
  checkHelper,
  checkReachable,
  checkUserStorages,
} from "../doctor_checks.ts";

const usage = `usage: trunks doctor [--json]

Check that this machine can use trunks: git is installed (and its version), git finds
git-remote-trunks on PATH, and, inside a repository set up with trunks init, that every
saved storage answers (write, read, list, delete), honours exclusive create, keeps a
clock that agrees with this machine's, and where its credentials come from (names
only, never values). The per-user storages (trunks storage add --global) get the same
checks, except one that this repository's own storage of the same name overrides (said
so). Exits 1 when a check fails.

  --json   print {"ok": bool, "checks": [{"subject", "verdict", "detail"}...]}`;

export const command: Command = {
  summary: "check git, the helper, storages, clocks and credentials",
  usage,
  async run(args) {
    const p = parseCommand(args, { name: "doctor", usage, options: { json: { type: "boolean" } } });
    if (!p) return 0;
    const checks: Check[] = [await checkGit(), checkHelper()];
    const repo = await findRepo().catch(() => null);
    const dbPath = repo ? await findTrunksDb(repo) : null;
    let localNames: string[] = [];
    if (!dbPath) {
      checks.push({
        subject: "storages",
        verdict: "ok",
        detail: "not in a repository set up with trunks init: no storage checked",
      });
    } else {
      const db = new LocalDb(dbPath);
      try {
        const rows = listStorages(db);
        localNames = rows.map((r) => r.name);
        if (!rows.length) {
          checks.push({
            subject: "storages",
            verdict: "warn",
            detail:
              "no storage yet; add one: trunks storage add --name primary --backend local --path <dir>",
          });
        }
        const per = await Promise.all(rows.map(async (row) => {
          const reach = await checkReachable(row);
          return [
            ...reach,
            ...(reach[0].verdict !== "fail" ? [await checkClock(row)] : []),
            checkCredentials(row),
          ];
        }));
        checks.push(...per.flat());
      } finally {
        db.close();
      }
    }
    checks.push(...await checkUserStorages(localNames));
    const ok = checks.every((c) => c.verdict !== "fail");
    if (bool(p, "json")) {
      printJson({ ok, checks });
      if (!ok) throw new Exit(1);
      return 0;
    }
    const width = Math.max(...checks.map((c) => c.subject.length));
    // One report, in order, on stdout; the exit code says whether anything failed.
    for (const c of checks) {
      console.log(`${c.verdict.toUpperCase().padEnd(4)}  ${c.subject.padEnd(width)}  ${c.detail}`);
    }
    return ok ? 0 : 1;
  },
};

/** `trunks storage sync [NAME]`: bring mirrors level with the primary. */
import { openInitialized } from "../../local/repo.ts";
import { bool, parseCommand, printJson } from "../args.ts";
import { Exit } from "../errors.ts";
import type { Command } from "../command.ts";
import { checkMirrors, describeReport } from "../mirror_admin.ts";
import { terminalProgress } from "../progress.ts";
import { stderrLine } from "../../trunk/stderr_line.ts";

const usage = `usage: trunks storage sync [NAME] [--json]

Bring every mirror (or the one named) level with the primary: compare the ref logs
entry by entry, copy only the segments, chunks and blob manifests a mirror lacks, then
replay its missing ref entries in order. A mirror whose log disagrees with the
primary's is reported as diverged and left untouched. Also writes the trunk's storage
map when the storages saved here changed. Exits 1 when a mirror is unreachable or
diverged.

  --json   print {"ok": bool, "trunkExists": bool, "mapWritten": bool, "mirrors": [...]}`;

export const command: Command = {
  summary: "catch mirrors up with the primary",
  usage,
  async run(args) {
    const p = parseCommand(args, {
      name: "storage sync",
      usage,
      options: { json: { type: "boolean" } },
      positionals: [0, 1],
    });
    if (!p) return 0;
    const json = bool(p, "json");
    const ctx = await openInitialized();
    try {
      const res = await checkMirrors(ctx.db, {
        write: true,
        only: p.positionals[0],
        progress: json ? undefined : (line) => stderrLine.message(`trunks: ${line}`),
        onProgress: json ? undefined : terminalProgress(),
      });
      const ok = res.reports.every((r) => r.state === "in-sync" || r.state === "caught-up");
      if (json) {
        printJson({
          ok,
          trunkExists: res.trunkExists,
          mapWritten: res.mapWritten,
          mirrors: res.reports,
        });
        if (!ok) throw new Exit(1);
        return 0;
      }
      if (!res.trunkExists) {
        console.log("nothing pushed yet: the first git push writes the primary and every mirror");
        return 0;
      }
      if (res.reports.length === 0) console.log("this trunk has no mirrors");
      for (const r of res.reports) {
        const line = describeReport(r);
        if (r.state === "diverged" || r.state === "unreachable") stderrLine.message(line);
        else console.log(line);
      }
      if (res.mapWritten) console.log("storage map updated on the primary and every mirror");
      return ok ? 0 : 1;
    } finally {
      ctx.db.close();
    }
  },
};

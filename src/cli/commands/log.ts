/**
 * `trunks log [<ref>] [--trunk <remote>|<url>] [--json]`: the trunk's audit trail, who
 * moved which ref, when, from what to what: the live ref log and the entries pruned
 * into `reflog/`, oldest first.
 */
import { resolveRemote } from "../../helper/resolve.ts";
import { escapeUnsafe } from "../../storage/plain_text.ts";
import { type AuditEntry, readAuditLog } from "../../trunk/reflog.ts";
import { TrunkError } from "../../trunk/errors.ts";
import { parseCommand, printJson } from "../args.ts";
import { UsageError } from "../errors.ts";
import type { Command } from "../command.ts";
import { target } from "./check.ts";

const usage = `usage: trunks log [<ref>] [--trunk <remote>|<trunk-url>] [--json]

Every recorded move of every ref (or of <ref>: refs/heads/main, main, v1.0), oldest
first: time, ref, old -> new, and the writer (user@host). Entries pruned from the live
log by maintenance are read from the archive (reflog/) and marked "archived".

  <ref>            one ref; a short name is tried as refs/heads/, refs/tags/, then as is
  --trunk <t>      a trunks remote of this repository, or a trunk URL (default: the remote)
  --json           an array of {ref, seq, old, new, symref?, time, writer, segments, archived}`;

export const command: Command = {
  summary: "the trunk's audit trail: who moved which ref, when, from what to what",
  usage,
  run,
};

async function run(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    name: "log",
    usage,
    options: { trunk: { type: "string" }, json: { type: "boolean" } },
    positionals: [0, 1],
  });
  if (!parsed) return 0;
  const want = parsed.positionals[0];
  // No ref name holds a colon (git refuses one); a URL there was meant for --trunk. It is
  // not echoed: it may carry a secret.
  if (want?.includes(":")) {
    throw new UsageError("log: a trunk URL goes after --trunk, not where the ref goes");
  }
  const { url, remote } = await target(parsed.values.trunk as string | undefined, {
    verb: "read",
    give: "give one with --trunk <trunk-url>",
  });
  const ctx = await resolveRemote(url, remote ?? url);
  try {
    const trunk = await ctx.trunk();
    const damaged: string[] = [];
    const all = await readAuditLog(trunk.store, trunk.cache, trunk.meta, undefined, (_, why) => {
      damaged.push(`trunks: ${escapeUnsafe(why)}`);
    });
    const refs = new Set(all.map((e) => e.ref));
    const ref = want === undefined
      ? undefined
      : [want, `refs/heads/${want}`, `refs/tags/${want}`].find((r) => refs.has(r));
    // A typo is not an empty history (unless what may hold it could not be read).
    if (want !== undefined && ref === undefined && damaged.length === 0) {
      throw new TrunkError(
        `no ref ${
          escapeUnsafe(JSON.stringify(want))
        } in this trunk's log, nor refs/heads/ or refs/tags/ of that name; trunks log lists every ref`,
        "bad-input",
      );
    }
    const entries = want === undefined ? all : all.filter((e) => e.ref === ref);
    if (parsed.values.json) printJson(entries);
    else for (const e of entries) console.log(formatEntry(e));
    // What could be read is shown; what could not is named, and the exit says incomplete.
    for (const line of damaged) console.error(line);
    return damaged.length ? 1 : 0;
  } finally {
    await ctx.close();
  }
}

function formatEntry(e: AuditEntry): string {
  const short = (o: string) => /^0+$/.test(o) ? "(none)" : o.slice(0, 12);
  const move = e.symref ? `-> ${e.symref}` : `${short(e.old)} -> ${short(e.new)}`;
  // Every field but the oids and seq is text another machine wrote: nothing in it may
  // drive the terminal or start a line of its own.
  return escapeUnsafe(`${e.time}  ${e.ref}  ${move}  ${e.writer}`) +
    `  #${e.seq}${e.archived ? "  archived" : ""}`;
}

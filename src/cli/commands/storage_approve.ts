/** `trunks storage approve NAME...`: use storages the trunk's own storage map names. */
import { redactUrl } from "../../storage/registry.ts";
import { openInitialized } from "../../local/repo.ts";
import { bool, parseCommand, printJson } from "../args.ts";
import type { Command } from "../command.ts";
import { approveFromMap } from "../mirror_admin.ts";

const usage = `usage: trunks storage approve NAME... [--json]

Approve storages the trunk's storage map names (trunks status lists them). Anyone who
can write the trunk can write its map, so this machine sends nothing (no data, no
credential, not even a connection) to a storage it found there until you approve it.
The approval is for the storage exactly as the map lists it now (name, role, backend,
URL, settings); if the map later changes any of them, it is left alone again, loudly,
until approved again. For one run: TRUNKS_TRUST_MIRRORS=NAME,...; at clone time:
trunks clone URL --trust-mirrors NAME,...

  --json   print {"approved": [{"name", "role", "backend", "url", "settings", "was"}]}`;

/** `endpoint=https://… region=eu-west-1`, or "no settings"; values quoted when unusual. */
function describeSettings(settings: Record<string, string>): string {
  const parts = Object.entries(settings).map(([k, v]) =>
    `${k}=${/^[\w.:/@+,=-]+$/.test(v) ? v : JSON.stringify(v)}`
  );
  return parts.length ? parts.join(" ") : "no settings";
}

export const command: Command = {
  summary: "approve storages the trunk's storage map names",
  usage,
  async run(args) {
    const p = parseCommand(args, {
      name: "storage approve",
      usage,
      options: { json: { type: "boolean" } },
      positionals: [1, Infinity],
    });
    if (!p) return 0;
    const ctx = await openInitialized();
    try {
      const done = await approveFromMap(ctx.db, p.positionals);
      if (bool(p, "json")) {
        printJson({ approved: done });
        return 0;
      }
      for (const a of done) {
        // What the approval binds, settings included: a map that later changes any of
        // them is refused again, so the user sees here exactly what they trust.
        const what = `${a.role} ${a.name} (${a.backend}, ${redactUrl(a.url)}; ${
          describeSettings(a.settings)
        })`;
        console.log(
          a.was === "approved"
            ? `${what} was approved already`
            : `approved ${what}${
              a.was === "changed" ? " as the storage map lists it now" : ""
            }: pushes and reads use it from now on`,
        );
      }
      return 0;
    } finally {
      ctx.db.close();
    }
  },
};

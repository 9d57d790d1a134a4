/** `trunks storage ping [NAME|URL]`: real I/O against storages, exclusive create included. */
import { openInitialized } from "../../local/repo.ts";
import { listStorages, requireStorage } from "../../local/storages.ts";
import { usableRow } from "../../local/trunk_storages.ts";
import { redactUrl } from "../../storage/registry.ts";
import { bool, parseCommand, printJson } from "../args.ts";
import { Exit } from "../errors.ts";
import type { Command } from "../command.ts";
import { pingMapOnly } from "../mirror_admin.ts";
import { type PingRecord, pingStorage, pingUrl } from "../storage_state.ts";

const usage = `usage: trunks storage ping [NAME | URL] [--single-writer] [--json]

Check the primary and every mirror (or one named storage, or an unsaved URL) with real
I/O: write, read back, list, create the same key twice (the second must fail), delete.
Exits 1 when any storage fails. An unsaved URL uses only the provider's own variables
(AWS_*, AZURE_STORAGE_*, ...) for credentials, and works outside a repository.

  --single-writer   accept a URL that ignores exclusive create (for an unsaved URL)
  --json            print {"ok": bool, "storages": [record...]}`;

export const command: Command = {
  summary: "check storages with real I/O",
  usage,
  async run(args) {
    const p = parseCommand(args, {
      name: "storage ping",
      usage,
      options: { json: { type: "boolean" }, "single-writer": { type: "boolean" } },
      positionals: [0, 1],
    });
    if (!p) return 0;
    const arg = p.positionals[0];
    let records: PingRecord[];
    if (arg && /^[a-z][a-z0-9+.-]*:/i.test(arg)) {
      records = [
        await pingUrl(arg, {}, {
          name: null,
          role: null,
          singleWriter: bool(p, "single-writer"),
        }),
      ];
    } else {
      const ctx = await openInitialized();
      try {
        let rows = listStorages(ctx.db);
        if (arg) {
          rows = [requireStorage(ctx.db, arg, " (or give a URL such as local:///srv/store)")];
        }
        if (rows.length === 0) {
          throw new Error(
            "no storages to ping; add one: trunks storage add --name primary --backend local --path <dir>",
          );
        }
        // A storage taken from the trunk's map and not approved gets no connection.
        const unusable = rows.find((r) => !usableRow(ctx.db, r));
        if (arg && unusable) {
          throw new Error(
            `${unusable.name} came from the trunk's storage map and is not approved here; nothing is sent to it: trunks storage approve ${unusable.name}`,
          );
        }
        rows = rows.filter((r) => usableRow(ctx.db, r));
        records = await Promise.all(rows.map(pingStorage));
        // Mirrors only the trunk's storage map names: pushes go there too, so check them.
        if (!arg) records.push(...await pingMapOnly(ctx.db));
      } finally {
        ctx.db.close();
      }
    }
    const ok = records.every((r) => r.ok);
    if (bool(p, "json")) {
      printJson({ ok, storages: records });
      if (!ok) throw new Exit(1);
      return 0;
    }
    for (const r of records) {
      const who = r.name ? `${r.name} (${r.role})` : redactUrl(r.url);
      if (r.ok) {
        console.log(
          `${who}: ok, ${r.latencyMs} ms; exclusive create ${
            r.exclusiveCreate ? "honoured" : "NOT honoured (single writer)"
          }`,
        );
      } else {
        const what = r.reason === "access-denied"
          ? "credentials refused"
          : r.reason === "unreachable"
          ? "unreachable"
          : "FAILED";
        console.error(`${who}: ${what}: ${r.error}`);
      }
    }
    return ok ? 0 : 1;
  },
};

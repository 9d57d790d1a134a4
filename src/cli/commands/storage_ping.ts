/** `trunks storage ping [NAME|URL]`: real I/O against storages, exclusive create included. */
import { findNamedStorage, unknownNameError } from "../../local/named_url.ts";
import { openInitialized, RepoError } from "../../local/repo.ts";
import { getStorage, listStorages } from "../../local/storages.ts";
import { readUserConfig } from "../../local/user_config.ts";
import { usableRow } from "../../local/map_trust.ts";
import { redactUrl } from "../../storage/registry.ts";
import { bool, type OptionSpec, parseCommand, printJson, str } from "../args.ts";
import { Exit, UsageError } from "../errors.ts";
import { backendFlags, buildTarget, flagsWithUrl } from "../storage_target.ts";
import type { Command } from "../command.ts";
import { pingMapOnly } from "../mirror_admin.ts";
import { type PingRecord, pingStorage, pingUrl } from "../storage_state.ts";
import { noCredentialsSent } from "../../trunk/credential_hint.ts";

const usage = `usage: trunks storage ping [NAME | URL | --backend TYPE [backend options]] [--json]

Check the primary and every mirror (or one named storage, or an unsaved storage) with
real I/O: write, read back, list, create the same key twice (the second must fail),
delete. Exits 1 when any storage fails. NAME is found as trunks://NAME/... finds it:
this repository's storage NAME, then the per-user one (storage add --global), which
also works outside a repository. An unsaved storage takes the same URL and
options as trunks storage add (--endpoint, --access-key, ...; see trunks help storage
add), then TRUNKS_STORAGE_<NAME>_<KEY> when --name is given, then the provider's own
variables (AWS_*, AZURE_STORAGE_*, ...); it works outside a repository.

  --name NAME       read TRUNKS_STORAGE_<NAME>_<KEY> for an unsaved storage
  --single-writer   accept a store that ignores exclusive create (for an unsaved storage)
  --json            print {"ok": bool, "storages": [record...]}`;

function options(): Record<string, OptionSpec> {
  const o: Record<string, OptionSpec> = {
    json: { type: "boolean" },
    "single-writer": { type: "boolean" },
    name: { type: "string" },
    backend: { type: "string" },
  };
  for (const f of backendFlags()) o[f] = { type: "string" };
  return o;
}

export const command: Command = {
  summary: "check storages with real I/O",
  usage,
  async run(args) {
    const p = parseCommand(args, {
      name: "storage ping",
      usage,
      options: options(),
      positionals: [0, 1],
    });
    if (!p) return 0;
    const arg = p.positionals[0];
    const isUrl = arg !== undefined && /^[a-z][a-z0-9+.-]*:/i.test(arg);
    const unsaved = isUrl || str(p, "backend") !== undefined || str(p, "url") !== undefined;
    let records: PingRecord[];
    if (unsaved) {
      // The same flags as storage add build the same URL and settings.
      const flags = flagsWithUrl({ ...p, positionals: isUrl ? [arg] : [] });
      if (arg !== undefined && !isUrl) {
        throw new UsageError(
          `storage ping: give a saved storage's name or an unsaved storage, not both (${arg})`,
        );
      }
      const name = str(p, "name") ?? null;
      const t = buildTarget(name, str(p, "backend"), flags, "ping");
      records = [
        await pingUrl(t.rootUrl, t.resolved, {
          name: null,
          envName: name,
          role: null,
          singleWriter: bool(p, "single-writer"),
        }),
      ];
    } else {
      const stray = backendFlags().filter((f) => str(p, f) !== undefined);
      if (stray.length || str(p, "name") !== undefined) {
        throw new UsageError(
          `storage ping: --${
            stray[0] ?? "name"
          } is for an unsaved storage (a URL or --backend); a saved one uses its own settings`,
        );
      }
      if (arg) records = [await pingNamed(arg)];
      else {
        const ctx = await openInitialized();
        try {
          const rows = listStorages(ctx.db);
          if (rows.length === 0) {
            throw new Error(
              "no storages to ping; add one: trunks storage add --name primary --backend local --path <dir>",
            );
          }
          // A storage taken from the trunk's map and not approved gets no connection.
          records = await Promise.all(rows.filter((r) => usableRow(ctx.db, r)).map(pingStorage));
          // Mirrors only the trunk's storage map names: pushes go there too, so check them.
          records.push(...await pingMapOnly(ctx.db));
        } finally {
          ctx.db.close();
        }
      }
    }
    const ok = records.every((r) => r.ok);
    if (bool(p, "json")) {
      printJson({ ok, storages: records });
      if (!ok) throw new Exit(1);
      return 0;
    }
    for (const r of records) {
      const who = r.name ? `${r.name} (${r.role ?? "per-user"})` : redactUrl(r.url);
      if (r.ok) {
        console.log(
          `${who}: ok, ${r.latencyMs} ms; exclusive create ${
            r.exclusiveCreate ? "honoured" : "NOT honoured (single writer)"
          }`,
        );
      } else {
        const what = r.reason === "access-denied"
          ? noCredentialsSent(r.error) ? "no credentials" : "credentials refused"
          : r.reason === "unreachable"
          ? "unreachable"
          : "FAILED";
        console.error(`${who}: ${what}: ${r.error}`);
      }
    }
    return ok ? 0 : 1;
  },
};

/**
 * One storage by name, found as `trunks://NAME/...` finds it (local/named_url.ts): this
 * repository's own, then the per-user config's (outside a repository, that alone). A
 * storage only the trunk's map named, which trunks://NAME never means, is pinged by its
 * name once approved here.
 */
async function pingNamed(name: string): Promise<PingRecord> {
  const ctx = await openInitialized().catch((e) => {
    if (e instanceof RepoError) return null;
    throw e;
  });
  try {
    const cfg = readUserConfig();
    const found = findNamedStorage(name, ctx?.db ?? null, cfg);
    if (found?.row) return await pingStorage(found.row);
    if (found) {
      return await pingUrl(found.root, found.open, {
        name: found.name,
        role: null,
        singleWriter: found.settings["single-writer"] === "true",
        envName: found.name,
      });
    }
    const mapped = ctx && getStorage(ctx.db, name);
    if (!mapped) throw unknownNameError(`storage ping ${name}`, name, cfg.path);
    // A storage taken from the trunk's map and not approved gets no connection.
    if (!usableRow(ctx.db, mapped)) {
      throw new Error(
        `${mapped.name} came from the trunk's storage map and is not approved here; nothing is sent to it: trunks storage approve ${mapped.name}`,
      );
    }
    return await pingStorage(mapped);
  } finally {
    ctx?.db.close();
  }
}

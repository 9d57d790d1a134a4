/** `trunks storage remove NAME`: forget a storage here. Nothing on the storage is touched. */
import { openInitialized, setRemoteUrl } from "../../local/repo.ts";
import { deleteStorage, requireStorage } from "../../local/storages.ts";
import { forgetApproval } from "../../local/approvals.ts";
import { bool, parseCommand, printJson } from "../args.ts";
import type { Command } from "../command.ts";
import { dropFromMap } from "../mirror_admin.ts";
import { removeGlobal } from "./storage_global.ts";
import { describeError } from "../../trunk/describe_error.ts";

const usage = `usage: trunks storage remove NAME [--global] [--json]

Forget a storage in this repository (its saved settings and secrets). The data on the
storage stays. Removing the primary leaves git push with nowhere to go until another
primary is added.

  --global   forget the per-user storage NAME instead (trunks storage add --global);
             works outside a repository`;

export const command: Command = {
  summary: "forget a storage (its data stays)",
  usage,
  async run(args) {
    const p = parseCommand(args, {
      name: "storage remove",
      usage,
      options: { json: { type: "boolean" }, global: { type: "boolean" } },
      positionals: [1, 1],
    });
    if (!p) return 0;
    if (bool(p, "global")) return removeGlobal(p.positionals[0], bool(p, "json"));
    const ctx = await openInitialized();
    try {
      const row = requireStorage(ctx.db, p.positionals[0]);
      // Out of the trunk's storage map first, or pushes would keep going to it.
      const unmapped = await dropFromMap(ctx.db, row).catch((e) => {
        throw new Error(
          `cannot take ${row.name} out of the trunk's storage map (${
            describeError(e)
          }); nothing was removed`,
        );
      });
      deleteStorage(ctx.db, row.name);
      forgetApproval(ctx.db, row.name);
      if (row.role === "primary") await setRemoteUrl(ctx.repo.top, null);
      if (bool(p, "json")) {
        printJson({ removed: row.name, role: row.role, url: row.url, unmapped });
        return 0;
      }
      console.log(`removed ${row.role} storage ${row.name} (${row.url}); its data is untouched`);
      if (unmapped) console.log("  and from the trunk's storage map: pushes no longer go there");
      return 0;
    } finally {
      ctx.db.close();
    }
  },
};

/** `trunks storage list` and `trunks storage show NAME`: saved storages, secrets masked. */
import { openInitialized } from "../../local/repo.ts";
import { listStorages, requireStorage } from "../../local/storages.ts";
import { bool, parseCommand, printJson } from "../args.ts";
import type { Command } from "../command.ts";
import { storageView } from "../storage_state.ts";
import { readUserConfig } from "../../local/user_config.ts";
import { globalView, printGlobal } from "./storage_global.ts";

const listUsage = `usage: trunks storage list [--global] [--json]

The storages of this repository (primary first, then mirrors), then the per-user ones
(trunks storage add --global) that trunks://NAME/REPO reaches from any repository. A
per-user storage named like one of this repository's is marked: here the repository's
applies. Secrets are never shown.

  --global   only the per-user storages (works outside a repository)`;

const showUsage = `usage: trunks storage show NAME [--json]

One storage with its settings; every secret is shown as ***, and any
TRUNKS_STORAGE_<NAME>_* variable that overrides a saved value is named.`;

export const list: Command = {
  summary: "list the storages of this repository",
  usage: listUsage,
  async run(args) {
    const p = parseCommand(args, {
      name: "storage list",
      usage: listUsage,
      options: { json: { type: "boolean" }, global: { type: "boolean" } },
    });
    if (!p) return 0;
    const cfg = readUserConfig();
    if (bool(p, "global")) {
      if (bool(p, "json")) {
        printJson({ config: cfg.path, global: cfg.storages.map((s) => globalView(s, cfg)) });
      } else printGlobal(cfg, null);
      return 0;
    }
    const ctx = await openInitialized();
    try {
      const views = listStorages(ctx.db).map(storageView);
      const local = views.map((v) => v.name.toLowerCase());
      if (bool(p, "json")) {
        printJson({
          repo: ctx.name,
          storages: views,
          config: cfg.path,
          global: cfg.storages.map((s) => ({
            ...globalView(s, cfg),
            shadowed: local.includes(s.name.toLowerCase()),
          })),
        });
        return 0;
      }
      if (views.length === 0) {
        console.log(
          "no storages yet; add one: trunks storage add --name primary --backend local --path <dir>",
        );
        if (cfg.storages.length) printGlobal(cfg, []);
        return 0;
      }
      const w = Math.max(4, ...views.map((v) => v.name.length));
      const b = Math.max(7, ...views.map((v) => v.backend.length));
      console.log(`${"NAME".padEnd(w)}  ROLE     ${"BACKEND".padEnd(b)}  URL`);
      for (const v of views) {
        console.log(
          `${v.name.padEnd(w)}  ${v.role.padEnd(7)}  ${v.backend.padEnd(b)}  ${v.url}${
            v.singleWriter ? "  (single writer)" : ""
          }`,
        );
      }
      if (cfg.storages.length) {
        console.log("");
        printGlobal(cfg, views.map((v) => v.name));
      }
      return 0;
    } finally {
      ctx.db.close();
    }
  },
};

export const show: Command = {
  summary: "show one storage (secrets masked)",
  usage: showUsage,
  async run(args) {
    const p = parseCommand(args, {
      name: "storage show",
      usage: showUsage,
      options: { json: { type: "boolean" } },
      positionals: [1, 1],
    });
    if (!p) return 0;
    const ctx = await openInitialized();
    try {
      const row = requireStorage(ctx.db, p.positionals[0]);
      const v = storageView(row);
      if (bool(p, "json")) {
        printJson(v);
        return 0;
      }
      console.log(`name:     ${v.name}`);
      console.log(`role:     ${v.role}`);
      console.log(`backend:  ${v.backend}`);
      console.log(`url:      ${v.url}`);
      for (const [k, val] of Object.entries(v.settings)) console.log(`${k}: ${val}`);
      for (const [k, val] of Object.entries(v.secrets)) console.log(`${k}: ${val}`);
      if (v.env.length) console.log(`env:      ${v.env.join(", ")} (override saved values)`);
      console.log(`added:    ${v.added}`);
      return 0;
    } finally {
      ctx.db.close();
    }
  },
};

/** `trunks init`: make this repository a trunks repository (idempotent). */
import { findRepo, initRepo, REMOTE } from "../../local/repo.ts";
import { primaryStorage } from "../../local/storages.ts";
import { bool, parseCommand, printJson, str } from "../args.ts";
import type { Command } from "../main.ts";

const usage = `usage: trunks init [--name NAME] [--json]

Set up this git repository for trunks: create .trunks/<name>.trunk (local state),
keep .trunks/ out of git (.git/info/exclude), add the git remote "${REMOTE}" and make
plain \`git push\` of any branch go to it. An existing origin keeps working.
Running it again changes nothing.

  --name NAME   trunk name (default: the repository's directory name, made safe)
  --json        print the result as JSON`;

export const command: Command = {
  summary: "set up this repository for trunks",
  usage,
  async run(args) {
    const p = parseCommand(args, {
      name: "init",
      usage,
      options: { name: { type: "string" }, json: { type: "boolean" } },
    });
    if (!p) return 0;
    const repo = await findRepo();
    const res = await initRepo(repo, str(p, "name"));
    const primary = primaryStorage(res.db);
    res.db.close();
    if (bool(p, "json")) {
      printJson({
        repo: res.name,
        root: repo.top,
        database: res.dbPath,
        created: res.created,
        remote: REMOTE,
        primary: primary?.name ?? null,
      });
      return 0;
    }
    if (!res.created) {
      console.log(`trunks: ${repo.top} is already set up (trunk name ${res.name}); nothing to do`);
    } else {
      console.log(`trunks: initialised ${repo.top} as trunk ${res.name} (${res.dbPath})`);
    }
    if (!primary) {
      console.log(
        "next: trunks storage add --name primary --backend local --path <dir>   (then git push)",
      );
    }
    return 0;
  },
};

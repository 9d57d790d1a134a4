/** `trunks init`: make this repository a trunks repository (idempotent). */
import {
  findRepo,
  findTrunkRemote,
  findTrunksDb,
  initRepo,
  REMOTE,
  setRemoteUrl,
  trunkNameOf,
} from "../../local/repo.ts";
import { getStorage, insertStorage, primaryStorage } from "../../local/storages.ts";
import { parseStoreUrl } from "../../storage/registry.ts";
import { bool, parseCommand, printJson, str } from "../args.ts";
import { findHelper } from "../install_helper.ts";
import type { Command } from "../command.ts";

const usage = `usage: trunks init [--name NAME] [--json]

Set up this git repository for trunks: create .trunks/<name>.trunk (local state),
keep .trunks/ out of git (.git/info/exclude), add the git remote "${REMOTE}" and make
plain \`git push\` of any branch go to it. An existing origin keeps working.
In a plain \`git clone trunks::<url>\`, that trunk becomes the primary storage.
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
    // A clone made by plain git already names its trunk: adopt it as the primary.
    const adopt = (await findTrunksDb(repo)) ? null : await findTrunkRemote(repo.top);
    const wanted = str(p, "name") ?? (adopt ? trunkNameOf(adopt.url) ?? undefined : undefined);
    const res = await initRepo(repo, wanted);
    let adopted: string | null = null;
    try {
      if (adopt && !primaryStorage(res.db) && !getStorage(res.db, "primary")) {
        insertStorage(res.db, {
          name: "primary",
          role: "primary",
          url: adopt.url,
          backend: parseStoreUrl(adopt.url).protocol.replace(/:$/, ""),
          settings: {},
          secrets: {},
        });
        await setRemoteUrl(repo.top, adopt.url);
        adopted = adopt.remote;
      }
    } catch (e) {
      res.db.close();
      throw e;
    }
    const primary = primaryStorage(res.db);
    res.db.close();
    // Init again repairs: the remote points at the primary whatever happened to git config.
    if (primary && !adopted) await setRemoteUrl(repo.top, primary.url);
    if (bool(p, "json")) {
      printJson({
        repo: res.name,
        root: repo.top,
        database: res.dbPath,
        created: res.created,
        remote: REMOTE,
        primary: primary?.name ?? null,
        adoptedFrom: adopted,
      });
      return 0;
    }
    if (!res.created) {
      console.log(`trunks: ${repo.top} is already set up (trunk name ${res.name}); nothing to do`);
    } else {
      console.log(`trunks: initialised ${repo.top} as trunk ${res.name} (${res.dbPath})`);
    }
    if (!(await findHelper())) {
      console.log(
        "note: git-remote-trunks is not on PATH yet; for plain git push run: trunks install-helper <dir on PATH>",
      );
    }
    if (adopted && primary) {
      console.log(`primary storage: ${primary.url} (from remote ${adopted})`);
    } else if (!primary) {
      console.log(
        "next: trunks storage add --name primary --backend local --path <dir>   (then git push)",
      );
    }
    return 0;
  },
};

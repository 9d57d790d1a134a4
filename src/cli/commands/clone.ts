/** `trunks clone URL [DIR]`: a fresh machine needs only the trunk's primary URL. */
import { withDeadline } from "../../storage/deadline.ts";
import { withAccessAdvice } from "../../storage/advised.ts";
import { escapeUnsafe } from "../../storage/plain_text.ts";
import { credentialAdvice } from "../../trunk/credential_hint.ts";
import { basename, resolve } from "node:path";
import { git, GitError } from "../../git/run.ts";
import { headTarget } from "../../trunk/head.ts";
import { writerName } from "../../helper/resolve.ts";
import { initRepo, REMOTE, setRemoteUrl } from "../../local/repo.ts";
import { insertStorage, validStorageName } from "../../local/storages.ts";
import { canonicalStoreUrl, openStore, redactUrl, type Settings } from "../../storage/registry.ts";
import { isNamedUrl, resolveNamedUrl } from "../../local/named_url.ts";
import { isTrunkUrl, splitTrunkPath } from "../../storage/trunk_url.ts";
import { MemoryCache } from "../../trunk/cache.ts";
import { Trunk } from "../../trunk/trunk.ts";
import { readLatestMap, type StorageMap } from "../../trunk/storage_map.ts";
import { parseTrustList } from "../../trunk/mirror_trust.ts";
import { type DiscoveredStorage, registerFromMap } from "../mirror_admin.ts";
import { bool, type OptionSpec, parseCommand, printJson, str, verbosity } from "../args.ts";
import { Exit, UsageError } from "../errors.ts";
import { helperEnv } from "../helper_env.ts";
import type { Command } from "../command.ts";
import { backendFlags, buildTarget } from "../storage_target.ts";

const usage =
  `usage: trunks clone URL [DIR] [--name NAME] [-b BRANCH] [--trust-mirrors A,B] [-q | -v] [backend options] [--json]

Clone the trunk at URL (…/trunks/<name>.trunk) into DIR (default: the trunk's name) and
set DIR up for trunks: URL becomes its primary storage, so git push and trunks pull work
at once. Credentials: TRUNKS_STORAGE_<NAME>_<KEY>, then backend options given here
(saved in DIR/.trunks only), then the provider's variables (AWS_*, AZURE_STORAGE_*, ...).

  --name NAME       name of the primary storage (default: primary)
  -b, --branch B    check out B instead of the trunk's default branch
  --trust-mirrors A,B  approve these storages the trunk's storage map names (else they
                    are listed, and nothing is sent to them until trunks storage approve)
  -q, --quiet       print nothing but errors
  -v, --verbose     also list every fetched branch and tag, as git fetch -v does
  --json            print the result as JSON
  backend options   as for trunks storage add (--access-key, --endpoint, ...)`;

function options(): Record<string, OptionSpec> {
  const o: Record<string, OptionSpec> = {
    name: { type: "string" },
    branch: { type: "string", short: "b" },
    "trust-mirrors": { type: "string" },
    json: { type: "boolean" },
  };
  for (const f of backendFlags()) if (f !== "url") o[f] = { type: "string" };
  return o;
}

async function emptyOrMissing(dir: string): Promise<"missing" | "empty" | "used"> {
  try {
    for await (const _ of Deno.readDir(dir)) return "used";
    return "empty";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "missing";
    if (e instanceof Deno.errors.NotADirectory) return "used";
    throw e;
  }
}

export const command: Command = {
  summary: "clone a trunk from its URL and set it up",
  usage,
  async run(args) {
    const p = parseCommand(args, {
      name: "clone",
      usage,
      options: options(),
      positionals: [1, 2],
    });
    if (!p) return 0;
    const given = p.positionals[0].replace(/^trunks::/, "");
    // `trunks://NAME/REPO` through the per-user config (a new clone has no storages of
    // its own); the clone saves the backend URL it stands for, so it works where NAME
    // means something else or nothing.
    const named = isNamedUrl(given) ? resolveNamedUrl(given, null) : null;
    const url = named?.url ?? canonicalStoreUrl(given);
    if (!isTrunkUrl(url)) {
      throw new UsageError(
        `${
          redactUrl(url)
        } does not name a trunk; give <root>/trunks/<name>.trunk, e.g. local:///srv/store/trunks/app.trunk`,
      );
    }
    const name = str(p, "name") ?? named?.name ?? "primary";
    if (!validStorageName(name)) {
      throw new UsageError(`--name ${JSON.stringify(name)} is not usable`);
    }
    const trunkName = decodeURIComponent(splitTrunkPath(new URL(url).pathname).name!);
    const dir = resolve(p.positionals[1] ?? basename(trunkName));
    const flags: Settings = {};
    for (const f of backendFlags()) {
      const v = f === "url" ? undefined : str(p, f);
      if (v !== undefined) flags[f] = v;
    }
    const target = buildTarget(name, undefined, { ...named?.settings, ...flags, url }, trunkName);

    // Read the trunk before creating anything: a wrong URL leaves no empty directory.
    // A refusal names the variables this storage reads, as the helper's do.
    const store = withAccessAdvice(
      withDeadline(await openStore(target.url, target.resolved)),
      credentialAdvice({ envName: name, backend: target.backend }),
    );
    let trunk: Trunk;
    let head: string | null;
    let branches: string[];
    let map: StorageMap | null;
    try {
      trunk = await Trunk.open(store, new MemoryCache(), writerName());
      map = (await readLatestMap(store))?.map ?? null;
      const state = await trunk.refState();
      head = headTarget(state);
      branches = [...Trunk.liveRefs(state).keys()].filter((r) => r.startsWith("refs/heads/"));
    } finally {
      await store.close();
    }
    const wanted = str(p, "branch");
    if (wanted && !branches.includes(`refs/heads/${wanted}`)) {
      throw new Error(
        `the trunk has no branch ${wanted}; it has: ${
          branches.map((b) => b.slice(11)).join(", ") || "none"
        }`,
      );
    }
    const checkout = wanted ? `refs/heads/${wanted}` : head;

    const state = await emptyOrMissing(dir);
    if (state === "used") {
      throw new Error(`destination ${dir} already exists and is not an empty directory`);
    }
    try {
      await git(["init", "-q", `--object-format=${trunk.objectFormat}`, dir]);
      const res = await initRepo({ top: dir, gitDir: `${dir}/.git` }, trunkName);
      let remoteUrl = target.url;
      let discovered: DiscoveredStorage[] = [];
      try {
        const row = {
          url: target.url,
          backend: target.backend,
          settings: target.settings,
          secrets: target.secrets,
        };
        if (map) {
          // The trunk's storage map names its mirrors (and, cloning a mirror, its primary).
          const trust = parseTrustList(str(p, "trust-mirrors"));
          const r = await registerFromMap(res.db, map, { url: target.url, name, row }, trust);
          remoteUrl = r.remoteUrl;
          discovered = r.storages;
        } else insertStorage(res.db, { ...row, name, role: "primary" });
      } finally {
        res.db.close();
      }
      await setRemoteUrl(dir, remoteUrl);
      const env = await helperEnv();
      // What git clone prints: "Cloning into" and progress on a terminal, not one line
      // per fetched ref (a repository with 300 tags); -v shows those, -q nothing.
      const level = verbosity();
      const json = bool(p, "json");
      if (level > 0 && !json) {
        console.error(`Cloning into '${p.positionals[1] ?? basename(dir)}'...`);
      }
      const progress = level > 0 && Deno.stderr.isTerminal() ? ["--progress"] : [];
      const fetchFlags = level > 1 ? ["-v", ...progress] : ["-q", ...progress];
      // git (and the helper under it) already said why on stderr: only the code remains.
      await git(["fetch", ...fetchFlags, REMOTE], { cwd: dir, env, inheritStderr: true })
        .catch((e) => {
          throw e instanceof GitError ? new Exit(e.code || 1) : e;
        });
      if (checkout) {
        const b = checkout.slice("refs/heads/".length);
        await git(["checkout", "-q", "-b", b, "--track", `${REMOTE}/${b}`], { cwd: dir });
        if (head) {
          await git([
            "symbolic-ref",
            `refs/remotes/${REMOTE}/HEAD`,
            `refs/remotes/${REMOTE}/${head.slice("refs/heads/".length)}`,
          ], { cwd: dir });
        }
      }
      if (json) {
        printJson({
          dir,
          repo: res.name,
          url: target.url,
          storage: name,
          branch: checkout ? checkout.slice("refs/heads/".length) : null,
          branches: branches.length,
          storages: discovered,
        });
      } else if (level > 0) {
        console.log(
          `cloned ${target.url}${named ? ` (${given}, from the ${named.source})` : ""} into ${dir}`,
        );
        for (const d of discovered) {
          const where = `  ${d.role} ${d.name} (${
            redactUrl(d.url)
          }): found in the trunk's storage map`;
          if (!d.approved) {
            console.log(`${where}, NOT approved here (nothing is sent to it): ${d.approve}`);
          } else if (d.reachable) console.log(`${where}, approved, reachable`);
          else {
            console.log(
              `${where}, approved, NOT reachable from here (${d.error})${
                d.needs.length ? `; give it credentials with ${d.needs.join(" or ")}` : ""
              }`,
            );
          }
        }
        const pending = discovered.filter((d) => !d.approved).map((d) => d.name);
        if (pending.length) {
          console.log(
            `  to use ${pending.join(", ")} too: cd ${dir} && trunks storage approve ${
              pending.join(" ")
            } (or clone with --trust-mirrors ${pending.join(",")})`,
          );
        }
        if (!checkout) console.log("  the trunk is empty: commit, then git push");
        else {
          // The trunk's HEAD chose it: a name git accepts may hold C1 controls and
          // bidirectional overrides (plain_text.ts).
          console.log(
            `  on branch ${escapeUnsafe(checkout.slice(11))}; git push and trunks pull work here`,
          );
        }
      }
      return 0;
    } catch (e) {
      // Nothing half-made stays behind.
      if (state === "missing") await Deno.remove(dir, { recursive: true }).catch(() => {});
      else {
        for await (const ent of Deno.readDir(dir)) {
          await Deno.remove(`${dir}/${ent.name}`, { recursive: true }).catch(() => {});
        }
      }
      throw e;
    }
  },
};

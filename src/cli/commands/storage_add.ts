/** `trunks storage add`: connect a named storage after real I/O against it. */
import { withDeadline } from "../../storage/deadline.ts";
import { existingObjects } from "../../git/repo.ts";
import { git } from "../../git/run.ts";
import { writerName } from "../../helper/resolve.ts";
import { openInitialized, setRemoteUrl } from "../../local/repo.ts";
import {
  getStorage,
  insertStorage,
  listStorages,
  primaryStorage,
  validStorageName,
} from "../../local/storages.ts";
import { backendSpec, knownSchemes, openStore, type Settings } from "../../storage/registry.ts";
import { isTrunkUrl } from "../../storage/trunk_url.ts";
import { MemoryCache } from "../../trunk/cache.ts";
import { TrunkError } from "../../trunk/errors.ts";
import { Trunk } from "../../trunk/trunk.ts";
import { bool, type OptionSpec, parseCommand, printJson, str } from "../args.ts";
import { describeError } from "../../trunk/describe_error.ts";
import { UsageError } from "../errors.ts";
import type { Command } from "../command.ts";
import { pingUrl, requirePingOk, storageView } from "../storage_state.ts";
import { backendFlags, buildTarget, flagsWithUrl } from "../storage_target.ts";
import { catchUpNewMirror } from "../mirror_admin.ts";
import { addGlobal } from "./storage_global.ts";

function usage(): string {
  const lines = [
    "usage: trunks storage add --name NAME (--backend TYPE [backend options] | URL) [--mirror] [--single-writer] [--json]",
    "       trunks storage add --global NAME (URL | --backend TYPE [backend options]) [--single-writer] [--json]",
    "",
    "  e.g. trunks storage add --name primary --backend local --path ~/trunks-store",
    "       trunks storage add --name primary s3://bucket --endpoint http://127.0.0.1:9000",
    "       trunks storage add --global shared minio://127.0.0.1:9000/bucket",
    "",
    "Connect a storage. The trunk goes to <root>/trunks/<repo>.trunk; trunks writes, reads,",
    "lists and creates the same key twice there (the second must fail) before saving",
    "anything. Secrets given as flags stay in .trunks/ on this machine, masked on display.",
    "",
    "  --name NAME        storage name (letters, digits, - and _); env TRUNKS_STORAGE_<NAME>_<KEY>",
    "                     overrides any option below",
    "  --backend TYPE     one of the backends below (or give --url with a scheme)",
    "  URL, --url URL     the storage root (or trunk) URL, instead of the flags that build it;",
    "                     --endpoint, --region (settings every machine needs) go into its query.",
    "                     Aliases: minio://HOST:PORT/BUCKET[/PREFIX] (minio+https:// for TLS) is",
    "                     s3:// with that endpoint; nfs:///MOUNT/PATH and smb:///MOUNT/PATH are",
    "                     local:// on a share mounted there (trunks mounts nothing)",
    "  --global NAME      save NAME in the per-user config instead (~/.config/trunks/config.json,",
    "                     $XDG_CONFIG_HOME/trunks or $TRUNKS_CONFIG_DIR), no repository needed:",
    "                     any repository then uses trunks://NAME/REPO. Settings only: a secret",
    "                     flag or a password in the URL is refused (use TRUNKS_STORAGE_<NAME>_*)",
    "  --mirror           add a mirror (pushes fan out to it) instead of the primary",
    "  --single-writer    accept a store that ignores exclusive create (only one machine pushes)",
    "  --json             print the result as JSON",
    "",
    "backends and their options:",
  ];
  const seen = new Set<string>();
  // Local disk first: it is what the 60-second start uses.
  const schemes = knownSchemes().sort((a, b) => Number(b === "local") - Number(a === "local"));
  for (const scheme of schemes) {
    const spec = backendSpec(scheme)!;
    if (seen.has(spec.schemes[0])) continue;
    seen.add(spec.schemes[0]);
    lines.push(`  ${spec.schemes.join(", ")}: ${spec.description}`);
    for (const s of spec.settings) {
      if (s.key === "single-writer") continue; // a general flag, above
      lines.push(
        `      --${s.key.padEnd(18)} ${s.help}${
          s.secret ? " (secret; - reads it from stdin)" : ""
        }`,
      );
    }
  }
  return lines.join("\n");
}

function options(): Record<string, OptionSpec> {
  const o: Record<string, OptionSpec> = {
    name: { type: "string" },
    backend: { type: "string" },
    global: { type: "boolean" },
    mirror: { type: "boolean" },
    "single-writer": { type: "boolean" },
    json: { type: "boolean" },
  };
  for (const f of backendFlags()) o[f] = { type: "string" };
  return o;
}

export const command: Command = {
  summary: "connect a named storage (primary, or --mirror)",
  get usage() {
    return usage();
  },
  async run(args) {
    const req = parseRequest(args);
    if (!req) return 0;
    if (req.global) return await addGlobal(req);
    const ctx = await openInitialized();
    try {
      refuseTakenName(ctx.db, req);
      const target = buildTarget(req.name, req.backend, req.flags, ctx.name);
      if (req.singleWriter) target.settings["single-writer"] = "true";
      refuseConnectedUrl(ctx.db, target);
      await ensureRoot(target);
      const probe = await probeStorage(req, target);
      const { exists: trunkExists, unrelated } = await inspectTrunk(target.url, target.resolved);
      const row = insertStorage(ctx.db, {
        name: req.name,
        role: req.mirror ? "mirror" : "primary",
        url: target.url,
        backend: target.backend,
        settings: target.settings,
        secrets: target.secrets,
      });
      if (!req.mirror) await setRemoteUrl(ctx.repo.top, target.url);
      // A new mirror of an existing trunk: copy it there now and record it in the map.
      const mirrored = req.mirror ? await catchUpNewMirror(ctx.db, req.name, req.json) : null;
      if (unrelated) warnUnrelated(req.name, target.url);
      const added = { row, probe, trunkExists, unrelated, mirrored };
      if (req.json) printAddedJson(added);
      else printAdded(req, added);
      return 0;
    } finally {
      ctx.db.close();
    }
  },
};

/** What the command line asks for. */
interface AddRequest {
  name: string;
  backend: string | undefined;
  flags: Settings;
  mirror: boolean;
  singleWriter: boolean;
  json: boolean;
  global: boolean;
}

/** The command line, validated; null when it asked for help (already printed). */
function parseRequest(args: string[]): AddRequest | null {
  const p = parseCommand(args, {
    name: "storage add",
    usage: usage(),
    options: options(),
    positionals: [0, 2],
  });
  if (!p) return null;
  const global = bool(p, "global");
  // `--global NAME URL`: the name may come first, as git remote add takes it.
  let name = str(p, "name");
  if (global && !name && p.positionals.length) name = p.positionals.shift();
  if (p.positionals.length > 1) {
    throw new UsageError(
      `storage add: unexpected argument ${JSON.stringify(p.positionals[1])}; usage: ${
        usage().split("\n")[0].replace(/^usage:\s*/, "")
      }`,
    );
  }
  if (global && bool(p, "mirror")) {
    throw new UsageError(
      "storage add: --global and --mirror do not mix: mirrors belong to one trunk; add the mirror in the repository (trunks storage add --name NAME URL --mirror)",
    );
  }
  if (global && !name) {
    throw new UsageError("storage add --global needs a name: trunks storage add --global NAME URL");
  }
  if (!name) throw new UsageError("storage add needs --name (e.g. --name primary)");
  if (!validStorageName(name)) {
    throw new UsageError(
      `storage name ${
        JSON.stringify(name)
      } is not usable: start with a letter, then letters, digits, - or _ (at most 40)`,
    );
  }
  const flags = flagsWithUrl(p);
  return {
    name,
    backend: str(p, "backend"),
    flags,
    mirror: bool(p, "mirror"),
    singleWriter: bool(p, "single-writer"),
    json: bool(p, "json"),
    global,
  };
}

type Db = Parameters<typeof getStorage>[0];
type Target = ReturnType<typeof buildTarget>;

/** One storage per name, one primary, and mirrors only next to a primary. */
function refuseTakenName(db: Db, req: AddRequest): void {
  const taken = getStorage(db, req.name);
  if (taken) {
    throw new Error(
      `a storage named ${taken.name} already exists (${taken.role}, ${taken.url}); remove it first (trunks storage remove ${taken.name}) or pick another --name`,
    );
  }
  const primary = primaryStorage(db);
  if (!req.mirror && primary) {
    throw new Error(
      `this repository already has a primary storage (${primary.name}); add this one with --mirror, or remove ${primary.name} first`,
    );
  }
  if (req.mirror && !primary) {
    throw new Error(
      "add the primary storage first (without --mirror); mirrors copy the primary",
    );
  }
}

function refuseConnectedUrl(db: Db, target: Target): void {
  const dup = listStorages(db).find((r) => r.url === target.url);
  if (dup) {
    throw new Error(`${target.url} is already connected as storage ${dup.name}`);
  }
}

/** Backends whose root must exist (local disk) create it for a storage root URL. */
async function ensureRoot(target: Target): Promise<void> {
  const spec = backendSpec(target.backend);
  if (!spec?.ensureRoot || isTrunkUrl(target.rootUrl)) return;
  try {
    await spec.ensureRoot(target.rootUrl);
  } catch (e) {
    throw new Error(
      `cannot create the storage root ${target.rootUrl}: ${describeError(e)}`,
    );
  }
}

type Probe = Awaited<ReturnType<typeof pingUrl>>;

/** Real I/O against the storage (write, read, list, exclusive create); nothing saved on failure. */
async function probeStorage(req: AddRequest, target: Target): Promise<Probe> {
  const probe = await pingUrl(target.url, target.resolved, {
    name: req.name,
    role: req.mirror ? "mirror" : "primary",
    singleWriter: req.singleWriter,
  });
  requirePingOk(req.name, probe);
  return probe;
}

function warnUnrelated(name: string, url: string): void {
  console.error(
    `trunks: note: the trunk already at ${url} shares no commit with this repository; if it belongs to another project, remove this storage (trunks storage remove ${name}) and add it again with --url ${
      url.replace(/\/[^/?]+\.trunk(\?|$)/, "/<other name>.trunk$1")
    }`,
  );
}

interface Added {
  row: ReturnType<typeof insertStorage>;
  probe: Probe;
  trunkExists: boolean;
  unrelated: boolean;
  mirrored: Awaited<ReturnType<typeof catchUpNewMirror>> | null;
}

function printAddedJson({ row, probe, trunkExists, unrelated, mirrored }: Added): void {
  printJson({
    ...storageView(row),
    trunkExists,
    unrelatedTrunk: unrelated,
    ...(mirrored ? { mirror: mirrored } : {}),
    probe: {
      ok: probe.ok,
      exclusiveCreate: probe.exclusiveCreate,
      latencyMs: probe.latencyMs,
      problems: probe.problems,
    },
  });
}

function printAdded(req: AddRequest, { row, probe, trunkExists, mirrored }: Added): void {
  console.log(
    `added storage ${row.name} (${row.role}, ${row.backend}): ${storageView(row).url}`,
  );
  console.log(
    `  checked: write, read, list, exclusive create ${
      probe.exclusiveCreate ? "ok" : "NOT honoured (single writer only)"
    } (${probe.latencyMs} ms)`,
  );
  console.log(
    mirrored
      ? `  ${mirrored.line}`
      : trunkExists
      ? "  a trunk already exists there: git fetch trunks (or trunks pull) gets it"
      : req.mirror
      ? "  the next push copies the trunk here"
      : "  git push sends any branch there",
  );
}

/**
 * Is there a trunk already, and does it look like another project's: it has branches,
 * this repository has commits, and none of the trunk's tips is known here.
 */
async function inspectTrunk(
  url: string,
  settings: Settings,
): Promise<{ exists: boolean; unrelated: boolean }> {
  const store = withDeadline(await openStore(url, settings));
  try {
    let trunk: Trunk;
    try {
      trunk = await Trunk.open(store, new MemoryCache(), writerName());
    } catch (e) {
      if (e instanceof TrunkError && e.code === "not-a-trunk") {
        return { exists: false, unrelated: false };
      }
      throw e;
    }
    const tips = [...Trunk.liveRefs(await trunk.refState()).values()]
      .filter((e) => !e.symref).map((e) => e.new);
    if (tips.length === 0) return { exists: true, unrelated: false };
    const hasCommits = (await git(["rev-parse", "-q", "--verify", "HEAD"], { okCodes: [1] }))
      .code === 0;
    return { exists: true, unrelated: hasCommits && (await existingObjects(tips)).size === 0 };
  } finally {
    await store.close();
  }
}

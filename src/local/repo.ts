/**
 * The repository trunks works in: where its work tree and git dir are, its `.trunks`
 * database, and the git configuration `trunks init` sets up so that plain `git push`
 * reaches the trunk.
 */
import { basename } from "node:path";
import { git, gitText } from "../git/run.ts";
import { isTrunkUrl, sanitizeTrunkName, splitTrunkPath } from "../storage/trunk_url.ts";
import { LocalDb } from "./db.ts";
import { REMOTE, UNSET_REMOTE_URL } from "./remote.ts";
import { findRepo, findTrunksDb, type Repo, RepoError, TRUNKS_DIR } from "./repo_dir.ts";

export { REMOTE, UNSET_REMOTE_URL };
export { findRepo, findTrunksDb, type Repo, RepoError, TRUNKS_DIR };

/** The trunk name a repository gets by default: its directory name, made safe. */
export function defaultRepoName(top: string): string {
  return sanitizeTrunkName(basename(top));
}

export interface Initialized {
  repo: Repo;
  db: LocalDb;
  /** The trunk name (`<root>/trunks/<name>.trunk`). */
  name: string;
  dbPath: string;
}

/** The initialised repository at `cwd`, with its database open; a RepoError otherwise. */
export async function openInitialized(cwd?: string): Promise<Initialized> {
  const repo = await findRepo(cwd);
  const dbPath = await findTrunksDb(repo);
  if (!dbPath) {
    throw new RepoError(`${repo.top} is not set up for trunks; run trunks init first`);
  }
  const db = new LocalDb(dbPath);
  const name = db.getValue("repo") ?? basename(dbPath).replace(/\.trunk$/, "");
  return { repo, db, name, dbPath };
}

export interface InitResult extends Initialized {
  /** False when the repository was already initialised (init is idempotent). */
  created: boolean;
}

/**
 * Create `.trunks/<name>.trunk`, keep `.trunks/` out of git, and configure the `trunks`
 * remote. Running it again changes nothing and says so through `created: false`.
 */
export async function initRepo(repo: Repo, wanted?: string): Promise<InitResult> {
  let name: string;
  try {
    name = sanitizeTrunkName(wanted ?? basename(repo.top));
  } catch (e) {
    throw new RepoError(`${e instanceof Error ? e.message : e}; pick one with --name`);
  }
  const existing = await findTrunksDb(repo);
  let created = false;
  let dbPath: string;
  let db: LocalDb;
  if (existing) {
    db = new LocalDb(existing);
    dbPath = existing;
    const have = db.getValue("repo") ?? basename(existing).replace(/\.trunk$/, "");
    if (wanted !== undefined && have !== name) {
      db.close();
      throw new RepoError(
        `already initialised as ${
          JSON.stringify(have)
        }; remove ${existing} to start over with another name`,
      );
    }
  } else {
    // Inline secrets live here: readable by the owner only.
    await Deno.mkdir(`${repo.top}/${TRUNKS_DIR}`, { recursive: true, mode: 0o700 });
    dbPath = `${repo.top}/${TRUNKS_DIR}/${name}.trunk`;
    await Deno.writeFile(dbPath, new Uint8Array(), { mode: 0o600, createNew: true });
    db = new LocalDb(dbPath);
    db.setValue("repo", name);
    created = true;
  }
  await ownerOnly(dbPath);
  await excludeTrunksDir(repo.top);
  await configureRemote(repo.top);
  return { repo, db, name: db.getValue("repo") ?? name, dbPath, created };
}

/** chmod 600 the database (SQLite gives its -wal and -shm files the same mode). */
export async function ownerOnly(dbPath: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  await Deno.chmod(dbPath, 0o600);
  await Deno.chmod(dbPath.slice(0, dbPath.lastIndexOf("/")), 0o700);
}

/** Add `/.trunks/` to `info/exclude` (never to a tracked .gitignore: no change to commit). */
export async function excludeTrunksDir(top: string): Promise<void> {
  const path = await gitText(
    ["rev-parse", "--path-format=absolute", "--git-path", "info/exclude"],
    { cwd: top },
  );
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  }
  const lines = text.split("\n").map((l) => l.trim());
  if (lines.some((l) => [".trunks", ".trunks/", "/.trunks", "/.trunks/"].includes(l))) return;
  const sep = text && !text.endsWith("\n") ? "\n" : "";
  await Deno.writeTextFile(path, `${text}${sep}# trunks' local state (trunks init)\n/.trunks/\n`);
}

async function configGet(top: string, key: string): Promise<string | null> {
  const r = await git(["config", "--local", "--get", key], { cwd: top, okCodes: [1] });
  return r.code === 0 ? new TextDecoder().decode(r.stdout).trim() : null;
}

async function configSet(top: string, key: string, value: string): Promise<void> {
  await git(["config", "--local", key, value], { cwd: top });
}

/** git >= 2.37 has push.autoSetupRemote. */
async function hasAutoSetupRemote(): Promise<boolean> {
  const v = await gitText(["version"]);
  const m = /(\d+)\.(\d+)/.exec(v);
  return !!m && (Number(m[1]) > 2 || (Number(m[1]) === 2 && Number(m[2]) >= 37));
}

/**
 * Plain `git push` of any branch goes to the trunk: `remote.pushDefault = trunks`, and
 * `push.autoSetupRemote` so a branch without upstream is pushed (and tracks the trunk)
 * instead of git refusing. An `origin` keeps working: `git push origin`, `git pull`.
 */
export async function configureRemote(top: string): Promise<void> {
  const url = await configGet(top, `remote.${REMOTE}.url`);
  if (url !== null && !url.startsWith("trunks::")) {
    throw new RepoError(
      `a git remote named ${REMOTE} already exists (${url}); rename it (git remote rename ${REMOTE} other) and run trunks init again`,
    );
  }
  if (url === null) await configSet(top, `remote.${REMOTE}.url`, UNSET_REMOTE_URL);
  if ((await configGet(top, `remote.${REMOTE}.fetch`)) === null) {
    await configSet(top, `remote.${REMOTE}.fetch`, `+refs/heads/*:refs/remotes/${REMOTE}/*`);
  }
  await configSet(top, "remote.pushDefault", REMOTE);
  if (await hasAutoSetupRemote()) await configSet(top, "push.autoSetupRemote", "true");
  else if ((await configGet(top, "push.default")) === null) {
    await configSet(top, "push.default", "current");
  }
}

/** Point the `trunks` remote at a trunk URL (or back at "unconfigured"). No secret goes here. */
export async function setRemoteUrl(top: string, trunkUrl: string | null): Promise<void> {
  await configSet(top, `remote.${REMOTE}.url`, trunkUrl ? `trunks::${trunkUrl}` : UNSET_REMOTE_URL);
}

/** A `trunks::<trunk URL>` remote other than `trunks` (a plain `git clone trunks::...`). */
export async function findTrunkRemote(
  top: string,
): Promise<{ remote: string; url: string } | null> {
  const r = await git(["config", "--local", "--get-regexp", "^remote\\..*\\.url$"], {
    cwd: top,
    okCodes: [1],
  });
  const found: { remote: string; url: string }[] = [];
  for (const line of new TextDecoder().decode(r.stdout).split("\n")) {
    const m = /^remote\.(.+)\.url trunks::(.+)$/.exec(line.trim());
    if (!m || m[1] === REMOTE || !isTrunkUrl(m[2])) continue;
    found.push({ remote: m[1], url: m[2] });
  }
  return found.find((f) => f.remote === "origin") ?? found[0] ?? null;
}

/** The trunk name a trunk URL names (`.../trunks/<name>.trunk`). */
export function trunkNameOf(url: string): string | null {
  const name = splitTrunkPath(new URL(url).pathname).name;
  return name === null ? null : decodeURIComponent(name);
}

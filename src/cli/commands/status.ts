/** `trunks status`: repo, branch, storages, dirty state, ahead/behind the trunk. */
import { existingObjects } from "../../git/repo.ts";
import { git, gitText } from "../../git/run.ts";
import { writerName } from "../../helper/resolve.ts";
import { openInitialized, REMOTE } from "../../local/repo.ts";
import { listStorages, type StorageRow } from "../../local/storages.ts";
import type { LocalDb } from "../../local/db.ts";
import { usableRow } from "../../local/map_trust.ts";
import { redactUrl } from "../../storage/registry.ts";
import { bool, parseCommand, printJson } from "../args.ts";
import { findHelper } from "../install_helper.ts";
import { describePublish, type PublishState, publishState } from "../publish_state.ts";
import type { Command } from "../command.ts";
import {
  describeMirrorState,
  type MirrorStatus,
  pendingApprovals,
  withMirrorStates,
} from "../mirror_admin.ts";
import { type StorageStatus, storageStatus, storageView } from "../storage_state.ts";

const usage = `usage: trunks status [--offline] [--json]

The repository, its branch, its storages (primary, mirrors: reachable, trunk there,
refs), uncommitted changes, and how the branch stands against the trunk. Reads the
storages (one list each when nothing changed); --offline uses what the last
fetch or push left in refs/remotes/${REMOTE}/ instead.

  --offline   do not contact any storage
  --json      print the documented JSON shape (see docs/cli.md)`;

export interface Changes {
  staged: number;
  unstaged: number;
  untracked: number;
  conflicted: number;
}

/** How the current branch stands against the same branch in the trunk. */
export type SyncState =
  | "in-sync"
  | "ahead"
  | "behind"
  | "diverged"
  | "not-pushed"
  | "fetch-needed"
  | "no-commits"
  | "detached"
  | "no-storage"
  | "unreachable"
  | "offline-unknown";

export interface StatusJson {
  repo: string;
  root: string;
  database: string;
  branch: string | null;
  head: string | null;
  dirty: boolean;
  changes: Changes;
  primary: string | null;
  /** Where git finds `git-remote-trunks`; null when it cannot (plain git push fails then). */
  helper: string | null;
  storages: StorageStatus[];
  /**
   * Storages the trunk's storage map names that this repository does not use: never
   * approved, or changed since (null with --offline).
   */
  unapproved: UnapprovedStatus[] | null;
  trunk: {
    url: string | null;
    ref: string | null;
    oid: string | null;
    ahead: number | null;
    behind: number | null;
    state: SyncState;
    /** The trunk's default branch (its HEAD), when known. */
    head: string | null;
  };
  /** The branch against the git remote it is published to (`origin`), as of the last fetch. */
  published: PublishState;
}

export interface UnapprovedStatus {
  name: string;
  role: "primary" | "mirror";
  backend: string;
  url: string;
  state: "new" | "changed";
  /** What changed since it was approved ("url a -> b", ...). */
  changes: string[];
  /** The command that approves it. */
  approve: string;
}

async function unapprovedStatus(db: LocalDb): Promise<UnapprovedStatus[]> {
  return (await pendingApprovals(db)).map((u) => ({
    name: u.entry.name,
    role: u.entry.role,
    backend: u.entry.backend,
    url: redactUrl(u.entry.url),
    state: u.verdict.state,
    changes: u.verdict.state === "changed" ? u.verdict.changes : [],
    approve: `trunks storage approve ${u.entry.name}`,
  }));
}

async function changes(): Promise<Changes> {
  const out = new TextDecoder().decode(
    (await git(["status", "--porcelain=v1", "-z", "--untracked-files=normal"])).stdout,
  );
  const c: Changes = { staged: 0, unstaged: 0, untracked: 0, conflicted: 0 };
  const parts = out.split("\0");
  for (let i = 0; i < parts.length; i++) {
    const e = parts[i];
    if (e.length < 3) continue;
    const x = e[0], y = e[1];
    if (x === "R" || x === "C") i++; // the rename's source path follows
    if (x === "?" && y === "?") c.untracked++;
    else if (x === "U" || y === "U" || (x === "A" && y === "A") || (x === "D" && y === "D")) {
      c.conflicted++;
    } else {
      if (x !== " ") c.staged++;
      if (y !== " ") c.unstaged++;
    }
  }
  return c;
}

async function optional(args: string[]): Promise<string | null> {
  const r = await git(args, { okCodes: [1, 128] });
  const s = new TextDecoder().decode(r.stdout).trim();
  return r.code === 0 && s ? s : null;
}

async function hasObject(oid: string): Promise<boolean> {
  const r = await git(["cat-file", "-e", `${oid}^{commit}`], { okCodes: [1, 128] });
  return r.code === 0;
}

/** A storage's record when --offline: the same fields, its state unknown (null). */
function offlineStatus(row: StorageRow): StorageStatus {
  return { ...storageView(row), reachable: null, trunkExists: null, refs: null, error: null };
}

export async function collectStatus(offline: boolean): Promise<StatusJson> {
  const ctx = await openInitialized();
  try {
    const branch = await optional(["symbolic-ref", "-q", "--short", "HEAD"]);
    const head = await optional(["rev-parse", "-q", "--verify", "HEAD"]);
    const ch = await changes();
    let rows = listStorages(ctx.db);
    const primary = rows.find((r) => r.role === "primary") ?? null;
    // Storages the trunk's map names that are not approved (or changed since) are listed
    // as such and never opened; nor is a saved row of one.
    const unapproved = !offline && primary
      ? await unapprovedStatus(ctx.db).catch(() => null)
      : null;
    rows = rows.filter((r) =>
      usableRow(ctx.db, r) &&
      !unapproved?.some((u) => u.name.toLowerCase() === r.name.toLowerCase())
    );
    const ref = branch ? `refs/heads/${branch}` : null;
    const trunk: StatusJson["trunk"] = {
      url: primary ? redactUrl(primary.url) : null,
      ref,
      oid: null,
      ahead: null,
      behind: null,
      state: "no-storage",
      head: null,
    };
    let storages: StatusJson["storages"];
    let trunkRefs: Map<string, string> | null = null;
    if (offline) {
      storages = rows.map(offlineStatus);
      if (ref) {
        trunkRefs = new Map();
        const oid = await optional([
          "rev-parse",
          "-q",
          "--verify",
          `refs/remotes/${REMOTE}/${branch}`,
        ]);
        if (oid) trunkRefs.set(ref, oid);
      }
    } else {
      const writer = writerName();
      const results = await Promise.all(rows.map((r) => storageStatus(r, ctx.db, writer)));
      storages = results.map((r) => r.status);
      storages = await withMirrorStates(ctx.db, storages);
      const p = results.find((r) => r.status.role === "primary");
      if (p?.status.reachable) {
        trunkRefs = p.refs;
        trunk.head = p.head;
      }
    }
    if (primary) {
      if (!trunkRefs && !offline) trunk.state = "unreachable";
      else if (!branch) trunk.state = "detached";
      else if (!head) trunk.state = "no-commits";
      else {
        const oid = trunkRefs?.get(ref!) ?? null;
        trunk.oid = oid;
        if (!oid && offline) trunk.state = "offline-unknown";
        else if (!oid) {
          trunk.state = "not-pushed";
          // What a push would add: commits no branch or tag of the trunk reaches.
          const known = [...(await existingObjects([...trunkRefs!.values()]))];
          const revs = [head, ...known.map((o) => `^${o}`)].join("\n") + "\n";
          trunk.ahead = Number(await gitText(["rev-list", "--count", "--stdin"], { stdin: revs }));
        } else if (!(await hasObject(oid!))) trunk.state = "fetch-needed";
        else {
          const counts = await gitText(["rev-list", "--left-right", "--count", `${head}...${oid}`]);
          const [a, b] = counts.split(/\s+/).map(Number);
          trunk.ahead = a;
          trunk.behind = b;
          trunk.state = a && b ? "diverged" : a ? "ahead" : b ? "behind" : "in-sync";
        }
      }
    }
    const published = await publishState(branch, head);
    return {
      repo: ctx.name,
      root: ctx.repo.top,
      database: ctx.dbPath,
      branch,
      head,
      dirty: ch.staged + ch.unstaged + ch.untracked + ch.conflicted > 0,
      changes: ch,
      primary: primary?.name ?? null,
      helper: await findHelper(),
      storages,
      unapproved,
      trunk,
      published,
    };
  } finally {
    ctx.db.close();
  }
}

function describeSync(s: StatusJson): string {
  const t = s.trunk;
  switch (t.state) {
    case "in-sync":
      return "up to date with the trunk";
    case "ahead":
      return `ahead of the trunk by ${t.ahead} commit(s): git push`;
    case "behind":
      return `behind the trunk by ${t.behind} commit(s): trunks pull`;
    case "diverged":
      return `diverged from the trunk (${t.ahead} ahead, ${t.behind} behind): trunks pull, then git push`;
    case "not-pushed":
      return `not in the trunk yet (${t.ahead} commit(s) to send): git push`;
    case "fetch-needed":
      return "the trunk has commits this repository lacks: trunks pull";
    case "no-commits":
      return "no commits yet";
    case "detached":
      return "HEAD is detached (no branch to compare)";
    case "no-storage":
      return "no storage yet: trunks storage add --name primary --backend local --path <dir>";
    case "unreachable":
      return "the primary storage is unreachable (see above)";
    case "offline-unknown":
      return `not known offline (no refs/remotes/${REMOTE}/${s.branch})`;
  }
}

export const command: Command = {
  summary: "show repo, branch, storages and sync state",
  usage,
  async run(args) {
    const p = parseCommand(args, {
      name: "status",
      usage,
      options: { json: { type: "boolean" }, offline: { type: "boolean" } },
    });
    if (!p) return 0;
    const s = await collectStatus(bool(p, "offline"));
    if (bool(p, "json")) {
      printJson(s);
      return 0;
    }
    console.log(`repo:     ${s.repo} (${s.root})`);
    console.log(
      `branch:   ${s.branch ?? "(detached HEAD)"}${s.head ? ` at ${s.head.slice(0, 12)}` : ""}`,
    );
    if (s.storages.length === 0) console.log("storage:  none");
    for (const st of s.storages) {
      const state = st.reachable === null
        ? "not checked (--offline)"
        : st.reachable
        ? st.trunkExists ? `ok, ${st.refs} ref(s)` : "ok, no trunk yet (first push creates it)"
        : `UNREACHABLE: ${st.error}`;
      const m = "mirror" in st ? st.mirror as MirrorStatus | null : null;
      // An unreachable mirror is said once, by the state above.
      const sync = m && !(m.state === "unreachable" && st.reachable === false)
        ? `; ${describeMirrorState(m)}`
        : "";
      const sw = st.singleWriter ? ", single writer" : "";
      console.log(
        `storage:  ${st.name} (${st.role}, ${st.backend}${sw}) ${st.url}: ${state}${sync}`,
      );
    }
    for (const u of s.unapproved ?? []) {
      const why = u.state === "changed"
        ? `CHANGED in the trunk's storage map since approved here (${u.changes.join(", ")})`
        : "listed in the trunk's storage map, NOT approved here";
      console.log(
        `storage:  ${u.name} (${u.role}, ${u.backend}) ${u.url}: ${why}; nothing is sent to it; to use it: ${u.approve}`,
      );
    }
    const c = s.changes;
    console.log(
      `changes:  ${
        s.dirty
          ? [
            c.staged && `${c.staged} staged`,
            c.unstaged && `${c.unstaged} unstaged`,
            c.untracked && `${c.untracked} untracked`,
            c.conflicted && `${c.conflicted} conflicted`,
          ].filter(Boolean).join(", ")
          : "clean"
      }`,
    );
    console.log(`trunk:    ${describeSync(s)}`);
    console.log(`publish:  ${describePublish(s.published, s.branch)}`);
    if (!s.helper) {
      console.log(
        "helper:   git-remote-trunks is not on PATH, so plain git push cannot reach the trunk: run trunks install-helper <dir on PATH> (or use trunks push, or the trunks shell)",
      );
    }
    return 0;
  },
};

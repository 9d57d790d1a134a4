/**
 * Before a push moves any ref: every mirror answers, holds this trunk, agrees with the
 * primary's ref log, and is caught up (missing data copied, missing entries replayed).
 * Any mirror that is down or diverged refuses the push, naming it. Then the storage map
 * is rewritten when the locally saved storages differ from it.
 */
import { TRUNK_JSON } from "../trunk/layout.ts";
import {
  describeMember,
  memberError,
  type MirroredStore,
  StorageFailure,
} from "../trunk/mirrors.ts";
import { MIRRORS_ENV, MIRRORS_PUSH_OPTION } from "../trunk/mirrors_policy.ts";
import { type MapEntry, sameStorages } from "../trunk/storage_map.ts";
import { describeReport } from "../trunk/sync.ts";
import type { OnProgress } from "../trunk/progress.ts";
import type { Trunk } from "../trunk/trunk.ts";
import { say } from "./io.ts";
import { credentialHint, type Resolved } from "../local/trunk_storages.ts";

/** Every storage answers a one-key list; used before a new trunk is created anywhere. */
export async function requireReachable(set: MirroredStore, resolved: Resolved): Promise<void> {
  const results = await Promise.allSettled(set.members.map((m) => m.store.list(TRUNK_JSON)));
  const down = results.flatMap((r, i) =>
    r.status === "rejected"
      ? [memberError(set.members[i], r.reason, "checking it before the push")]
      : []
  );
  if (down.length) {
    const primaryDown = down.some((e) => e.member.role === "primary");
    throw refusal(
      down.map((e) => withHint(e.message, e.member.name, resolved)),
      primaryDown ? "primary" : "mirror",
    );
  }
}

function withHint(line: string, name: string, resolved: Resolved): string {
  const p = resolved.planned.find((x) => x.name === name);
  // A refusal already names the storage's variables (the store's advice): not twice.
  const hint = p && !p.local && !line.includes("TRUNKS_STORAGE_") ? credentialHint(p) : "";
  return hint ? `${line} (${hint})` : line;
}

/** The push is refused; when only mirrors are at fault, the escape is named too. */
function refusal(lines: string[], role: "primary" | "mirror" = "mirror"): StorageFailure {
  const escape = role === "mirror"
    ? `; to save this push on the primary alone (the mirrors catch up later): git push -o ${MIRRORS_PUSH_OPTION}=skip, or ${MIRRORS_ENV}=skip`
    : "";
  return new StorageFailure(
    { name: "", role },
    "unreachable",
    `push refused before any ref moved: ${lines.join("; ")}${escape}`,
  );
}

/** Catch every mirror up, or refuse the push. */
export async function prepareMirrorsForPush(
  trunk: Trunk,
  resolved: Resolved,
  onProgress?: OnProgress,
): Promise<void> {
  for (const name of resolved.removed) {
    say(
      `trunks: mirror "${name}" was removed from the trunk's storage map (trunks storage remove elsewhere); not pushing there. Forget it here with: trunks storage remove ${name}`,
    );
  }
  const set = trunk.mirrored;
  if (set && set.mirrors.length) {
    const reports = await trunk.syncMirrors({
      write: true,
      progress: (line) => say(`trunks: ${line}`),
      onProgress,
    });
    const bad = reports.filter((r) => r.state === "diverged" || r.state === "unreachable");
    if (bad.length) {
      throw refusal(bad.map((r) => withHint(describeReport(r), r.name, resolved)));
    }
    for (const r of reports) {
      if (r.state === "caught-up") {
        const m = set.mirrors.find((x) => x.name === r.name)!;
        say(
          `trunks: ${describeMember(m)} was behind by ${r.behind} ref entr${
            r.behind === 1 ? "y" : "ies"
          }; caught up`,
        );
      }
    }
  }
  await updateStorageMap(trunk, resolved);
}

/** Write a new `storages/<seq>` when the locally saved storages differ from the map. */
export async function updateStorageMap(trunk: Trunk, resolved: Resolved): Promise<boolean> {
  if (!resolved.localMatch) return false;
  const want = mapEntries(resolved);
  if (resolved.map ? sameStorages(resolved.map.storages, want) : want.length < 2) return false;
  const written = await trunk.writeStorageMap(want, resolved.map?.seq ?? 0);
  resolved.map = written;
  return true;
}

/**
 * What the map should list: the storages used here, and the ones it names that this
 * machine did not approve, as they are (not approving a colleague's mirror is no reason
 * to take it out of everyone's map).
 */
export function mapEntries(resolved: Resolved): MapEntry[] {
  return [
    ...resolved.planned.map(({ name, role, url, backend, settings }) => ({
      name,
      role,
      url,
      backend,
      settings,
    })),
    ...resolved.unapproved.map((u) => u.entry),
  ];
}

/**
 * A way out for a damaged trunk (`trunks check --repair`). A ref whose value or history
 * is in no segment is repaired without deleting anything:
 *
 * - re-upload: when a local repository has everything the ref reaches, the objects the
 *   trunk lacks go up as one new segment through the ordinary segment upload (primary
 *   and mirrors). The ref entries stay as they are; their value is complete again.
 * - roll-back (only when asked): a NEW ref entry moves the ref back to its last value
 *   whose objects are all stored, created exclusively on top of the damaged entry like
 *   any push. The damaged entry stays in the ref log as the audit trail.
 *
 * It works from a finished check (its inventory holds the scratch repository with every
 * good segment's objects), so only what is really missing is uploaded.
 */
import { packObjectList, presentIn, type Reachable, reachableObjects } from "../git/compact.ts";
import { GitError } from "../git/run.ts";
import type { CheckReport, Inventory, ListedEntry } from "./check.ts";
import { isDeleted } from "./refs.ts";
import { sha256File } from "./segments.ts";
import type { Trunk } from "./trunk.ts";

export interface RepairOptions {
  /** A local repository that may hold the missing objects (null: none). */
  gitDir: string | null;
  /** Move refs that cannot be re-uploaded back to their last complete value. */
  rollBack: boolean;
  /** Where the repair pack is built (removed by the caller). */
  workDir: string;
  log?: (line: string) => void;
}

export interface RepairReport {
  /** The segment uploaded with the objects the local repository had, or null. */
  uploaded: { id: string; objects: number; refs: string[] } | null;
  /** Refs moved back by a new ref entry (`key`); `from` stays in the ref log. */
  rolledBack: { ref: string; from: string; to: string; key: string }[];
  /** Damaged refs left as they are, and why. */
  left: { ref: string; reason: string }[];
}

/** The latest entries of the refs the check found damaged (`dangling-ref`, `missing-object`). */
export function damagedRefs(report: CheckReport, inv: Inventory): ListedEntry[] {
  const names = new Set(
    report.problems
      .filter((p) => p.kind === "dangling-ref" || p.kind === "missing-object")
      .map((p) => p.ref)
      .filter((r): r is string => !!r),
  );
  return [...names].sort().map((r) => inv.latest.get(r)).filter((l): l is ListedEntry => !!l);
}

export async function repairTrunk(
  trunk: Trunk,
  report: CheckReport,
  inv: Inventory,
  opts: RepairOptions,
): Promise<RepairReport> {
  const log = opts.log ?? (() => {});
  const out: RepairReport = { uploaded: null, rolledBack: [], left: [] };
  const damaged = damagedRefs(report, inv);
  if (damaged.length === 0) return out;
  const why = new Map<string, string>();
  if (opts.gitDir) {
    log(`looking for the missing objects of ${damaged.length} ref(s) in this repository`);
    const up = await reupload(trunk, inv, damaged, opts.gitDir, opts.workDir, why);
    out.uploaded = up;
    if (up) log(`uploaded segment ${up.id.slice(0, 12)} (${up.objects} objects)`);
  }
  for (const l of damaged) {
    const ref = l.entry.ref;
    if (out.uploaded?.refs.includes(ref)) continue;
    const reason = why.get(ref) ?? "no local repository to upload its objects from";
    if (!opts.rollBack) {
      out.left.push({
        ref,
        reason: `${reason}; run trunks check --repair in a clone that has ` +
          `${l.entry.new.slice(0, 12)}, or add --roll-back to move ${ref} back to its last ` +
          `complete value`,
      });
      continue;
    }
    const target = await lastCompleteValue(inv, l);
    if (!target) {
      out.left.push({
        ref,
        reason: `${reason}, and no earlier value of ${ref} is complete; push it from a clone ` +
          `that has ${l.entry.new.slice(0, 12)}, or delete it (git push <remote> :${ref})`,
      });
      continue;
    }
    const r = await trunk.updateRef({ ref, new: target, base: l.entry, segments: [] });
    if (!r.ok) {
      out.left.push({
        ref,
        reason: `another writer moved ${ref} meanwhile; run trunks check again`,
      });
      continue;
    }
    log(`moved ${ref} back from ${l.entry.new.slice(0, 12)} to ${target.slice(0, 12)}`);
    out.rolledBack.push({
      ref,
      from: l.entry.new,
      to: target,
      key: trunk.layout.entryKey(ref, r.entry.seq),
    });
  }
  return out;
}

/**
 * Upload, as one new segment, the objects the damaged refs reach that the local
 * repository has and the trunk lacks. A ref is repaired only when the repository has
 * everything it reaches; `why` gets the reason for each one that is not.
 */
async function reupload(
  trunk: Trunk,
  inv: Inventory,
  damaged: ListedEntry[],
  gitDir: string,
  workDir: string,
  why: Map<string, string>,
): Promise<RepairReport["uploaded"]> {
  const need = new Map<string, string>();
  const refs: string[] = [];
  for (const l of damaged) {
    const tip = l.entry.new;
    const reach = await localClosure(gitDir, tip);
    if (!reach) {
      why.set(l.entry.ref, `this repository does not have ${tip.slice(0, 12)} and its history`);
      continue;
    }
    for (const [oid, path] of reach.present) need.set(oid, path);
    refs.push(l.entry.ref);
  }
  // What the trunk already holds (a good segment, or a large blob's manifest) stays out.
  for (const oid of await presentIn(inv.scratch, need.keys())) need.delete(oid);
  for (const oid of inv.manifests.keys()) need.delete(oid);
  if (need.size === 0) {
    for (const r of refs) why.set(r, "the trunk holds every object this repository has for it");
    return null;
  }
  await Deno.mkdir(workDir, { recursive: true });
  const built = await packObjectList(gitDir, need, workDir);
  const id = await sha256File(built.packPath);
  await trunk.putSegment(id, built.packPath, built.idxPath);
  return { id, objects: built.objects, refs };
}

/** Everything `tip` reaches in the repository, or null when any of it is missing there. */
async function localClosure(gitDir: string, tip: string): Promise<Reachable | null> {
  try {
    if (!(await presentIn(gitDir, [tip])).has(tip)) return null;
    const reach = await reachableObjects(gitDir, [tip]);
    return reach.missing.size === 0 ? reach : null;
  } catch (e) {
    if (e instanceof GitError) return null; // a missing commit or tree stops git's walk
    throw e;
  }
}

/**
 * The newest earlier value of the ref whose objects are all stored: in a segment, or a
 * large blob with a manifest. Null when there is none.
 */
async function lastCompleteValue(inv: Inventory, damaged: ListedEntry): Promise<string | null> {
  const earlier = inv.entries
    .filter((l) =>
      l.entry.ref === damaged.entry.ref && l.entry.seq < damaged.entry.seq &&
      !isDeleted(l.entry) && !l.entry.symref && l.entry.new !== damaged.entry.new
    )
    .sort((a, b) => b.entry.seq - a.entry.seq);
  for (const l of earlier) {
    const oid = l.entry.new;
    if (!(await presentIn(inv.scratch, [oid])).has(oid)) continue;
    try {
      const reach = await reachableObjects(inv.scratch, [oid]);
      if ([...reach.missing].every((o) => inv.manifests.has(o))) return oid;
    } catch (e) {
      if (!(e instanceof GitError)) throw e;
    }
  }
  return null;
}

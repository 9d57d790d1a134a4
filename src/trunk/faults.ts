/**
 * Injectable crash points for the reliability suite: `TRUNKS_FAULT=<point>` kills the
 * process with SIGKILL when it reaches that point, exactly like a sandbox dying there.
 * `TRUNKS_FAULT=<point>:<n>` fires on the n-th time the point is reached.
 *
 * The points of a plain push and fetch through the helper are listed in FAULT_POINTS:
 * tests/reliability/crash_test.ts kills a push or fetch at each of them and fails when
 * one is not exercised. Other layers (GC, mirrors, large blobs, the library) may use
 * their own names; list one here once the crash suite can reach it.
 */
export const FAULT_POINTS = {
  "push:after-pack": "pack built locally, nothing uploaded",
  "push:mid-segment": "segment pack partly handed to the store, upload unfinished",
  "push:after-segment-pack": "segment pack stored, its index not yet",
  "push:after-segments": "every segment stored, no ref entry written",
  "push:between-refs": "before each ref entry is created (refs move in parallel)",
  "push:after-ref": "right after one ref entry was created, others maybe not",
  "push:before-head": "every ref moved, a new trunk's HEAD not yet chosen",
  "push:after-refs": "everything written, git not yet told",
  "fetch:mid-download": "segment partly downloaded into objects/pack",
  "fetch:after-download": "segment downloaded and verified, not yet indexed",
  "fetch:after-ingest": "segment installed in the repository, not yet marked ingested",
} as const;

export type FaultPointName = keyof typeof FAULT_POINTS;

/**
 * The points of one maintenance step (src/trunk/maintenance.ts), in the order a step
 * reaches them: tests/metadata/maintenance_test.ts kills a step at each.
 */
export const MAINTENANCE_FAULT_POINTS = {
  "maint:after-snapshot": "snapshot written (or already current), nothing pruned",
  "maint:after-archive": "pruned entries archived to reflog/, none deleted yet",
  "maint:mid-prune": "one archived entry deleted, the others not",
  "maint:after-sidecar": "merged segment's sidecar written, the segment not yet",
  "maint:after-segment": "merged segment stored, nothing it replaces deleted",
  "maint:between-deletes": "a replaced segment's index deleted, its pack not yet",
} as const;

const seen = new Map<string, number>();
const spec = Deno.env.get("TRUNKS_FAULT") ?? "";

export function faultPoint(point: string): void {
  if (!spec) return;
  const [, name, nth] = /^(.*?)(?::(\d+))?$/.exec(spec)!;
  if (name !== point) return;
  const count = (seen.get(point) ?? 0) + 1;
  seen.set(point, count);
  if (count === Number(nth ?? 1)) Deno.kill(Deno.pid, "SIGKILL");
}

const delaySpec = Deno.env.get("TRUNKS_FAULT_DELAY") ?? "";

/**
 * `TRUNKS_FAULT_DELAY=<point>:<ms>` pauses there, so a race test can hold one party
 * inside its critical window while the other runs (a slow network, deterministically).
 * With `TRUNKS_FAULT_SIGNAL=<file>`, that file is created when the pause begins.
 */
export async function faultDelay(point: string): Promise<void> {
  if (!delaySpec) return;
  const m = /^(.*):(\d+)$/.exec(delaySpec);
  if (!m || m[1] !== point) return;
  const signal = Deno.env.get("TRUNKS_FAULT_SIGNAL");
  if (signal) await Deno.writeTextFile(signal, `${Deno.pid}\n`);
  await new Promise((r) => setTimeout(r, Number(m[2])));
}

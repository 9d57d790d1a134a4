/**
 * Segments across a primary and its mirrors: uploaded to every storage in parallel
 * (each reading the files itself, so memory stays bounded), and downloaded from the
 * first storage whose copy verifies, repairing copies that did not.
 */
import type { OnBytes } from "../storage/flow.ts";
import { type Store, StoreError } from "../storage/store.ts";
import { TrunkError } from "./errors.ts";
import { segmentPackKey } from "./layout.ts";
import {
  describeMember,
  isUnavailable,
  type Member,
  memberError,
  MirroredStore,
} from "./mirrors.ts";
import type { PutData } from "../storage/store.ts";
import {
  downloadSegmentBytes,
  downloadSegmentPack,
  ownListedSize,
  uploadSegment,
} from "./segments.ts";

/**
 * `onBytes` hears of the segment's own bytes at the pace of the slowest storage (the
 * least any storage has taken), so N storages never show N times the segment.
 */
export async function uploadSegmentEverywhere(
  set: MirroredStore,
  id: string,
  pack: string | Uint8Array,
  idx: string | Uint8Array,
  onBytes?: OnBytes,
): Promise<void> {
  const taken = set.members.map(() => 0);
  let shown = 0;
  const counter = (i: number): OnBytes | undefined =>
    onBytes &&
    ((n) => {
      taken[i] += n;
      const least = Math.min(...taken);
      if (least !== shown) onBytes(least - shown);
      shown = least;
    });
  const results = await Promise.allSettled(
    set.members.map((m, i) => uploadSegment(m.store, id, pack, idx, counter(i))),
  );
  const failed = results.flatMap((r, i) =>
    r.status === "rejected"
      ? [memberError(set.members[i], r.reason, `uploading segment ${id.slice(0, 12)}`)]
      : []
  );
  if (failed.length) {
    const e = failed[0];
    e.message = failed.map((f) => f.message).join("; ");
    throw e;
  }
}

function firstLine(e: unknown): string {
  const s = e instanceof Error ? e.message : String(e);
  return s.split("\n").find(Boolean) ?? "error";
}

export async function downloadSegmentVerified(
  store: Store,
  id: string,
  dest: string,
  onBytes?: OnBytes,
  signal?: AbortSignal,
  listed?: number,
): Promise<number> {
  return await fromFirstGood(
    store,
    id,
    // `listed` came from the storage read first (the set's reader). Another's copy is held
    // to its own listing: a reader's short (damaged) copy lists short, and the good copy
    // on a mirror must not be refused as longer than that (one LIST, only past a failure).
    async (s, first) => {
      const cap = first ? listed : (await ownListedSize(s, id)) ?? listed;
      return await downloadSegmentPack(s, id, dest, onBytes, signal, cap);
    },
    async () => (await Deno.open(dest)).readable,
  );
}

/**
 * `downloadSegmentVerified` into memory (`downloadSegmentBytes`): for small segments. Null
 * when the storage read sends more than `limit` bytes (nothing repaired then).
 */
export async function downloadSegmentBytesVerified(
  store: Store,
  id: string,
  limit: number,
  signal?: AbortSignal,
): Promise<Uint8Array | null> {
  return await fromFirstGood(
    store,
    id,
    (s) => downloadSegmentBytes(s, id, limit, signal),
    (b) => b,
  );
}

/**
 * `read` from the first storage whose copy verifies (a mirror set's read order), repairing
 * the corrupt copies met before it with `good`'s data; `first`: `s` is the storage tried
 * first (a lone store's is).
 */
async function fromFirstGood<T>(
  store: Store,
  id: string,
  read: (s: Store, first: boolean) => Promise<T>,
  good: (got: NonNullable<T>) => PutData | Promise<PutData>,
): Promise<T> {
  if (!(store instanceof MirroredStore)) return await read(store, true);
  const corrupt: { m: Member; why: string }[] = [];
  let firstError: unknown;
  const refused: string[] = [];
  for (const [i, m] of store.readOrder().entries()) {
    try {
      const got = await read(m.store, i === 0);
      if (corrupt.length && got !== null) await repair(store, m, corrupt, id, () => good(got!));
      for (const why of got === null ? [] : refused) {
        store.notice(`trunks: ${why}; read it from ${describeMember(m)} instead`);
      }
      return got;
    } catch (e) {
      firstError ??= e;
      if (e instanceof TrunkError && e.code === "corrupt") {
        corrupt.push({ m, why: firstLine(e) });
        continue;
      }
      // A storage's own refusal of what it holds (local disk: a key planted as a symlink,
      // a pipe or a device) is read past, but not repaired: the same code also says "it
      // changed while read" (PostgreSQL, SFTP), as when GC deletes the segment meanwhile,
      // and writing it back would undo that delete. Only a copy that fails its hash is
      // known bad.
      if (e instanceof StoreError && e.code === "corrupt") {
        refused.push(firstLine(e));
        continue;
      }
      if (e instanceof TrunkError && e.code === "missing-object") continue;
      if (isUnavailable(e)) continue;
      throw e;
    }
  }
  throw firstError;
}

/** Re-put the verified pack where the copy was bad; a failed repair only warns. */
async function repair(
  set: MirroredStore,
  good: Member,
  bad: { m: Member; why: string }[],
  id: string,
  data: () => PutData | Promise<PutData>,
): Promise<void> {
  for (const { m, why } of bad) {
    try {
      await m.store.put(segmentPackKey(id), await data());
      set.notice(
        `trunks: ${why}; read it from ${
          describeMember(good)
        } and repaired the copy on ${m.role} "${m.name}"`,
      );
    } catch (e) {
      set.notice(
        `trunks: ${why}; read it from ${
          describeMember(good)
        }, but repairing ${m.role} "${m.name}" failed: ${firstLine(e)}`,
      );
    }
  }
}

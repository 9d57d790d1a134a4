/**
 * Reads of objects small by nature (DESIGN.md: what the store holds is untrusted input).
 * A hostile or damaged store may answer one with an endless body: a whole read of it
 * would take the client's memory. Each is read through `getSmall`, with a bound far above
 * anything a trunk writes, and no more than the bound is fetched (`getAtMost`).
 */
import { getAtMost, readUpTo, type Store } from "../storage/store.ts";
import { TrunkError } from "./errors.ts";

const MiB = 1024 * 1024;

/**
 * trunk.json: a dozen fields (ids, format, writer, seal), a few hundred bytes; 1 MiB is
 * thousands of times that.
 */
export const TRUNK_JSON_MAX_BYTES = 1 * MiB;

/**
 * segments/<id>.replaces: per replaced segment its id and listed time (~150 bytes), and
 * nested lists of at most 20,000 ids in all (replaces.ts NESTED_MAX_IDS, ~3.5 MB): 64 MiB
 * (as an archive, reflog.ts) holds a compaction of over 400,000 segments.
 */
export const SIDECAR_MAX_BYTES = 64 * MiB;

/**
 * blobs/<oid>: ~81 bytes per chunk (`["<sha256>",<size>],`), chunks of at least 256 KiB
 * (chunker.ts DEFAULT_CHUNKING; 1 MiB on average): 256 MiB holds a blob of 800 GiB even
 * were every chunk the smallest, ~3 TiB at the average; a 100 GiB blob takes ~8 MB.
 */
export const BLOB_MANIFEST_MAX_BYTES = 256 * MiB;

/**
 * gc/touch/<uuid>: the chunk and manifest ids one push reuses, ~67 bytes each, fewer than
 * its blobs' manifests list; one past this is unreadable, and a clean then spares every
 * chunk (never a loss).
 */
export const TOUCH_MAX_BYTES = BLOB_MANIFEST_MAX_BYTES;

/**
 * `key`'s bytes (null: there is none), or a "corrupt" error naming it once it runs past
 * `maxBytes`, when no more than that and a byte has been fetched. `what` names the kind
 * of object in the error; `tooLarge`, given, makes the error instead (a kind of object
 * whose readers refuse one too large by a rule of their own).
 */
export async function getSmall(
  store: Store,
  key: string,
  maxBytes: number,
  what: string,
  tooLarge?: () => Error,
): Promise<Uint8Array | null> {
  const body = await getAtMost(store, key, maxBytes);
  if (!body) return null;
  const raw = await readUpTo(body, maxBytes);
  if (raw) return raw;
  if (tooLarge) throw tooLarge();
  throw new TrunkError(
    `${store.location}/${key} is larger than any ${what} (${maxBytes} bytes): the store is damaged or not a trunk's; it was not read, run trunks check`,
    "corrupt",
  );
}

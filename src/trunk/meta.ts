/** `trunk.json`: identity and format of a trunk, created once, exclusively. */
import { exclusiveCreateVerdict, requireExclusiveCreate } from "../storage/probe.ts";
import type { Store } from "../storage/store.ts";
import type { TrunkCache } from "./cache.ts";
import { TrunkError } from "./errors.ts";
import { FORMAT, TRUNK_JSON } from "./layout.ts";
import { leaseForNewTrunk } from "./lease.ts";
import { checkSeal, checkSealAsync, seal } from "./seal.ts";
import { getSmall, TRUNK_JSON_MAX_BYTES } from "./small_objects.ts";

export interface TrunkMeta {
  format: number;
  /** Random id: caches are keyed by it, so a trunk re-created at the same URL is new. */
  id: string;
  objectFormat: "sha1" | "sha256";
  created: string;
  generator: string;
  /**
   * How the store was found to handle create-exclusive when the trunk was created:
   * probed and honoured, or accepted without it by explicit opt-in (one writer only).
   * Absent in trunks created before the record: a writer probes once.
   */
  exclusiveCreate?: ExclusiveCreate;
  /**
   * The lease (DESIGN.md "Lease and grace"): a push creates its ref entries within this
   * many seconds of its last read of the trunk's state; a clean deletes nothing younger
   * than two leases. Absent: LEASE_DEFAULT_SECONDS.
   */
  leaseSeconds?: number;
  /** SHA-256 seal (seal.ts); absent in trunks created before seals. */
  sum?: string;
}

export type ExclusiveCreate = "verified" | "single-writer";

export const VERSION = "0.2.0";

/** trunk.json's bytes (null: there is none); one past its bound is a "corrupt" error, unread. */
export function readTrunkJson(store: Store): Promise<Uint8Array | null> {
  return getSmall(store, TRUNK_JSON, TRUNK_JSON_MAX_BYTES, "trunk.json");
}

/**
 * trunk.json as stored, checked (null: there is none). `early`: its bytes from a read
 * already made of this very store (the helper's, beside its first listings).
 */
export async function readMeta(
  store: Store,
  early?: Promise<Uint8Array | null>,
): Promise<TrunkMeta | null> {
  const raw = await (early ?? readTrunkJson(store));
  if (!raw) return null;
  return await parseMetaAsync(new TextDecoder().decode(raw), store.location);
}

export function parseMeta(raw: string, where: string): TrunkMeta {
  const meta = metaShape(raw, where);
  checkSeal(meta, `${where}/${TRUNK_JSON}`);
  return checkFormat(meta, where);
}

/**
 * parseMeta with the seal hashed by WebCrypto (seal.ts `checkSealAsync`): the same checks,
 * without loading node:crypto. For the cached copy `Trunk.open` reads on every fetch.
 */
export async function parseMetaAsync(raw: string, where: string): Promise<TrunkMeta> {
  const meta = metaShape(raw, where);
  await checkSealAsync(meta, `${where}/${TRUNK_JSON}`);
  return checkFormat(meta, where);
}

/** trunk.json's JSON and field shapes, unsealed. */
function metaShape(raw: string, where: string): TrunkMeta {
  let meta: TrunkMeta;
  try {
    meta = JSON.parse(raw);
  } catch {
    throw new TrunkError(
      `${where}/${TRUNK_JSON} is not valid JSON; the trunk is damaged`,
      "corrupt",
    );
  }
  // Its fields reach git (`:object-format`), caches and messages: shapes are checked.
  if (
    !Number.isInteger(meta?.format) || meta.format < 1 || typeof meta.id !== "string" ||
    !/^[A-Za-z0-9._-]{1,128}$/.test(meta.id) ||
    (meta.objectFormat !== undefined && meta.objectFormat !== "sha1" &&
      meta.objectFormat !== "sha256")
  ) {
    throw new TrunkError(
      `${where}/${TRUNK_JSON} lacks a valid format, id or object format; the trunk is damaged`,
      "corrupt",
    );
  }
  if (
    meta.leaseSeconds !== undefined &&
    !(Number.isInteger(meta.leaseSeconds) && meta.leaseSeconds >= 0)
  ) {
    throw new TrunkError(
      `${where}/${TRUNK_JSON} has a bad leaseSeconds (${
        JSON.stringify(meta.leaseSeconds)
      }); the trunk is damaged`,
      "corrupt",
    );
  }
  return meta;
}

function checkFormat(meta: TrunkMeta, where: string): TrunkMeta {
  if (meta.format > FORMAT) {
    throw new TrunkError(
      `trunk at ${where} uses format ${meta.format}, newer than this trunks (${VERSION}) understands (${FORMAT}); upgrade trunks`,
      "format",
    );
  }
  return meta;
}

/**
 * trunk.json for a client about to write: the cached copy (unless `fromStore`), the stored
 * one, or a new one (recording how create-exclusive was verified) when the location is
 * empty; then `checkWritable`. Nothing is written to a store that fails. `created`: this
 * call created trunk.json (see `ensureMetaCreated`); `absent`: as there.
 */
export async function metaForWrite(
  store: Store,
  cache: TrunkCache,
  objectFormat: "sha1" | "sha256",
  settings: { leaseSeconds?: number; fromStore?: boolean; absent?: boolean } = {},
): Promise<{ meta: TrunkMeta; created: boolean }> {
  const cached = settings.fromStore ? undefined : cache.getMeta(store.location);
  const got = cached
    ? { meta: parseMeta(cached, store.location), created: false }
    : await ensureMetaCreated(store, objectFormat, settings);
  await checkWritable(store, cache, got.meta);
  return got;
}

/**
 * Before a client's first write to a trunk: the store must have shown it honours
 * create-exclusive, or its writer opted into single-writer. Recorded in trunk.json when
 * the trunk was created; a trunk without the record is probed once per client (the
 * result cached with the trunk's id). A store that fails refuses with one line.
 */
export async function checkWritable(
  store: Store,
  cache: TrunkCache,
  meta: TrunkMeta,
): Promise<void> {
  if (meta.exclusiveCreate === "verified" || meta.exclusiveCreate === "single-writer") return;
  const probedKey = `${store.location}${PROBED_SUFFIX}`;
  if (cache.getMeta(probedKey) === meta.id) return;
  if (await requireExclusiveCreate(store) === "verified") cache.putMeta(probedKey, meta.id);
}

/** Cache key suffix: this client probed the trunk (id as value) that has no record. */
const PROBED_SUFFIX = "#exclusive-create";

/** Read trunk.json, creating it when absent. Two racing creators agree on one. */
export async function ensureMeta(
  store: Store,
  objectFormat: "sha1" | "sha256",
  settings: { leaseSeconds?: number } = {},
): Promise<TrunkMeta> {
  return (await ensureMetaCreated(store, objectFormat, settings)).meta;
}

/**
 * ensureMeta, and whether this call created trunk.json: won its exclusive create, so the
 * trunk was this process's and empty at that instant. `absent`: the caller read trunk.json
 * from this very store a moment ago and found none, so it is not read again first; one
 * created since makes the create lose and the winner is read, as after any lost race.
 */
export async function ensureMetaCreated(
  store: Store,
  objectFormat: "sha1" | "sha256",
  settings: { leaseSeconds?: number; absent?: boolean } = {},
): Promise<{ meta: TrunkMeta; created: boolean }> {
  const existing = settings.absent ? null : await readMeta(store);
  if (existing) return { meta: existing, created: false };
  const lease = leaseForNewTrunk(settings.leaseSeconds);
  const { verdict, removed } = await exclusiveCreateVerdict(store);
  const meta: TrunkMeta = {
    format: FORMAT,
    id: crypto.randomUUID(),
    objectFormat,
    created: new Date().toISOString(),
    generator: `trunks ${VERSION}`,
    exclusiveCreate: verdict,
    ...lease,
  };
  let won: boolean;
  try {
    won = await store.create(
      TRUNK_JSON,
      new TextEncoder().encode(JSON.stringify(seal(meta), null, 2) + "\n"),
    );
  } finally {
    // The probe key's DELETE went out beside the create: both are done before this returns.
    await removed;
  }
  if (won) return { meta, created: true };
  const winner = await readMeta(store);
  if (!winner) {
    throw new TrunkError(`${store.location}/${TRUNK_JSON} vanished while creating it`, "corrupt");
  }
  return { meta: winner, created: false };
}

/** `trunk.json`: identity and format of a trunk, created once, exclusively. */
import { getBytes, type Store } from "../storage/store.ts";
import { TrunkError } from "./errors.ts";
import { FORMAT, TRUNK_JSON } from "./layout.ts";
import { leaseForNewTrunk } from "./lease.ts";
import { checkSeal, seal } from "./seal.ts";

export interface TrunkMeta {
  format: number;
  /** Random id: caches are keyed by it, so a trunk re-created at the same URL is new. */
  id: string;
  objectFormat: "sha1" | "sha256";
  created: string;
  generator: string;
  /**
   * The lease (DESIGN.md "Lease and grace"): a push creates its ref entries within this
   * many seconds of its last read of the trunk's state; a clean deletes nothing younger
   * than two leases. Absent: LEASE_DEFAULT_SECONDS.
   */
  leaseSeconds?: number;
  /** SHA-256 seal (seal.ts); absent in trunks created before seals. */
  sum?: string;
}

export const VERSION = "0.2.0";

export async function readMeta(store: Store): Promise<TrunkMeta | null> {
  const raw = await getBytes(store, TRUNK_JSON);
  if (!raw) return null;
  return parseMeta(new TextDecoder().decode(raw), store.location);
}

export function parseMeta(raw: string, where: string): TrunkMeta {
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
    typeof meta?.format !== "number" || typeof meta.id !== "string" ||
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
  checkSeal(meta, `${where}/${TRUNK_JSON}`);
  if (meta.format > FORMAT) {
    throw new TrunkError(
      `trunk at ${where} uses format ${meta.format}, newer than this trunks (${VERSION}) understands (${FORMAT}); upgrade trunks`,
      "format",
    );
  }
  return meta;
}

/** Read trunk.json, creating it when absent. Two racing creators agree on one. */
export async function ensureMeta(
  store: Store,
  objectFormat: "sha1" | "sha256",
  settings: { leaseSeconds?: number } = {},
): Promise<TrunkMeta> {
  const existing = await readMeta(store);
  if (existing) return existing;
  const meta: TrunkMeta = {
    format: FORMAT,
    id: crypto.randomUUID(),
    objectFormat,
    created: new Date().toISOString(),
    generator: `trunks ${VERSION}`,
    ...leaseForNewTrunk(settings.leaseSeconds),
  };
  if (
    await store.create(
      TRUNK_JSON,
      new TextEncoder().encode(JSON.stringify(seal(meta), null, 2) + "\n"),
    )
  ) {
    return meta;
  }
  const winner = await readMeta(store);
  if (!winner) {
    throw new TrunkError(`${store.location}/${TRUNK_JSON} vanished while creating it`, "corrupt");
  }
  return winner;
}

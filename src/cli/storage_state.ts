/**
 * One record per storage, for `storage list/show/ping` and `status`. Kept as plain data
 * so per-storage state (e.g. how far a mirror is behind) can be added as fields.
 */
import { withDeadline } from "../storage/deadline.ts";
import { envOverrides, resolveSettings, type StorageRow } from "../local/storages.ts";
import { probeStore } from "../storage/probe.ts";
import { backendSpec, openStore, redactUrl, type Settings } from "../storage/registry.ts";
import { type Store, StoreError } from "../storage/store.ts";
import type { TrunkCache } from "../trunk/cache.ts";
import { TrunkError } from "../trunk/errors.ts";
import { Trunk } from "../trunk/trunk.ts";
import { describeError } from "../trunk/describe_error.ts";
import { accessWords, credentialAdvice, schemeOf } from "../trunk/credential_hint.ts";

export const MASK = "***";

/** A saved storage as shown to users: secrets masked, env overrides named. */
export interface StorageView {
  name: string;
  role: "primary" | "mirror";
  backend: string;
  url: string;
  settings: Settings;
  /** Secret keys saved inline, each value `***`. */
  secrets: Record<string, string>;
  /** `TRUNKS_STORAGE_<NAME>_*` variables set now (they win over saved values). */
  env: string[];
  singleWriter: boolean;
  added: string;
}

export function storageView(row: StorageRow): StorageView {
  const keys = backendSpec(row.backend)?.settings.map((s) => s.key) ??
    [...Object.keys(row.settings), ...Object.keys(row.secrets)];
  return {
    name: row.name,
    role: row.role,
    backend: row.backend,
    url: redactUrl(row.url),
    settings: { ...row.settings },
    secrets: Object.fromEntries(Object.keys(row.secrets).map((k) => [k, MASK])),
    env: envOverrides(row.name, keys),
    singleWriter: row.settings["single-writer"] === "true",
    added: row.added,
  };
}

/** Settings to open a saved storage with: env, then inline values. */
export function openSettings(row: StorageRow): Settings {
  return resolveSettings(row, backendSpec(row.backend)?.settings.map((s) => s.key));
}

/** Result of `storage ping` for one storage (or an unsaved URL: name and role null). */
export interface PingRecord {
  name: string | null;
  role: "primary" | "mirror" | null;
  url: string;
  /** All of read, write, list and exclusive create worked (or single-writer accepted). */
  ok: boolean;
  /** The store answered at all. */
  reachable: boolean;
  /** A second exclusive create of one key failed, as it must; null when not reached. */
  exclusiveCreate: boolean | null;
  singleWriter: boolean;
  latencyMs: number | null;
  problems: string[];
  /**
   * Why `ok` is false: `unreachable` (no answer, no such bucket or path), `access-denied`
   * (credentials refused), `no-exclusive-create`, `failed` (another step failed); null when ok.
   */
  reason: "unreachable" | "access-denied" | "no-exclusive-create" | "failed" | null;
  /** The one-line error that explains `ok: false`. */
  error: string | null;
}

/** The one line `storage add` (local or `--global`) fails with when the I/O check fails. */
export function requirePingOk(name: string, probe: PingRecord): void {
  if (probe.ok) return;
  const what = probe.reason === "access-denied"
    ? accessWords(probe.error)
    : probe.reason === "unreachable"
    ? "is unreachable"
    : "failed its check";
  throw new Error(`storage ${name} (${probe.url}) ${what}: ${probe.error}; nothing was saved`);
}

/** Real I/O against one storage: write, read, list, create twice, delete. */
export async function pingUrl(
  url: string,
  settings: Settings,
  who: {
    name: string | null;
    role: "primary" | "mirror" | null;
    singleWriter: boolean;
    /** An unsaved storage's `--name`: whose TRUNKS_STORAGE_<NAME>_* a hint names. */
    envName?: string | null;
  },
): Promise<PingRecord> {
  const rec: PingRecord = {
    name: who.name,
    role: who.role,
    singleWriter: who.singleWriter,
    url: redactUrl(url),
    ok: false,
    reachable: false,
    exclusiveCreate: null,
    latencyMs: null,
    problems: [],
    reason: null,
    error: null,
  };
  let store: Store | undefined;
  try {
    store = withDeadline(await openStore(url, settings));
    const probe = await probeStore(store);
    rec.reachable = true;
    rec.exclusiveCreate = probe.exclusiveCreate;
    rec.latencyMs = probe.latencyMs;
    rec.problems = probe.problems;
    const onlyCas = probe.problems.length > 0 && !probe.exclusiveCreate &&
      probe.problems.every((p) => /create-exclusive/.test(p));
    rec.ok = probe.ok || (onlyCas && who.singleWriter);
    if (!rec.ok && !probe.exclusiveCreate && onlyCas) {
      rec.reason = "no-exclusive-create";
      rec.error = `${
        redactUrl(url)
      } does not honour exclusive create, so two writers could both win a ref update; use another store, or pass --single-writer if only one machine ever pushes`;
    } else if (!rec.ok) {
      rec.reason = "failed";
      rec.error = probe.problems[0];
    }
  } catch (e) {
    const denied = e instanceof StoreError && e.code === "access-denied";
    // A refusal is an answer: the store is there, the credentials are not right.
    rec.reachable = denied;
    rec.reason = denied ? "access-denied" : "unreachable";
    rec.error = describeError(e);
    if (denied) {
      rec.error += credentialAdvice({
        envName: who.name ?? who.envName ?? null,
        backend: schemeOf(url),
      });
    }
  } finally {
    await store?.close().catch(() => {});
  }
  return rec;
}

export function pingStorage(row: StorageRow): Promise<PingRecord> {
  return pingUrl(row.url, openSettings(row), {
    name: row.name,
    role: row.role,
    singleWriter: row.settings["single-writer"] === "true",
  });
}

/** Read-only state of one saved storage for `status`: reachable, trunk there, its refs. */
export interface StorageStatus extends StorageView {
  /** The store answered (null: not checked, `status --offline`). */
  reachable: boolean | null;
  /** trunk.json exists at the URL (false before the first push). */
  trunkExists: boolean | null;
  /** Live refs in the trunk (branches and tags; HEAD not counted). */
  refs: number | null;
  error: string | null;
}

export interface StorageStatusResult {
  status: StorageStatus;
  /** The trunk's live refs, ref -> oid (for ahead/behind). */
  refs: Map<string, string>;
  head: string | null;
}

export async function storageStatus(
  row: StorageRow,
  cache: TrunkCache,
  writer: string,
): Promise<StorageStatusResult> {
  const status: StorageStatus = {
    ...storageView(row),
    reachable: false,
    trunkExists: false,
    refs: 0,
    error: null,
  };
  const refs = new Map<string, string>();
  let head: string | null = null;
  let store: Store | undefined;
  try {
    store = withDeadline(await openStore(row.url, openSettings(row)));
    let trunk: Trunk | null = null;
    try {
      trunk = await Trunk.open(store, cache, writer);
    } catch (e) {
      if (!(e instanceof TrunkError && e.code === "not-a-trunk")) throw e;
      // Not a trunk yet: reachable only if the store answers a list.
      await store.list("trunk.json");
    }
    if (trunk) {
      const state = await trunk.refState();
      for (const [ref, e] of Trunk.liveRefs(state)) {
        if (ref === "HEAD") head = e.symref ?? null;
        else refs.set(ref, e.new);
      }
      status.trunkExists = true;
      status.refs = refs.size;
    }
    status.reachable = true;
  } catch (e) {
    status.error = describeError(e);
  } finally {
    await store?.close().catch(() => {});
  }
  return { status, refs, head };
}

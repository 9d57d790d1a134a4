/**
 * Shared by the reliability suite: the backends it runs on, and the checks that define
 * "the trunk is valid" after a crash or a fault.
 */
import { openStore } from "../../src/storage/registry.ts";
import type { Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { parseRefEntryKey } from "../keys.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { isDeleted, readRefLog, type RefEntry } from "../../src/trunk/refs.ts";
import { downloadSegmentPack, listSegments } from "../../src/trunk/segments.ts";
import { assert, assertEquals } from "../assert.ts";
import { type Backend, e2eBackends } from "../e2e/harness.ts";

/** Local disk always, and MinIO (required in CI). */
export function reliabilityBackends(): Backend[] {
  return e2eBackends().filter((b) => b.name === "local" || b.name === "minio");
}

/** Every backend of the e2e suite (each server required in CI). */
export function allBackends(): Backend[] {
  return e2eBackends();
}

export function openTrunkStore(b: Backend, url: string): Promise<Store> {
  return openStore(url, b.settings);
}

/** Every visible key with its size: "nothing written" means this does not change. */
export async function snapshot(store: Store): Promise<string[]> {
  return (await store.list("")).map((e) => `${e.key} ${e.size}`);
}

export interface TrunkReport {
  /** Live refs: name -> oid (symref target for HEAD). */
  refs: Map<string, string>;
  entries: RefEntry[];
  segments: string[];
}

/**
 * The trunk's invariants, read with a fresh cache (nothing trusted from a client):
 * trunk.json and every ref entry parse and match their seals; each ref's log is
 * gap-free and linear (every entry's `old` is the previous entry's `new`); every
 * segment any entry names is complete and its bytes match its name.
 */
export async function verifyTrunk(store: Store): Promise<TrunkReport> {
  const meta = await readMeta(store);
  assert(meta, `${store.location}: no trunk.json`);
  const listedKeys = async () =>
    (await store.list("refs/")).filter((e) => parseRefEntryKey(e.key)).map((e) => e.key);
  // A create a killed process had in flight can still land at a loaded server moments
  // later: read until the listing holds still around the read, then every key it lists
  // must have been readable.
  let entries: RefEntry[] = [];
  for (let attempt = 0;; attempt++) {
    const before = await listedKeys();
    entries = await readRefLog(store, new MemoryCache(), meta);
    const after = await listedKeys();
    if (before.join("\n") === after.join("\n") || attempt >= 5) {
      assertEquals(entries.length, after.length, "every listed ref entry is readable");
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const byRef = new Map<string, RefEntry[]>();
  for (const e of entries) {
    if (!byRef.has(e.ref)) byRef.set(e.ref, []);
    byRef.get(e.ref)!.push(e);
  }
  const segments = await listSegments(store);
  const complete = new Set(segments.map((s) => s.id));
  const refs = new Map<string, string>();
  for (const [ref, log] of byRef) {
    log.sort((a, b) => a.seq - b.seq);
    log.forEach((e, i) => {
      // A log may start past 1 (pruned into reflog/), never with holes.
      if (i > 0) {
        assertEquals(e.seq, log[i - 1].seq + 1, `${ref}: seq ${log[i - 1].seq + 1} missing`);
      }
      if (i > 0 && !e.symref && !log[i - 1].symref) {
        assertEquals(e.old, log[i - 1].new, `${ref} #${e.seq}: old is not the previous new`);
      }
      for (const s of e.segments) {
        assert(complete.has(s), `${ref} #${e.seq} names segment ${s}, which is not complete`);
      }
    });
    const last = log[log.length - 1];
    if (!isDeleted(last)) refs.set(ref, last.symref ?? last.new);
  }
  const tmp = await Deno.makeTempDir({ prefix: "trunks-verify-" });
  try {
    for (const s of segments) await downloadSegmentPack(store, s.id, `${tmp}/${s.id}.pack`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  return { refs, entries, segments: segments.map((s) => s.id) };
}

/** The one line of ours git shows, which must say what went wrong. */
export function trunksLine(stderr: string): string {
  return stderr.split("\n").find((l) => l.startsWith("fatal: trunks:")) ?? "";
}

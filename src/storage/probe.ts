/**
 * Real I/O against a store before anyone relies on it: write, read back, list,
 * create-exclusive twice (the second must fail), delete. A store that silently ignores
 * the create condition (some S3-compatible servers do) is caught here.
 */
import { getBytes, type Store } from "./store.ts";

export interface ProbeResult {
  ok: boolean;
  /** false when the store accepted a second exclusive create of the same key. */
  exclusiveCreate: boolean;
  latencyMs: number;
  /** One line per failed step. */
  problems: string[];
}

const PROBE_PREFIX = "probe/";

export async function probeStore(store: Store): Promise<ProbeResult> {
  const started = performance.now();
  const problems: string[] = [];
  const id = `${Date.now().toString(36)}-${crypto.randomUUID()}`;
  const dataKey = `${PROBE_PREFIX}${id}.data`;
  const casKey = `${PROBE_PREFIX}${id}.cas`;
  const payload = new TextEncoder().encode(`trunks probe ${id}`);
  let exclusiveCreate = false;
  try {
    await store.put(dataKey, payload);
    const back = await getBytes(store, dataKey);
    if (!back || new TextDecoder().decode(back) !== new TextDecoder().decode(payload)) {
      problems.push(`read after write returned different bytes for ${dataKey}`);
    }
    const listed = await store.list(PROBE_PREFIX + id);
    if (!listed.some((e) => e.key === dataKey)) {
      problems.push(`list did not show ${dataKey} right after writing it`);
    }
    const first = await store.create(casKey, payload);
    const second = await store.create(casKey, new TextEncoder().encode("overwrite"));
    if (!first) problems.push(`exclusive create of a new key ${casKey} was refused`);
    exclusiveCreate = first && !second;
    if (first && second) {
      problems.push(
        `${store.location} ignores create-exclusive (If-None-Match / precondition): two writers could both win a ref update`,
      );
    }
  } finally {
    await Promise.allSettled([store.delete(dataKey), store.delete(casKey)]);
  }
  return {
    ok: problems.length === 0,
    exclusiveCreate,
    latencyMs: Math.round(performance.now() - started),
    problems,
  };
}

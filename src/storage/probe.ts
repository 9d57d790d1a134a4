/**
 * Real I/O against a store before anyone relies on it: write, read back, list,
 * create-exclusive twice (the second must fail), delete. A store that silently ignores
 * the create condition (some S3-compatible servers do) is caught here.
 */
import { getAtMost, readUpTo, type Store, StoreError } from "./store.ts";

export interface ProbeResult {
  ok: boolean;
  /** false when the store accepted a second exclusive create of the same key. */
  exclusiveCreate: boolean;
  latencyMs: number;
  /** One line per failed step. */
  problems: string[];
}

const PROBE_PREFIX = "probe/";

function probeId(): string {
  return `${Date.now().toString(36)}-${crypto.randomUUID()}`;
}

/**
 * Create one fresh key twice with different bytes: "verified" when the first create
 * won and the second was refused, "ignored" when both were told they won (the store
 * drops the condition), "refused" when even the first was refused. The key is removed.
 */
export async function probeExclusiveCreate(
  store: Store,
  id = probeId(),
): Promise<"verified" | "ignored" | "refused"> {
  const { result, removed } = await probeCreates(store, id);
  await removed;
  return result;
}

/**
 * probeExclusiveCreate's two creates; the key's removal left running (`removed`), for a
 * caller whose next write need not wait on it. Its failure is ignored as it always was:
 * a probe key left behind under probe/ holds nothing anyone reads.
 */
async function probeCreates(
  store: Store,
  id: string,
): Promise<{ result: "verified" | "ignored" | "refused"; removed: Promise<void> }> {
  const key = `${PROBE_PREFIX}${id}.cas`;
  const remove = () => store.delete(key).catch(() => {});
  let result: "verified" | "ignored" | "refused";
  try {
    const first = await store.create(key, new TextEncoder().encode(`trunks probe ${id}`));
    const second = await store.create(key, new TextEncoder().encode("overwrite"));
    result = !first ? "refused" : second ? "ignored" : "verified";
  } catch (e) {
    await remove();
    throw e;
  }
  return { result, removed: remove() };
}

/**
 * The store's clock (ms) at about this moment: the listed time of a key it has just
 * stamped (removed again), or null when its listing does not show that key. Ages judged
 * by listed times are the store's clock, whatever this machine's says.
 */
export async function storeClock(store: Store): Promise<number | null> {
  const key = `${PROBE_PREFIX}${probeId()}.clock`;
  try {
    await store.put(key, new TextEncoder().encode("trunks clock probe"));
    return (await store.list(key)).find((e) => e.key === key)?.modified.getTime() ?? null;
  } finally {
    await store.delete(key).catch(() => {});
  }
}

/**
 * How far (ms, at least 0) the store's clock is behind this machine's (`storeClock`: three
 * requests). Infinity when its listing does not show the probe: then no age may be judged
 * by listed times, and whatever measures by them keeps everything. Ours less this is the
 * latest moment the store's stamps can stand for: an age measured from it is never longer
 * by either clock.
 */
export async function storeLag(store: Store): Promise<number> {
  const now = await storeClock(store);
  return now === null ? Infinity : Math.max(0, Date.now() - now);
}

export async function probeStore(store: Store): Promise<ProbeResult> {
  const started = performance.now();
  const problems: string[] = [];
  const id = probeId();
  const dataKey = `${PROBE_PREFIX}${id}.data`;
  const payload = new TextEncoder().encode(`trunks probe ${id}`);
  let exclusiveCreate = false;
  try {
    await store.put(dataKey, payload);
    // No more than the payload is read back: a longer answer differs all the same.
    const body = await getAtMost(store, dataKey, payload.byteLength);
    const back = body && await readUpTo(body, payload.byteLength);
    if (!back || new TextDecoder().decode(back) !== new TextDecoder().decode(payload)) {
      problems.push(`read after write returned different bytes for ${dataKey}`);
    }
    const listed = await store.list(PROBE_PREFIX + id);
    if (!listed.some((e) => e.key === dataKey)) {
      problems.push(`list did not show ${dataKey} right after writing it`);
    }
    const cas = await probeExclusiveCreate(store, id);
    exclusiveCreate = cas === "verified";
    if (cas === "refused") {
      problems.push(`exclusive create of a new key ${PROBE_PREFIX}${id}.cas was refused`);
    }
    if (cas === "ignored") {
      problems.push(
        `${store.location} ignores create-exclusive (If-None-Match / precondition): two writers could both win a ref update`,
      );
    }
  } finally {
    await store.delete(dataKey).catch(() => {});
  }
  return {
    ok: problems.length === 0,
    exclusiveCreate,
    latencyMs: Math.round(performance.now() - started),
    problems,
  };
}

/**
 * What a writer may rely on: "verified" when a probe shows create-exclusive honoured,
 * "single-writer" when the store was opened in that mode (`atomicCreate` false, an
 * explicit opt-in; no probe). Otherwise throws one line saying what to do.
 */
export async function requireExclusiveCreate(
  store: Store,
): Promise<"verified" | "single-writer"> {
  const { verdict, removed } = await exclusiveCreateVerdict(store);
  await removed;
  return verdict;
}

/**
 * requireExclusiveCreate, the probe key's removal left running (`removed`, never
 * rejecting): the verdict is known once the second create was refused, so the first write
 * it allows (a new trunk's trunk.json) goes out beside that DELETE, not after it. The
 * caller awaits `removed` before it returns. A refusal waits for the removal first.
 */
export async function exclusiveCreateVerdict(
  store: Store,
): Promise<{ verdict: "verified" | "single-writer"; removed: Promise<void> }> {
  if (!store.capabilities.atomicCreate) {
    return { verdict: "single-writer", removed: Promise.resolve() };
  }
  const { result, removed } = await probeCreates(store, probeId());
  if (result === "verified") return { verdict: result, removed };
  await removed;
  const what = result === "ignored"
    ? "ignores create-exclusive (a second create of the same key also succeeded), so two writers could both win a ref update"
    : "refused the exclusive create of a new key";
  throw new StoreError(
    `${store.location} ${what}; nothing was written: use a store with conditional writes, or opt in with single-writer (trunks storage add --single-writer) if only one machine ever pushes`,
    "unsupported",
  );
}

/**
 * Requests per backend and operation, for benchmarks and `--verbose`. Backends count
 * real requests (one multipart upload is several), not Store calls.
 */
const counts = new Map<string, number>();
const bytes = { up: 0, down: 0 };
let listedKeys = 0;
/** Start and end (ms) of every Store operation, for the sequential round trips. */
const spans: [number, number][] = [];

/** Count one request, e.g. `countRequest("s3", "PutObject")`. */
export function countRequest(backend: string, op: string, n = 1): void {
  const k = `${backend}.${op}`;
  counts.set(k, (counts.get(k) ?? 0) + n);
}

export function countBytes(direction: "up" | "down", n: number): void {
  bytes[direction] += n;
}

/** Spans are kept only when asked for (they grow with every operation a process makes). */
let recording: boolean | undefined;

/** Record spans from now on (tests), or stop; by default only with TRUNKS_DEBUG_REQUESTS. */
export function recordRounds(on: boolean): void {
  recording = on;
}

function isRecording(): boolean {
  if (recording === undefined) {
    try {
      recording = !!Deno.env.get("TRUNKS_DEBUG_REQUESTS");
    } catch {
      recording = false; // no env permission: nothing asked for it
    }
  }
  return recording;
}

/** Run one operation, recording when it started and settled. */
export function timeOperation<T>(op: () => Promise<T>): Promise<T> {
  if (!isRecording()) return op();
  const span: [number, number] = [performance.now(), Infinity];
  spans.push(span);
  return op().finally(() => span[1] = performance.now());
}

/**
 * The longest chain of operations each started after the previous one settled: the
 * sequential round trips a command waited for (what a far-away store multiplies by its
 * latency), whatever ran in parallel beside them.
 */
export function sequentialRounds(list: readonly (readonly [number, number])[]): number {
  // Sweep by start; every operation settled by then may precede it (O(n log n)).
  const idx = list.map((_, i) => i);
  const byStart = [...idx].sort((a, b) => list[a][0] - list[b][0] || list[a][1] - list[b][1]);
  const byEnd = [...idx].sort((a, b) => list[a][1] - list[b][1]);
  const depth = new Array<number>(list.length).fill(0);
  let before = 0;
  let p = 0;
  let best = 0;
  for (const i of byStart) {
    while (p < byEnd.length && list[byEnd[p]][1] <= list[i][0]) {
      before = Math.max(before, depth[byEnd[p++]]);
    }
    depth[i] = before + 1;
    best = Math.max(best, depth[i]);
  }
  return best;
}

/** Keys returned by listings: how big they are, not only how many (S3 pages every 1,000). */
export function countListedKeys(n: number): void {
  listedKeys += n;
}

export function requestCounts(): {
  requests: Record<string, number>;
  total: number;
  /** Sequential round trips of Store operations (see `sequentialRounds`). */
  rounds: number;
  bytesUp: number;
  bytesDown: number;
  listedKeys: number;
} {
  const requests = Object.fromEntries([...counts].sort(([a], [b]) => a < b ? -1 : 1));
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return {
    requests,
    total,
    rounds: sequentialRounds(spans),
    bytesUp: bytes.up,
    bytesDown: bytes.down,
    listedKeys,
  };
}

export function resetRequestCounts(): void {
  counts.clear();
  spans.length = 0;
  bytes.up = bytes.down = 0;
  listedKeys = 0;
}

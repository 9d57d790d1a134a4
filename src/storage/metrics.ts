/**
 * Requests per backend and operation, for benchmarks and `--verbose`. Backends count
 * real requests (one multipart upload is several), not Store calls.
 */
const counts = new Map<string, number>();
const bytes = { up: 0, down: 0 };
let listedKeys = 0;

/** Count one request, e.g. `countRequest("s3", "PutObject")`. */
export function countRequest(backend: string, op: string, n = 1): void {
  const k = `${backend}.${op}`;
  counts.set(k, (counts.get(k) ?? 0) + n);
}

export function countBytes(direction: "up" | "down", n: number): void {
  bytes[direction] += n;
}

/** Keys returned by listings: how big they are, not only how many (S3 pages every 1,000). */
export function countListedKeys(n: number): void {
  listedKeys += n;
}

export function requestCounts(): {
  requests: Record<string, number>;
  total: number;
  bytesUp: number;
  bytesDown: number;
  listedKeys: number;
} {
  const requests = Object.fromEntries([...counts].sort(([a], [b]) => a < b ? -1 : 1));
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return { requests, total, bytesUp: bytes.up, bytesDown: bytes.down, listedKeys };
}

export function resetRequestCounts(): void {
  counts.clear();
  bytes.up = bytes.down = 0;
  listedKeys = 0;
}

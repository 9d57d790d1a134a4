/** Compressible test and benchmark data, shared by tests/largefiles and bench/largefile.ts. */

const WORDS = (
  "request response user session token cache miss hit upstream downstream timeout retry " +
  "connection opened closed accepted refused reset handshake certificate expired renewed " +
  "query rows scanned index table commit rollback lock wait deadlock replica primary " +
  "worker queue job started finished failed scheduled payload bytes latency ms status " +
  "GET POST PUT DELETE /api/v1/items /api/v1/users /healthz /metrics bucket object key " +
  "region zone node pod container image pulled restarted memory cpu disk pressure limit"
).split(" ");
const LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];

/**
 * Deterministic text-like bytes: log lines with timestamps, levels, words and numbers,
 * the kind of file (logs, CSV, JSON dumps) that compresses several-fold.
 */
export function textLike(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  const enc = new TextEncoder();
  let x = seed >>> 0 || 1;
  const next = (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  let at = 0;
  let t = 1_700_000_000_000 + seed * 1000;
  while (at < size) {
    t += next(2000);
    const words = Array.from({ length: 4 + next(10) }, () => WORDS[next(WORDS.length)]);
    const line = `${new Date(t).toISOString()} ${LEVELS[next(LEVELS.length)]} [w${next(16)}] ${
      words.join(" ")
    } id=${next(1_000_000)} took=${next(5000)}ms\n`;
    const { written } = enc.encodeInto(line, out.subarray(at));
    at += written;
    if (written < line.length) break;
  }
  return out;
}

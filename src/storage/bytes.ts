/** Byte helpers shared by the backends that upload in parts. */
import { type PutData, StoreError } from "./store.ts";

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Full parts of `size` bytes (the last may be short) from bytes, a stream or a reader
 * already taken from one. Bytes are sliced without copying; a stream fills one part
 * buffer at a time, so memory stays at one part per generator. `size` may grow with the
 * part number (S3's 10,000-part limit).
 */
export async function* fixedParts(
  data: PutData | ReadableStreamDefaultReader<Uint8Array>,
  size: number | ((n: number) => number),
): AsyncGenerator<Uint8Array> {
  const sizeOf = typeof size === "number" ? () => size : size;
  let n = 1;
  if (data instanceof Uint8Array) {
    for (let at = 0; at < data.byteLength; n++) {
      const len = sizeOf(n);
      yield data.subarray(at, at + len);
      at += len;
    }
    return;
  }
  const reader = data instanceof ReadableStream ? data.getReader() : data;
  let buf = new Uint8Array(sizeOf(n));
  let fill = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    let at = 0;
    while (at < value.byteLength) {
      const take = Math.min(buf.byteLength - fill, value.byteLength - at);
      buf.set(value.subarray(at, at + take), fill);
      fill += take;
      at += take;
      if (fill === buf.byteLength) {
        yield buf;
        buf = new Uint8Array(sizeOf(++n));
        fill = 0;
      }
    }
  }
  if (fill > 0) yield buf.subarray(0, fill);
}

/**
 * Send parts with at most `limit` in flight, so a stream of any size costs `limit` parts
 * of memory. Stops at the first failure, waits for every send already started (a part
 * must not land after the caller cleaned up), then throws that failure.
 */
export async function sendBounded(
  parts: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  limit: number,
  send: (part: Uint8Array, n: number) => Promise<void>,
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let failed: { error: unknown } | undefined;
  let n = 0;
  try {
    for await (const part of parts) {
      while (inFlight.size >= limit && !failed) await Promise.race(inFlight);
      if (failed) break;
      const p: Promise<void> = send(part, n++).catch((error) => {
        failed ??= { error };
      }).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  } catch (error) {
    failed ??= { error };
  } finally {
    await Promise.all(inFlight);
  }
  if (failed) throw failed.error;
}

/** `first`, `second`, then the rest: parts a backend already peeked at to pick a method. */
export async function* prepend(
  first: Uint8Array,
  second: Uint8Array,
  rest: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  yield first;
  yield second;
  yield* rest;
}

/**
 * `data`, refused when it is larger than `max` bytes (the backend's
 * `capabilities.maxObjectSize`): bytes before any I/O, a stream as soon as it passes the
 * limit, which aborts the put (a backend never leaves a partial object visible).
 */
export function limitSize(data: PutData, max: number, what: string): PutData {
  const refuse = (size: string) =>
    new StoreError(
      `${what} is ${size} bytes, larger than the ${max} this storage accepts in one object`,
      "unsupported",
    );
  if (!Number.isFinite(max)) return data;
  if (data instanceof Uint8Array) {
    if (data.byteLength > max) throw refuse(String(data.byteLength));
    return data;
  }
  let total = 0;
  return data.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        total += chunk.byteLength;
        if (total > max) throw refuse(`over ${max}, at least ${total}`);
        c.enqueue(chunk);
      },
    }),
  );
}

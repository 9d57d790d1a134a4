/**
 * Bytes counted as they flow to or from a Store, whatever the backend. A stream is
 * counted piece by piece as the backend pulls it (the wrapper holds nothing: it hands
 * on each piece it is asked for, so nothing is buffered beyond what the backend asks
 * for); whole bytes count once the put returns, so a backend's retries of one request
 * never count twice.
 */
import type { PutData, Store } from "./store.ts";

/** Told of each piece's size as it moves; a negative size takes back a failed attempt. */
export type OnBytes = (n: number) => void;

/** `src`, unchanged, with every piece counted as it is read from the result. */
export function countingStream(
  src: ReadableStream<Uint8Array>,
  onBytes: OnBytes,
): ReadableStream<Uint8Array> {
  const reader = src.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      const r = await reader.read();
      if (r.done) return ctl.close();
      onBytes(r.value.byteLength);
      ctl.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * `src` counted as in countingStream, with `takeBack()` to un-count what went if the
 * transfer then fails (a retry or another storage counts it again).
 */
export function refundableStream(
  src: ReadableStream<Uint8Array>,
  onBytes?: OnBytes,
): { stream: ReadableStream<Uint8Array>; takeBack: () => void } {
  if (!onBytes) return { stream: src, takeBack: () => {} };
  let counted = 0;
  const stream = countingStream(src, (n) => {
    counted += n;
    onBytes(n);
  });
  const takeBack = () => {
    if (counted) onBytes(-counted);
    counted = 0;
  };
  return { stream, takeBack };
}

/** `store.put`, counting what goes: a stream as the backend reads it, bytes once stored. */
export async function countedPut(
  store: Store,
  key: string,
  data: PutData,
  onBytes?: OnBytes,
): Promise<void> {
  if (!onBytes) return await store.put(key, data);
  if (data instanceof Uint8Array) {
    await store.put(key, data);
    onBytes(data.byteLength);
    return;
  }
  await store.put(key, countingStream(data, onBytes));
}

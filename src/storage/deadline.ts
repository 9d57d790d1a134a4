/**
 * A bound on how long any storage operation may go without progress. Backends have their
 * own timeouts and retries, but a server that accepts connections and never answers (a
 * hung proxy, a black-holed route) could hold a push for many minutes; through this
 * wrapper it fails within `TRUNKS_STORE_TIMEOUT` seconds with a line saying so.
 *
 * Streams count as progress: an upload or download that keeps moving bytes is never cut,
 * only one that stalls for the whole period.
 */
import type { CreatedStamp, ListEntry, ListOptions, PutData, Range, Store } from "./store.ts";
import { copyToFileThrough, createStamped, StoreError } from "./store.ts";
import { armTimer } from "./timer.ts";

/** Seconds without progress before an operation fails, unless TRUNKS_STORE_TIMEOUT says otherwise. */
export const DEFAULT_STORE_TIMEOUT_S = 120;

/** TRUNKS_STORE_TIMEOUT in ms (0 = no bound), or a one-line error for a bad value. */
export function storeTimeoutMs(value = Deno.env.get("TRUNKS_STORE_TIMEOUT")): number {
  if (value === undefined || value.trim() === "") return DEFAULT_STORE_TIMEOUT_S * 1000;
  const s = Number(value);
  if (!Number.isFinite(s) || s < 0) {
    throw new StoreError(
      `TRUNKS_STORE_TIMEOUT=${
        JSON.stringify(value)
      } is not a number of seconds; set e.g. TRUNKS_STORE_TIMEOUT=60 (0 disables the bound)`,
      "invalid-key",
    );
  }
  return Math.round(s * 1000);
}

/** `store` bounded by `ms` of no progress per operation; `ms` 0 returns it unchanged. */
export function withDeadline(store: Store, ms = storeTimeoutMs()): Store {
  return ms > 0 ? new DeadlineStore(store, ms) : store;
}

/** An operation a DeadlineStore watches: when it last made progress, and how it fails. */
interface Pending {
  last: number;
  fail: () => void;
}

export class DeadlineStore implements Store {
  readonly copyToFile: Store["copyToFile"];

  constructor(readonly inner: Store, readonly ms: number) {
    // No byte passes through this process: the copy's progress is its file growing,
    // looked at four times a period (a copy that ends sooner is never looked at).
    this.copyToFile = copyToFileThrough(
      inner,
      (copy, key, dest) =>
        this.#bounded("get", key, (touch) => growing(copy(), dest, ms / 4, touch)),
    );
  }

  get location(): string {
    return this.inner.location;
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  async get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    const stream = await this.#bounded("get", key, () => this.inner.get(key, range));
    return stream && this.#idleBounded(stream, key);
  }

  put(key: string, data: PutData): Promise<void> {
    return this.#bounded("put", key, (touch) => {
      if (data instanceof Uint8Array) return this.inner.put(key, data);
      const moving = data.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, c) {
            touch();
            c.enqueue(chunk);
          },
        }),
      );
      return this.inner.put(key, moving);
    });
  }

  create(key: string, data: Uint8Array): Promise<boolean> {
    return this.#bounded("create", key, () => this.inner.create(key, data));
  }

  createStamped(key: string, data: Uint8Array): Promise<CreatedStamp | null> {
    return this.#bounded("create", key, () => createStamped(this.inner, key, data));
  }

  list(prefix: string, startAfter?: string, opts?: ListOptions): Promise<ListEntry[]> {
    return this.#bounded("list", prefix, () => this.inner.list(prefix, startAfter, opts));
  }

  delete(key: string): Promise<void> {
    return this.#bounded("delete", key, () => this.inner.delete(key));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  #expired(op: string, key: string): StoreError {
    return new StoreError(
      `${this.location} did not answer (${op} ${key}) within ${
        this.ms / 1000
      }s; check the network and the endpoint, or raise TRUNKS_STORE_TIMEOUT (seconds)`,
      "unreachable",
    );
  }

  /** Operations in flight, each with when it last made progress (monotonic ms). */
  #pending = new Set<Pending>();
  /** The one timer watching them, and when it fires (monotonic ms). */
  #watchdog?: { cancel: () => void; at: number };

  /**
   * Run `fn`, failing once `ms` pass without `touch()` being called. One timer watches every
   * operation in flight, armed for the earliest deadline: a timer armed and cleared per
   * operation (and again per touch) cost a push of 20,000 refs ~0.25 s of its main thread.
   */
  async #bounded<T>(op: string, key: string, fn: (touch: () => void) => Promise<T>): Promise<T> {
    let fail!: (e: Error) => void;
    const expired = new Promise<never>((_, reject) => fail = reject);
    const p: Pending = { last: performance.now(), fail: () => fail(this.#expired(op, key)) };
    this.#pending.add(p);
    this.#watch(p.last + this.ms);
    const work = fn(() => p.last = performance.now());
    // The abandoned operation may still fail later; that must not crash the process.
    work.catch(() => {});
    try {
      return await Promise.race([work, expired]);
    } finally {
      this.#pending.delete(p);
      if (!this.#pending.size) this.#unwatch();
    }
  }

  /** The watchdog fires by `at`: armed now unless it already fires no later. */
  #watch(at: number): void {
    if (this.#watchdog && this.#watchdog.at <= at) return;
    this.#watchdog?.cancel();
    this.#watchdog = { cancel: armTimer(at - performance.now(), () => this.#sweep()), at };
  }

  /** No operation in flight: no timer holds the process. */
  #unwatch(): void {
    this.#watchdog?.cancel();
    this.#watchdog = undefined;
  }

  /** Fail every operation past its deadline; watch for the earliest of the others. */
  #sweep(): void {
    this.#watchdog = undefined;
    const now = performance.now();
    let next = Infinity;
    for (const p of this.#pending) {
      const due = p.last + this.ms;
      if (due <= now) {
        this.#pending.delete(p);
        p.fail();
      } else if (due < next) next = due;
    }
    if (next < Infinity) this.#watch(next);
  }

  /** The download, erroring when no bytes arrive for `ms`. */
  #idleBounded(stream: ReadableStream<Uint8Array>, key: string): ReadableStream<Uint8Array> {
    const reader = stream.getReader();
    return new ReadableStream<Uint8Array>({
      pull: async (c) => {
        const next = this.#bounded("get", key, () => reader.read());
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await next;
        } catch (e) {
          reader.cancel().catch(() => {});
          throw e;
        }
        if (r.done) c.close();
        else c.enqueue(r.value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
  }
}

/** `work`, calling `touch` whenever the file at `path` is found bigger than last time. */
async function growing<T>(
  work: Promise<T>,
  path: string,
  every: number,
  touch: () => void,
): Promise<T> {
  let size = 0;
  let done = false;
  let cancel = () => {};
  const look = () => {
    cancel = armTimer(every, () => {
      Deno.stat(path).then((st) => {
        if (!done && st.size > size) {
          size = st.size;
          touch();
        }
      }, () => {}).finally(() => {
        if (!done) look();
      });
    });
  };
  look();
  try {
    return await work;
  } finally {
    done = true;
    cancel();
  }
}

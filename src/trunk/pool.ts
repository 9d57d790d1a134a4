/** Run `fn` over items with at most `limit` in flight; results keep input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/**
 * Bounded concurrency for a producer that discovers work as it goes (chunks coming out
 * of a stream): `run` waits for a free slot, starts the task and returns, so the
 * producer pauses while `limit` tasks are in flight. The first failure stops further
 * `run`s and is thrown by `drain`.
 */
export class TaskLimiter {
  #inFlight = new Set<Promise<void>>();
  #error: { e: unknown } | null = null;

  constructor(readonly limit: number) {}

  async run(task: () => Promise<void>): Promise<void> {
    while (this.#inFlight.size >= Math.max(1, this.limit)) await Promise.race(this.#inFlight);
    if (this.#error) throw this.#error.e;
    const p: Promise<void> = task().catch((e) => {
      this.#error ??= { e };
    }).finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
  }

  /** Wait for every started task; throws the first failure. */
  async drain(): Promise<void> {
    while (this.#inFlight.size) await Promise.all(this.#inFlight);
    if (this.#error) throw this.#error.e;
  }
}

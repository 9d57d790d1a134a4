/**
 * A store whose refusals say what to do about them: an access-denied error gets a note
 * appended (which credential variables this storage reads), once, whichever operation
 * met it. The note is made by the caller; a store never knows what a storage name is.
 */
import type { CreatedStamp, ListEntry, ListOptions, PutData, Range, Store } from "./store.ts";
import { copyToFileThrough, createStamped, StoreError } from "./store.ts";

export function withAccessAdvice(store: Store, advice: string): Store {
  return advice ? new AdvisedStore(store, advice) : store;
}

export class AdvisedStore implements Store {
  readonly copyToFile: Store["copyToFile"];

  constructor(readonly inner: Store, readonly advice: string) {
    this.copyToFile = copyToFileThrough(inner, (copy) => this.#advise(copy));
  }

  get location(): string {
    return this.inner.location;
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  async #advise<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (e) {
      if (!(e instanceof StoreError) || e.code !== "access-denied") throw e;
      if (e.message.includes(this.advice)) throw e;
      throw new StoreError(`${e.message}${this.advice}`, e.code, { cause: e });
    }
  }

  get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    return this.#advise(() => this.inner.get(key, range));
  }

  put(key: string, data: PutData): Promise<void> {
    return this.#advise(() => this.inner.put(key, data));
  }

  create(key: string, data: Uint8Array): Promise<boolean> {
    return this.#advise(() => this.inner.create(key, data));
  }

  createStamped(key: string, data: Uint8Array): Promise<CreatedStamp | null> {
    return this.#advise(() => createStamped(this.inner, key, data));
  }

  list(prefix: string, startAfter?: string, opts?: ListOptions): Promise<ListEntry[]> {
    return this.#advise(() => this.inner.list(prefix, startAfter, opts));
  }

  delete(key: string): Promise<void> {
    return this.#advise(() => this.inner.delete(key));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

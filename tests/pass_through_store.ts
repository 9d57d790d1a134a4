/**
 * A Store that hands every call to `inner`, as the test stores that watch, hold or bend one
 * kind of call do with all the others: subclass it and override only the calls the test is
 * about. The optional calls (`createStamped`, `copyToFile`) are left out, as a wrapper that
 * does not pass them on would.
 */
import type {
  Capabilities,
  ListEntry,
  ListOptions,
  PutData,
  Range,
  Store,
} from "../src/storage/store.ts";

export class PassThroughStore implements Store {
  constructor(readonly inner: Store) {}
  get location(): string {
    return this.inner.location;
  }
  get capabilities(): Capabilities {
    return this.inner.capabilities;
  }
  get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    return this.inner.get(key, range);
  }
  put(key: string, data: PutData): Promise<void> {
    return this.inner.put(key, data);
  }
  create(key: string, data: Uint8Array): Promise<boolean> {
    return this.inner.create(key, data);
  }
  list(prefix: string, startAfter?: string, opts?: ListOptions): Promise<ListEntry[]> {
    return this.inner.list(prefix, startAfter, opts);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

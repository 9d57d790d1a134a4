/**
 * Counts Store operations (get/put/create/list/delete), whatever the backend, for
 * benchmarks and `TRUNKS_DEBUG_REQUESTS`. Backends count their own HTTP requests too.
 */
import { countListedKeys, countRequest, requestCounts, timeOperation } from "./metrics.ts";
import {
  copyToFileThrough,
  type CreatedStamp,
  createStamped,
  type ListEntry,
  type ListOptions,
  type PutData,
  type Range,
  type Store,
} from "./store.ts";

export class CountingStore implements Store {
  /** A copy reads the object as a `get` does: counted as one. */
  readonly copyToFile: Store["copyToFile"];

  constructor(readonly inner: Store) {
    this.copyToFile = copyToFileThrough(inner, (copy) => {
      countRequest("store", "get");
      return timeOperation(copy);
    });
  }

  get location(): string {
    return this.inner.location;
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    countRequest("store", "get");
    return timeOperation(() => this.inner.get(key, range));
  }

  put(key: string, data: PutData): Promise<void> {
    countRequest("store", "put");
    return timeOperation(() => this.inner.put(key, data));
  }

  create(key: string, data: Uint8Array): Promise<boolean> {
    countRequest("store", "create");
    return timeOperation(() => this.inner.create(key, data));
  }

  createStamped(key: string, data: Uint8Array): Promise<CreatedStamp | null> {
    countRequest("store", "create");
    return timeOperation(() => createStamped(this.inner, key, data));
  }

  async list(prefix: string, startAfter?: string, opts?: ListOptions): Promise<ListEntry[]> {
    countRequest("store", "list");
    const listed = await timeOperation(() => this.inner.list(prefix, startAfter, opts));
    // How big listings are, not only how many (a LIST pages every 1,000 keys on S3).
    countListedKeys(listed.length);
    return listed;
  }

  delete(key: string): Promise<void> {
    countRequest("store", "delete");
    return timeOperation(() => this.inner.delete(key));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** With TRUNKS_DEBUG_REQUESTS set, one JSON line of counts on stderr at the end of a command. */
export function reportRequestCounts(label: string): void {
  if (!Deno.env.get("TRUNKS_DEBUG_REQUESTS")) return;
  const c = requestCounts();
  console.error(`trunks-requests ${label} ${JSON.stringify(c)}`);
}

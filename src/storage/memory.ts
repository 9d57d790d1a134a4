/**
 * In-process store. A real backend for tests and the library: stores opened with the
 * same `memory://<name>` URL in one process share their data, like one bucket.
 */
import {
  assertKey,
  type Capabilities,
  compareKeys,
  type CreatedStamp,
  type ListEntry,
  type PutData,
  type Range,
  readAll,
  type Store,
} from "./store.ts";
import { limitSize } from "./bytes.ts";

interface Obj {
  data: Uint8Array;
  modified: Date;
}

const spaces = new Map<string, Map<string, Obj>>();

export class MemoryStore implements Store {
  readonly capabilities: Capabilities = {
    atomicCreate: true,
    rangeReads: true,
    maxObjectSize: Infinity,
    parallelism: 8,
  };
  #objects: Map<string, Obj>;

  constructor(readonly location: string, objects?: Map<string, Obj>) {
    this.#objects = objects ?? new Map();
  }

  /** A store sharing its data with every other store opened under `name`. */
  static named(name: string): MemoryStore {
    let objects = spaces.get(name);
    if (!objects) spaces.set(name, objects = new Map());
    return new MemoryStore(`memory://${name}`, objects);
  }

  get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    assertKey(key);
    const obj = this.#objects.get(key);
    if (!obj) return Promise.resolve(null);
    let data = obj.data;
    if (range) {
      const end = range.length === undefined ? data.byteLength : range.offset + range.length;
      data = data.subarray(range.offset, Math.min(end, data.byteLength));
    }
    const copy = data.slice();
    return Promise.resolve(
      new ReadableStream({
        start(c) {
          if (copy.byteLength) c.enqueue(copy);
          c.close();
        },
      }),
    );
  }

  async put(key: string, data: PutData): Promise<void> {
    assertKey(key);
    data = limitSize(data, this.capabilities.maxObjectSize, `memory: ${key}`);
    const bytes = data instanceof Uint8Array ? data.slice() : await readAll(data);
    this.#objects.set(key, { data: bytes, modified: new Date() });
  }

  async create(key: string, data: Uint8Array): Promise<boolean> {
    return (await this.createStamped(key, data)) !== null;
  }

  createStamped(key: string, data: Uint8Array): Promise<CreatedStamp | null> {
    assertKey(key);
    limitSize(data, this.capabilities.maxObjectSize, `memory: ${key}`);
    if (this.#objects.has(key)) return Promise.resolve(null);
    const modified = new Date();
    this.#objects.set(key, { data: data.slice(), modified });
    return Promise.resolve({ modified: new Date(modified) });
  }

  list(prefix: string, startAfter?: string): Promise<ListEntry[]> {
    const out: ListEntry[] = [];
    for (const [key, obj] of this.#objects) {
      if (!key.startsWith(prefix)) continue;
      if (startAfter !== undefined && compareKeys(key, startAfter) <= 0) continue;
      out.push({ key, size: obj.data.byteLength, modified: obj.modified });
    }
    out.sort((a, b) => compareKeys(a.key, b.key));
    return Promise.resolve(out);
  }

  delete(key: string): Promise<void> {
    assertKey(key);
    this.#objects.delete(key);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

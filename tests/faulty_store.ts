/**
 * Test-only: a Store wrapper that injects faults, for the reliability suite and anyone who
 * wants to see how their code behaves on a bad day: errors, hangs, slow answers,
 * truncated and corrupted reads, and writes that land but whose answer is lost.
 *
 * Faults are rules matched in order against each operation; a seeded random source
 * makes "fail 20% of operations" reproducible.
 */
import {
  type Capabilities,
  type ListEntry,
  type PutData,
  type Range,
  readAll,
  type Store,
  StoreError,
} from "../src/storage/store.ts";

export type FaultOp = "get" | "put" | "create" | "list" | "delete";

export type FaultKind =
  /** The operation fails with a StoreError before touching the store. */
  | "error"
  /** The operation is applied, then fails as if the answer was lost on the way back. */
  | "lost-answer"
  /** The operation never answers (bound it with DeadlineStore). */
  | "hang"
  /** The operation waits `delayMs`, then proceeds. */
  | "slow"
  /** A read returns only the first half of the bytes, ending normally. */
  | "truncate"
  /** A read returns the bytes with one of them flipped. */
  | "corrupt";

export interface FaultRule {
  ops: FaultOp[] | "*";
  /** Key (or list prefix) must match; a string is a prefix. */
  key?: string | RegExp;
  kind: FaultKind;
  /** Chance the rule fires on a matching operation (default 1). */
  probability?: number;
  /** Matching operations let through before the rule starts firing (default 0). */
  skip?: number;
  /** How many times the rule fires at most (default unlimited). */
  times?: number;
  /** For "slow". */
  delayMs?: number;
}

export interface FiredFault {
  op: FaultOp;
  key: string;
  kind: FaultKind;
}

/** mulberry32: small, fast, seedable; enough to make fault schedules reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Armed extends FaultRule {
  seen: number;
  fired: number;
}

export class FaultyStore implements Store {
  readonly fired: FiredFault[] = [];
  #rules: Armed[] = [];
  #random: () => number;
  #hung = new Set<() => void>();

  constructor(readonly inner: Store, rules: FaultRule[] = [], seed = 1) {
    this.#random = seededRandom(seed);
    for (const r of rules) this.add(r);
  }

  get location(): string {
    return this.inner.location;
  }

  get capabilities(): Capabilities {
    return this.inner.capabilities;
  }

  add(rule: FaultRule): this {
    this.#rules.push({ ...rule, seen: 0, fired: 0 });
    return this;
  }

  /** Remove every rule (the store behaves like the inner one again). */
  clear(): void {
    this.#rules = [];
  }

  async get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    const kind = await this.#before("get", key);
    const stream = await this.inner.get(key, range);
    if (kind === "lost-answer") {
      await stream?.cancel();
      throw this.#error("get", key);
    }
    if (!stream || (kind !== "truncate" && kind !== "corrupt")) return stream;
    const bytes = await readAll(stream);
    const out = kind === "truncate" ? bytes.slice(0, bytes.byteLength >> 1) : bytes.slice();
    if (kind === "corrupt" && out.byteLength) out[out.byteLength >> 1] ^= 0x20;
    return new ReadableStream({
      start(c) {
        if (out.byteLength) c.enqueue(out);
        c.close();
      },
    });
  }

  async put(key: string, data: PutData): Promise<void> {
    const kind = await this.#before("put", key);
    await this.inner.put(key, data);
    if (kind === "lost-answer") throw this.#error("put", key);
  }

  async create(key: string, data: Uint8Array): Promise<boolean> {
    const kind = await this.#before("create", key);
    const created = await this.inner.create(key, data);
    if (kind === "lost-answer") throw this.#error("create", key);
    return created;
  }

  async list(prefix: string, startAfter?: string): Promise<ListEntry[]> {
    const kind = await this.#before("list", prefix);
    const out = await this.inner.list(prefix, startAfter);
    if (kind === "lost-answer") throw this.#error("list", prefix);
    return out;
  }

  async delete(key: string): Promise<void> {
    const kind = await this.#before("delete", key);
    await this.inner.delete(key);
    if (kind === "lost-answer") throw this.#error("delete", key);
  }

  /** Release hung operations (they fail) and close the inner store. */
  async close(): Promise<void> {
    for (const release of this.#hung) release();
    await this.inner.close();
  }

  #match(op: FaultOp, key: string): Armed | null {
    for (const r of this.#rules) {
      if (r.ops !== "*" && !r.ops.includes(op)) continue;
      if (r.key !== undefined) {
        const hit = typeof r.key === "string" ? key.startsWith(r.key) : r.key.test(key);
        if (!hit) continue;
      }
      if (r.seen++ < (r.skip ?? 0)) continue;
      if (r.fired >= (r.times ?? Infinity)) continue;
      if (this.#random() >= (r.probability ?? 1)) continue;
      r.fired++;
      this.fired.push({ op, key, kind: r.kind });
      return r;
    }
    return null;
  }

  /** Applies faults that act before the operation; returns the kind for the rest. */
  async #before(op: FaultOp, key: string): Promise<FaultKind | null> {
    const rule = this.#match(op, key);
    const kind = rule?.kind ?? null;
    if (kind === "error") throw this.#error(op, key);
    if (kind === "slow") await new Promise((r) => setTimeout(r, rule?.delayMs ?? 100));
    if (kind === "hang") {
      await new Promise<void>((_, reject) => {
        const release = () => reject(this.#error(op, key));
        this.#hung.add(release);
      });
    }
    return kind;
  }

  #error(op: FaultOp, key: string): StoreError {
    return new StoreError(`${this.location}: injected fault: ${op} ${key} failed`, "io");
  }
}

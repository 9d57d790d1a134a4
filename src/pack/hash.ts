/**
 * Hashing without node:crypto where it can be done: loading node:crypto costs a helper
 * process ~30 ms of CPU (more under load), with Deno's `process` global and node layer that
 * reaching it pulls in, and a clone of a small trunk hashes only bytes it holds in memory
 * (seals, small segments, pack trailers, pack indexes). WebCrypto hashes those, the same
 * digests; it is async and cannot stream, so a hash fed more than STREAM_LIMIT bytes
 * moves to node:crypto, loaded on first use.
 */
type NodeCrypto = typeof import("node:crypto");
export type HashAlgorithm = "sha1" | "sha256";

/**
 * A Node built-in module, loaded when first asked for: through Deno's `process` global,
 * not an import of node:process, which costs as much as the module itself.
 */
export function nodeBuiltin<T>(id: string): T {
  return (globalThis as unknown as {
    process: { getBuiltinModule(id: string): unknown };
  }).process.getBuiltinModule(id) as T;
}

let loaded: NodeCrypto | undefined;

function nodeCrypto(): NodeCrypto {
  return loaded ??= nodeBuiltin<NodeCrypto>("node:crypto");
}

/** node:crypto's `createHash`, loaded on first call: synchronous, for the callers that must be. */
export function createHash(algorithm: string): ReturnType<NodeCrypto["createHash"]> {
  return nodeCrypto().createHash(algorithm);
}

/**
 * SHA-256 of `text`'s UTF-8 as hex, by node:crypto's one-shot `hash` where it has one: a
 * push of 20,000 refs seals each entry, and a hash object per text cost twice the hash.
 */
export function sha256Hex(text: string): string {
  const c = nodeCrypto() as NodeCrypto & {
    hash?: (algorithm: string, data: string, encoding: "hex") => string;
  };
  return c.hash ? c.hash("sha256", text, "hex") : c.createHash("sha256").update(text).digest("hex");
}

const WEB_NAMES = { sha1: "SHA-1", sha256: "SHA-256" } as const;

/** The digest of `bytes` by WebCrypto: what node:crypto gives, without loading it. */
export async function digest(algorithm: HashAlgorithm, bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.digest(WEB_NAMES[algorithm], bytes as Uint8Array<ArrayBuffer>),
  );
}

export function toHexString(bytes: Uint8Array): string {
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/**
 * Bytes kept to hash at the end with WebCrypto; past this, node:crypto streams them.
 * Copies held in memory: a few MiB is what a fetch holds anyway for one segment's parts.
 */
export const STREAM_LIMIT = 4 << 20;

/**
 * An incremental hash: the bytes fed are copied (callers reuse their buffers) until
 * STREAM_LIMIT, then handed to node:crypto, which takes the rest as it comes.
 */
export class StreamHash {
  #parts: Uint8Array[] = [];
  #held = 0;
  #node: ReturnType<NodeCrypto["createHash"]> | undefined;

  constructor(readonly algorithm: HashAlgorithm, readonly limit = STREAM_LIMIT) {}

  update(bytes: Uint8Array | string): this {
    const b = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
    if (this.#node) {
      this.#node.update(b);
      return this;
    }
    if (this.#held + b.byteLength > this.limit) {
      this.#node = createHash(this.algorithm);
      for (const p of this.#parts) this.#node.update(p);
      this.#parts = [];
      this.#node.update(b);
      return this;
    }
    this.#parts.push(b.slice());
    this.#held += b.byteLength;
    return this;
  }

  async digest(): Promise<Uint8Array> {
    if (this.#node) return new Uint8Array(this.#node.digest());
    const parts = this.#parts;
    this.#parts = [];
    if (parts.length === 1) return await digest(this.algorithm, parts[0]);
    const all = new Uint8Array(this.#held);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.byteLength;
    }
    return await digest(this.algorithm, all);
  }

  async hex(): Promise<string> {
    return toHexString(await this.digest());
  }
}

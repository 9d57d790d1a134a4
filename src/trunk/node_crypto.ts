/**
 * node:crypto's `createHash`, loaded on first use instead of imported. Importing node:crypto
 * costs every process ~20 ms of start-up, and the modules a `git fetch` loads (ref keys,
 * seals, snapshots) hash only when they meet something new: an up-to-date fetch hashes
 * nothing. Synchronous, as the callers need (WebCrypto is async-only); the same hashes.
 */
type NodeCrypto = typeof import("node:crypto");

let loaded: NodeCrypto | undefined;

function nodeCrypto(): NodeCrypto {
  // Deno's `process` global, not an import of node:process: that import costs as much.
  return loaded ??= (globalThis as unknown as {
    process: { getBuiltinModule(id: string): unknown };
  }).process.getBuiltinModule("node:crypto") as NodeCrypto;
}

export function createHash(algorithm: string): ReturnType<NodeCrypto["createHash"]> {
  return nodeCrypto().createHash(algorithm);
}

/**
 * node:crypto's `createHash`, loaded on first use instead of imported (src/pack/hash.ts):
 * the modules a `git fetch` loads hash only when they meet something new.
 */
export { createHash, sha256Hex } from "../pack/hash.ts";

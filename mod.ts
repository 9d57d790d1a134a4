/**
 * The trunks library API.
 * @module
 */
export type { Capabilities, ListEntry, PutData, Range, Store } from "./src/storage/store.ts";
export { getBytes, StoreError } from "./src/storage/store.ts";
export { openStore, registerBackend } from "./src/storage/registry.ts";

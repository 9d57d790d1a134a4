/**
 * The trunks library API: {@link Trunk} reads and writes a trunk (a git repository kept
 * in storage you own) with no git binary; the Store contract opens storages directly.
 *
 * @example
 * ```ts
 * import { Trunk } from "@trunks/trunks";
 * await using trunk = await Trunk.open({ url: "local:///srv/store/trunks/app.trunk" });
 * console.log(await trunk.readText("README.md"));
 * ```
 * @module
 */
export type { Capabilities, ListEntry, PutData, Range, Store } from "./src/storage/store.ts";
export { getBytes, StoreError } from "./src/storage/store.ts";
export { openStore, registerBackend } from "./src/storage/registry.ts";
export type { Settings } from "./src/storage/registry.ts";
export {
  type CommitOptions,
  type CommitResult,
  ConflictError,
  type ListEntry as TreeListEntry,
  type OpenOptions,
  type PushOptions,
  type PushResult,
  type RefInfo,
  type StagedFile,
  Trunk,
  type WriteFileOptions,
  type WriteOptions,
} from "./src/sdk/trunk.ts";
export type { ContentSource } from "./src/trunk/large_content.ts";
export type { Commit, ObjectFormat, Signature } from "./src/pack/objects.ts";
export type { ReaderOptions, ReadStats } from "./src/sdk/object_reader.ts";
export { TrunkError } from "./src/trunk/errors.ts";
export { StorageFailure } from "./src/trunk/mirrors.ts";
export type { OnProgress, TransferKind, TransferProgress } from "./src/trunk/progress.ts";

/**
 * Every backend this build knows, each declared by its own module. Only the registry
 * imports this list; a backend never imports the registry (no cycle).
 */
import type { BackendSpec } from "./backend.ts";
import { azureBackend } from "./azure_backend.ts";
import { gcsBackend } from "./gcs_backend.ts";
import { localBackend } from "./local_backend.ts";
import { memoryBackend } from "./memory_backend.ts";
import { postgresBackend } from "./postgres_backend.ts";
import { s3Backends } from "./s3_backend.ts";
import { sftpBackend } from "./sftp_backend.ts";

export const BACKENDS: BackendSpec[] = [
  memoryBackend,
  localBackend,
  azureBackend,
  gcsBackend,
  postgresBackend,
  sftpBackend,
  ...s3Backends,
];

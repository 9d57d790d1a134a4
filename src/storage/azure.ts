/**
 * Azure Blob Storage over `@azure/storage-blob`. `create` is a Put Blob with
 * `If-None-Match: *`; large puts stage blocks (bounded memory, a few in flight) and
 * commit them with one Put Block List, so readers never see a partial blob.
 */
import { fixedParts, limitSize, prepend, sendBounded } from "./bytes.ts";
import {
  AnonymousCredential,
  type BlobItem,
  type BlockBlobClient,
  ContainerClient,
  newPipeline,
  type RestError,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { Readable } from "node:stream";
import { type AzureConfig, azureConfig } from "./azure_config.ts";
import { countBytes, countRequest } from "./metrics.ts";
import { rangeBody } from "./range_answer.ts";
import { scrubSecrets } from "./redact.ts";
import type { Settings } from "./backend.ts";
import {
  createExclusive,
  DEFAULT_RETRY,
  type ErrorKind,
  networkCode,
  networkKind,
  type RetryPolicy,
} from "./retry.ts";
import {
  assertKey,
  type Capabilities,
  compareKeys,
  type CreatedStamp,
  type ListEntry,
  type PutData,
  type Range,
  type Store,
  StoreError,
} from "./store.ts";

/** Block size of staged uploads; memory per put is about (IN_FLIGHT + 1) blocks. */
export const BLOCK_SIZE = 8 * 1024 * 1024;
const IN_FLIGHT = 4;
const MAX_BLOCKS = 50_000;

/** Blob metadata carrying a create's nonce (names must be C# identifiers). */
const CREATE_NONCE_META = "trunkscreate";

function restError(e: unknown): RestError | undefined {
  return e && typeof e === "object" && (e as Error).name === "RestError"
    ? e as RestError
    : undefined;
}

function lostRace(e: unknown): boolean {
  const r = restError(e);
  return r?.statusCode === 409 || r?.statusCode === 412;
}

/** The Azure classifier for the shared retry wrapper. */
function azureKind(e: unknown): ErrorKind {
  const r = restError(e);
  const status = r?.statusCode;
  if (status === undefined) return networkKind(e) ?? "other";
  if (status === 429) return "throttled";
  if (status === 408 || status >= 500) return "retryable";
  if (status === 401 || status === 403) return "access-denied";
  if (status === 404) return "not-found";
  return "other";
}

export interface AzureOptions {
  retry?: RetryPolicy;
  /** Blobs per list request (the service's maximum is 5000). */
  pageSize?: number;
}

export class AzureStore implements Store {
  readonly capabilities: Capabilities = {
    atomicCreate: true,
    rangeReads: true,
    maxObjectSize: BLOCK_SIZE * MAX_BLOCKS,
    parallelism: 16,
  };
  readonly location: string;
  #cfg: AzureConfig;
  #container: ContainerClient;
  /** Without SDK retries: `create` retries through `createExclusive`, which must know when a try may have applied. */
  #once: ContainerClient;
  #retry: RetryPolicy;
  #pageSize: number;

  constructor(cfg: AzureConfig, opts: AzureOptions = {}) {
    const retry = opts.retry ?? DEFAULT_RETRY;
    this.#cfg = cfg;
    this.#retry = retry;
    this.#pageSize = opts.pageSize ?? 5000;
    this.location = cfg.location;
    const credential = cfg.auth.kind === "shared-key"
      ? new StorageSharedKeyCredential(cfg.auth.account, cfg.auth.key)
      : new AnonymousCredential();
    const url = `${cfg.endpoint}/${cfg.container}${
      cfg.auth.kind === "sas" ? `?${cfg.auth.token}` : ""
    }`;
    const retryOptions = {
      maxTries: retry.attempts,
      retryDelayInMs: retry.baseDelayMs,
      maxRetryDelayInMs: retry.maxDelayMs,
      // A stalled connection fails and is retried instead of hanging forever.
      tryTimeoutInMs: 10 * 60_000,
    };
    this.#container = new ContainerClient(url, newPipeline(credential, { retryOptions }));
    this.#once = new ContainerClient(
      url,
      newPipeline(credential, { retryOptions: { ...retryOptions, maxTries: 1 } }),
    );
  }

  #blob(key: string, client = this.#container): BlockBlobClient {
    assertKey(key);
    return client.getBlockBlobClient(this.#cfg.prefix + key);
  }

  async get(key: string, range?: Range): Promise<ReadableStream<Uint8Array> | null> {
    const blob = this.#blob(key);
    if (range?.length === 0) {
      countRequest("azure", "GetBlobProperties");
      const exists = await blob.exists().catch((e) => {
        throw this.#wrap(e, "read", key);
      });
      return exists ? new Blob([]).stream() : null;
    }
    countRequest("azure", "GetBlob");
    try {
      const res = await blob.download(range?.offset ?? 0, range?.length);
      const body = res.readableStreamBody;
      if (!body) return new Blob([]).stream();
      const web = rangeBody(
        Readable.toWeb(body as Readable) as ReadableStream<Uint8Array>,
        { status: res._response.status, contentRange: res.contentRange },
        range,
        `azure: ${key}`,
      );
      return web.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, c) {
            countBytes("down", chunk.byteLength);
            // Node Buffers from a shared pool: hand out plain views of their own bytes.
            c.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          },
        }),
      );
    } catch (e) {
      const r = restError(e);
      if (r?.statusCode === 404 && r.code === "BlobNotFound") return null;
      // Reading at or past the end: nothing there, as a file read would give.
      if (r?.statusCode === 416) return new Blob([]).stream();
      throw this.#wrap(e, "read", key);
    }
  }

  async put(key: string, data: PutData): Promise<void> {
    const blob = this.#blob(key);
    data = limitSize(data, this.capabilities.maxObjectSize, `azure: ${key}`);
    const it = fixedParts(data, BLOCK_SIZE);
    const first = await it.next();
    const firstBlock = first.done ? new Uint8Array() : first.value;
    const second = first.done ? first : await it.next();
    if (second.done) {
      countRequest("azure", "PutBlob");
      try {
        await blob.upload(firstBlock, firstBlock.byteLength);
        countBytes("up", firstBlock.byteLength);
      } catch (e) {
        throw this.#wrap(e, "write", key);
      }
      return;
    }
    await this.#putBlocks(blob, key, firstBlock, second.value, it);
  }

  async #putBlocks(
    blob: BlockBlobClient,
    key: string,
    first: Uint8Array,
    second: Uint8Array,
    rest: AsyncGenerator<Uint8Array>,
  ): Promise<void> {
    // Our own block ids: another writer of the same key stages under different ids.
    const upload = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
    const ids: string[] = [];
    let total = 0;
    try {
      await sendBounded(prepend(first, second, rest), IN_FLIGHT, async (block) => {
        if (ids.length >= MAX_BLOCKS) {
          throw new StoreError(
            `azure: ${key} is larger than ${BLOCK_SIZE * MAX_BLOCKS} bytes (the block limit)`,
            "unsupported",
          );
        }
        const id = btoa(`${upload}-${String(ids.length).padStart(6, "0")}`);
        ids.push(id);
        total += block.byteLength;
        countRequest("azure", "PutBlock");
        await blob.stageBlock(id, block, block.byteLength);
        countBytes("up", block.byteLength);
      });
    } catch (e) {
      throw this.#wrap(e, "write", key);
    }
    countRequest("azure", "PutBlockList");
    try {
      await blob.commitBlockList(ids);
    } catch (e) {
      const r = restError(e);
      // A concurrent writer of the same (content-addressed) key committed first, which
      // discards other writers' uncommitted blocks: its blob is ours if the size matches.
      if (r?.statusCode === 400 && r.code === "InvalidBlockList") {
        countRequest("azure", "GetBlobProperties");
        const props = await blob.getProperties().catch(() => null);
        if (props?.contentLength === total) return;
      }
      throw this.#wrap(e, "write", key);
    }
  }

  async create(key: string, data: Uint8Array): Promise<boolean> {
    return (await this.createStamped(key, data)) !== null;
  }

  async createStamped(key: string, data: Uint8Array): Promise<CreatedStamp | null> {
    const blob = this.#blob(key, this.#once);
    limitSize(data, this.capabilities.maxObjectSize, `azure: ${key}`);
    // The ETag Put Blob answered is the one a listing shows; none when an earlier try won.
    let stamp: CreatedStamp = {};
    try {
      const won = await createExclusive({
        write: async (nonce) => {
          countRequest("azure", "PutBlob");
          stamp = {};
          let r;
          try {
            r = await blob.upload(data, data.byteLength, {
              conditions: { ifNoneMatch: "*" },
              metadata: { [CREATE_NONCE_META]: nonce },
            });
          } catch (e) {
            if (lostRace(e)) return "exists";
            throw e;
          }
          countBytes("up", data.byteLength);
          if (r.etag) stamp = { etag: bareEtag(r.etag) };
          return "created";
        },
        carries: async (nonce) => {
          countRequest("azure", "GetBlobProperties");
          const props = await this.#blob(key).getProperties();
          return props.metadata?.[CREATE_NONCE_META] === nonce;
        },
      }, { policy: this.#retry, classify: azureKind });
      return won ? stamp : null;
    } catch (e) {
      throw this.#wrap(e, "write", key);
    }
  }

  async list(prefix: string, startAfter?: string): Promise<ListEntry[]> {
    const base = this.#cfg.prefix;
    const out: ListEntry[] = [];
    try {
      const pages = this.#container
        .listBlobsFlat({ prefix: base + prefix, includeMetadata: true })
        .byPage({ maxPageSize: this.#pageSize });
      for await (const page of pages) {
        countRequest("azure", "ListBlobs");
        for (const b of page.segment.blobItems as BlobItem[]) {
          // Directory markers of hierarchical-namespace (Data Lake) accounts are not keys.
          if (b.metadata?.hdi_isfolder === "true") continue;
          const key = b.name.slice(base.length);
          if (startAfter !== undefined && compareKeys(key, startAfter) <= 0) continue;
          out.push({
            key,
            size: b.properties.contentLength ?? 0,
            modified: b.properties.lastModified,
            ...(b.properties.etag ? { etag: bareEtag(b.properties.etag) } : {}),
          });
        }
      }
    } catch (e) {
      throw this.#wrap(e, "list", prefix || "/");
    }
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  async delete(key: string): Promise<void> {
    const blob = this.#blob(key);
    countRequest("azure", "DeleteBlob");
    try {
      await blob.deleteIfExists({ deleteSnapshots: "include" });
    } catch (e) {
      throw this.#wrap(e, "delete", key);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** One line naming what failed and what to do; never the account key, SAS or connection string. */
  #wrap(e: unknown, op: string, key: string): Error {
    if (e instanceof StoreError) return e;
    const r = restError(e);
    const { account, container, endpoint, auth } = this.#cfg;
    const where = `${account}/${container} at ${endpoint}`;
    if (!r) {
      const msg = scrubSecrets(e instanceof Error ? e.message : String(e), azureSecrets(auth));
      return new StoreError(`azure: ${op} ${key} in ${where}: ${msg}`, "io");
    }
    const status = r.statusCode;
    if (status === undefined) {
      if (networkCode(r)) {
        return new StoreError(
          `azure: cannot reach ${endpoint} (${r.code}); check --endpoint and the network`,
          "unreachable",
        );
      }
      return new StoreError(`azure: ${op} ${key} in ${where}: ${r.code ?? "request failed"}`, "io");
    }
    if (r.code === "ContainerNotFound") {
      return new StoreError(
        `azure: container '${container}' does not exist in account '${account}' at ${endpoint}; ` +
          `create it or fix --container`,
        "not-found-root",
      );
    }
    const authFailed = r.code === "AuthenticationFailed" ||
      (r.code === "AuthorizationFailure" && /authenticate/i.test(r.message));
    if (authFailed || status === 401 || (status === 404 && auth.kind === "anonymous")) {
      const hint = auth.kind === "anonymous"
        ? "no credentials were given: set --account-key, --sas-token or --connection-string " +
          "(or AZURE_STORAGE_CONNECTION_STRING / AZURE_STORAGE_KEY / AZURE_STORAGE_SAS_TOKEN)"
        : `check the ${auth.kind === "sas" ? "SAS token" : "account key"} from ${auth.source}`;
      return new StoreError(
        `azure: authentication failed for ${where}; ${hint}`,
        "access-denied",
      );
    }
    if (status === 403) {
      return new StoreError(
        `azure: not allowed to ${op} ${key} in ${where} (${r.code}); ` +
          `grant the credential from ${auth.source} access, or check the account's network rules`,
        "access-denied",
      );
    }
    return new StoreError(
      `azure: ${op} ${key} in ${where} failed: HTTP ${status} ${r.code ?? ""}`.trimEnd(),
      "io",
    );
  }
}

/** What a message must never show of `auth`: the key, or the SAS and its signature alone. */
function azureSecrets(auth: AzureConfig["auth"]): string[] {
  if (auth.kind === "shared-key") return [auth.key];
  if (auth.kind === "sas") return [auth.token, new URLSearchParams(auth.token).get("sig") ?? ""];
  return [];
}

/** `azure://account/container/path[?endpoint=...]`. */
export function openAzure(url: URL, settings: Settings): Promise<Store> {
  return Promise.resolve(new AzureStore(azureConfig(url, settings)));
}

/**
 * The ETag without the quotes HTTP headers put around it: a listing gives it bare (Azurite)
 * or quoted, a write's answer quoted; one form, so a created blob's stamp is the listed one.
 */
function bareEtag(etag: string): string {
  return etag.replace(/^"(.*)"$/, "$1");
}

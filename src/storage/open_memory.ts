import { MemoryStore } from "./memory.ts";
import type { Store } from "./store.ts";

/** `memory://name/path`: one shared space per name and path in this process. */
export function openMemory(url: URL): Promise<Store> {
  return Promise.resolve(MemoryStore.named(`${url.host}${url.pathname}`.replace(/\/+$/, "")));
}

/** The `memory://` backend: its declaration (see backend.ts). */
import type { BackendSpec } from "./backend.ts";

export const memoryBackend: BackendSpec = {
  schemes: ["memory"],
  description: "in-process memory (tests, library)",
  settings: [{ key: "path", help: "name of the in-process space" }],
  rootUrl: (f) => `memory://${f.path ?? "default"}`,
  load: async () => (await import("./open_memory.ts")).openMemory,
};

/**
 * node:zlib, loaded on first use instead of imported: evaluating it costs a process
 * ~25 ms with node:process it pulls in, and a clone of a small trunk inflates and deflates
 * nothing (git's index-pack does), though the modules it loads (pack format, chunks) can.
 */
export type NodeZlib = typeof import("node:zlib");

let loaded: NodeZlib | undefined;

export function zlib(): NodeZlib {
  // Deno's `process` global, not an import of node:process: that import costs as much.
  return loaded ??= (globalThis as unknown as {
    process: { getBuiltinModule(id: string): unknown };
  }).process.getBuiltinModule("node:zlib") as NodeZlib;
}

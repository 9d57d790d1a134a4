/**
 * node:zlib, loaded on first use instead of imported: evaluating it costs a process
 * ~25 ms with node:process it pulls in, and a clone of a small trunk inflates and deflates
 * nothing (git's index-pack does), though the modules it loads (pack format, chunks) can.
 */
import { nodeBuiltin } from "./hash.ts";

export type NodeZlib = typeof import("node:zlib");

let loaded: NodeZlib | undefined;

export function zlib(): NodeZlib {
  return loaded ??= nodeBuiltin<NodeZlib>("node:zlib");
}

import { escapeUnsafe } from "../storage/plain_text.ts";

/**
 * Errors of the trunk protocol: each message is one line naming the key and what to do.
 * A message may quote what a store holds (a ref name, a writer, a field of trunk.json), and
 * a library caller prints it as it is: what a terminal acts on is escaped here, once, for
 * every such error (plain_text.ts), as the CLI shows it.
 */
export class TrunkError extends Error {
  constructor(
    message: string,
    readonly code:
      | "not-a-trunk"
      | "format"
      | "corrupt"
      | "conflict"
      | "missing-object"
      | "bad-input"
      | "not-found",
    options?: ErrorOptions,
  ) {
    super(escapeUnsafe(message), options);
    this.name = "TrunkError";
  }
}

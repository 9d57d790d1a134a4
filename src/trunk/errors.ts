/** Errors of the trunk protocol: each message is one line naming the key and what to do. */
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
    super(message, options);
    this.name = "TrunkError";
  }
}

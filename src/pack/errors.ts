/**
 * Bytes that are not what the git format says (a damaged pack, index or object). The
 * pack layer knows nothing of trunks, so it has its own error; `code` matches the
 * engine's `TrunkError` "corrupt" so callers can treat both alike.
 */
export class PackFormatError extends Error {
  readonly code = "corrupt" as const;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PackFormatError";
  }
}

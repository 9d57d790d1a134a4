/** Errors only the CLI raises (the one-line description of any error is src/trunk/describe_error.ts). */

/** Bad command line (unknown option, missing argument): exit code 2, like git's usage errors. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure already reported in full (e.g. by --json output); only the exit code remains. */
export class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = "Exit";
  }
}

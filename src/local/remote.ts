/** The git remote trunks sets up (a module of its own: the CLI entry needs only these). */

/** The git remote every trunks repository pushes to by default. */
export const REMOTE = "trunks";
/** `remote.trunks.url` before any storage is added; the helper answers it with advice. */
export const UNSET_REMOTE_URL = "trunks::unconfigured";

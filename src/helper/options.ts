import type { MirrorsPolicy } from "../trunk/mirrors_policy.ts";

/** What git set with `option <name> <value>` for this helper process. */
export interface HelperOptions {
  verbosity: number;
  progress: boolean;
  dryRun: boolean;
  force: boolean;
  /** `option cas <ref>:<expected>` (force-with-lease). */
  cas: Map<string, string>;
  /** git sent `option object-format`: `list` starts with `:object-format <algo>`. */
  objectFormat?: boolean;
  /**
   * `option check-connectivity` (a clone): the helper says `connectivity-ok` for a
   * self-contained pack whose links index-pack checked, and git skips its own walk.
   */
  checkConnectivity?: boolean;
  /** `git push -o mirrors=skip` (TRUNKS_MIRRORS=skip is read when the remote opens). */
  mirrors?: MirrorsPolicy;
}

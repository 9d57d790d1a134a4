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
}

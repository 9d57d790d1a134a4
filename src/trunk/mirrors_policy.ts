/**
 * The mirrors policy a push follows, read from TRUNKS_MIRRORS or `-o mirrors=`: apart from
 * mirrors.ts so that the helper checks it before its first request without loading the
 * mirrored store's code (a fetch from one storage never runs it).
 */
import { TrunkError } from "./errors.ts";

/**
 * What a push does with mirrors: "all" (the default: every mirror answers and is caught
 * up, or nothing moves) or "skip" (an explicit, per-push escape for a sandbox about to
 * die: the push lands on the primary alone and the mirrors are left behind, loudly).
 */
export type MirrorsPolicy = "all" | "skip";

/** The env variable and push option (`git push -o mirrors=skip`) that choose the policy. */
export const MIRRORS_ENV = "TRUNKS_MIRRORS";
export const MIRRORS_PUSH_OPTION = "mirrors";

/** `skip` or unset/empty; anything else is a mistake worth refusing, never a silent default. */
export function parseMirrorsPolicy(value: string | undefined, from: string): MirrorsPolicy {
  if (value === undefined || value === "" || value === "all") return "all";
  if (value === "skip") return "skip";
  throw new TrunkError(
    `${from}=${
      JSON.stringify(value)
    } is not understood; the only choice is skip (push to the primary alone), or leave it unset`,
    "bad-input",
  );
}

/** The policy from TRUNKS_MIRRORS. */
export function mirrorsPolicyFromEnv(): MirrorsPolicy {
  return parseMirrorsPolicy(Deno.env.get(MIRRORS_ENV), MIRRORS_ENV);
}

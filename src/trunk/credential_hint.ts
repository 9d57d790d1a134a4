/**
 * What to say when a storage refuses access, the same for the CLI (`storage add`, `ping`,
 * `doctor`) and the git helper (`git push`): whether any credential was sent at all, and
 * which variables this storage reads, by its own name, before the provider's shared ones
 * (`AWS_*` serve every S3 storage; `TRUNKS_STORAGE_BACKUP_*` only "backup").
 */
import { backendSpec } from "../storage/registry.ts";
import { credentialEnvName } from "./storage_map.ts";

/**
 * An access-denied message that says nothing was sent: the backends word a missing
 * credential as "no credentials ..." (S3 chain, R2/B2/... without keys, Azure and GCS
 * anonymous).
 */
export function noCredentialsSent(error: string | null): boolean {
  return /\bno credentials\b/i.test(error ?? "");
}

/** "refused the credentials", or "got no credentials" when none were sent. */
export function accessWords(error: string | null): string {
  return noCredentialsSent(error) ? "got no credentials" : "refused the credentials";
}

export interface CredentialSubject {
  /**
   * The name whose `TRUNKS_STORAGE_<NAME>_*` variables were read for this storage, or
   * null when none were (a URL used as given): then only the provider's apply.
   */
  envName: string | null;
  /** The backend's scheme (`s3`, `azure`, ...). */
  backend: string;
}

type Env = (name: string) => string | undefined;

/**
 * `; storage backup reads TRUNKS_STORAGE_BACKUP_ACCESS_KEY, ... before the provider's
 * variables (none of them set here)`: appended to an access-denied message. Empty for a
 * backend that takes no secret (local disk).
 */
export function credentialAdvice(
  who: CredentialSubject,
  env: Env = (n) => Deno.env.get(n),
): string {
  const keys = backendSpec(who.backend)?.settings.filter((s) => s.secret).map((s) => s.key) ??
    [];
  if (!keys.length) return "";
  if (who.envName === null) {
    const suffix = keys[0].toUpperCase().replace(/[^A-Z0-9]/g, "_");
    return `; this URL is used as given, so only the provider's variables apply: to give it its own, save it (trunks storage add --name NAME, or --global NAME) and set TRUNKS_STORAGE_<NAME>_${suffix} and the like`;
  }
  const names = keys.map((k) => credentialEnvName(who.envName!, k));
  const set = names.filter((n) => env(n) !== undefined);
  return `; storage ${who.envName} reads its own ${
    names.join(", ")
  } before the provider's variables (${
    set.length ? `set here: ${set.join(", ")}` : "none of them set here"
  })`;
}

/** The scheme of a URL, or "" when it has none. */
export function schemeOf(url: string): string {
  return /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1].toLowerCase() ?? "";
}

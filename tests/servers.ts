/**
 * Integration tests find their real servers through env vars printed by
 * `scripts/test-servers.sh up`. Outside CI a missing server skips its tests with a
 * note; in CI (CI=true) a missing server fails loudly: no integration test may skip.
 */
export function serverEnv(server: string, vars: string[]): Record<string, string> | null {
  const missing = vars.filter((v) => !Deno.env.get(v));
  if (missing.length === 0) return Object.fromEntries(vars.map((v) => [v, Deno.env.get(v)!]));
  const msg = `${server} is not running (missing ${missing.join(", ")}); start it with: ` +
    `eval "$(scripts/test-servers.sh up ${server} | sed 's/^/export /')"`;
  if (Deno.env.get("CI")) throw new Error(`CI: ${msg}`);
  console.error(`skipping ${server} tests: ${msg}`);
  return null;
}

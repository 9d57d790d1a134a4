/**
 * Injectable crash points for the reliability suite: `TRUNKS_FAULT=<point>` kills the
 * process with SIGKILL when it reaches that point, exactly like a sandbox dying there.
 * `TRUNKS_FAULT=<point>:<n>` fires on the n-th time the point is reached.
 */
const seen = new Map<string, number>();
const spec = Deno.env.get("TRUNKS_FAULT") ?? "";

export function faultPoint(point: string): void {
  if (!spec) return;
  const [, name, nth] = /^(.*?)(?::(\d+))?$/.exec(spec)!;
  if (name !== point) return;
  const count = (seen.get(point) ?? 0) + 1;
  seen.set(point, count);
  if (count === Number(nth ?? 1)) Deno.kill(Deno.pid, "SIGKILL");
}

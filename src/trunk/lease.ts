/**
 * The lease (DESIGN.md "Lease and grace"): how long a push may rely on its last read of
 * the trunk's state. Pushes re-read the state past half of it; a clean deletes only what
 * was superseded or replaced more than two leases ago. The value lives in trunk.json so
 * every client of a trunk agrees on it.
 */
import { TrunkError } from "./errors.ts";

export const LEASE_DEFAULT_SECONDS = 3600;
/**
 * A moment on both clocks: the wall clock (ms) and `performance.now()`. What a lease or a
 * budget measures since it is `elapsedSince`.
 */
export interface Moment {
  at: number;
  mono: number;
}

export function moment(): Moment {
  return { at: Date.now(), mono: performance.now() };
}

/**
 * The time since `m`, the longer of the two clocks' spans: the monotonic one, which no
 * wall-clock step moves (NTP, a resumed VM), does not count a suspension on Linux
 * (CLOCK_MONOTONIC: a laptop asleep, a paused or snapshot-restored VM), which the wall
 * clock, set right on resume, does. A push asleep past two leases before its entries
 * skipped its re-read by the first alone. A wall clock stepped forward only makes a push
 * read again or give up, and a clean stop early.
 */
export function elapsedSince(m: Moment): number {
  return Math.max(0, performance.now() - m.mono, Date.now() - m.at);
}

/** Sets `leaseSeconds` in the trunk.json of trunks this process creates (tests shrink it). */
export const LEASE_ENV = "TRUNKS_LEASE_SECONDS";

export function leaseMs(meta: { leaseSeconds?: number }): number {
  return (meta.leaseSeconds ?? LEASE_DEFAULT_SECONDS) * 1000;
}

/** `{leaseSeconds}` for a new trunk.json: as given, else as `TRUNKS_LEASE_SECONDS` asks. */
export function leaseForNewTrunk(given?: number): { leaseSeconds?: number } {
  if (given !== undefined) {
    if (!Number.isInteger(given) || given < 0) {
      throw new TrunkError(`leaseSeconds ${given} is not a whole number of seconds`, "bad-input");
    }
    return { leaseSeconds: given };
  }
  let raw: string | undefined;
  try {
    raw = Deno.env.get(LEASE_ENV);
  } catch {
    return {}; // no env permission: the default lease
  }
  if (raw === undefined || raw.trim() === "") return {};
  if (!/^\d+$/.test(raw.trim())) {
    throw new TrunkError(
      `${LEASE_ENV}=${JSON.stringify(raw)} is not a whole number of seconds`,
      "bad-input",
    );
  }
  return { leaseSeconds: Number(raw.trim()) };
}

/** A clean's grace must cover two leases, so no push in flight can lose its objects. */
export function refuseShortGrace(graceMs: number, meta: { leaseSeconds?: number }): void {
  const min = 2 * leaseMs(meta);
  if (graceMs < min) {
    throw new TrunkError(
      `--grace ${graceMs / 1000}s is shorter than two leases of this trunk (${
        min / 1000
      }s; leaseSeconds in trunk.json): a push in flight could lose its objects; use --grace ${
        Math.ceil(min / 1000)
      }s or more`,
      "bad-input",
    );
  }
}

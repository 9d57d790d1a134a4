/**
 * Whether this process's fetch has yet to run. Its first call runs 6-10 ms of fetch's own
 * JavaScript before the request leaves (Deno 2.9), the next ones about 1 ms: the process's
 * first request, made while it is cold, may go another way (http1.ts), and `warmFetch`
 * pays that cost while the answer is out rather than on a later request's critical path.
 *
 * Only the first opens a connection of its own: later listings go over it while it is free
 * (http1.ts keeps it open), and a request made beside it goes through fetch.
 */
let ran = false;
let firstTaken = false;

/** True once, for the process's first request, if fetch has not run by then. */
export function takeColdFirst(): boolean {
  if (ran || firstTaken) return false;
  firstTaken = true;
  return true;
}

/** Noted by code about to call fetch. */
export function fetchUsed(): void {
  ran = true;
}

/** Runs fetch once on a data: URL (nothing on the network), if it has not run yet. */
export function warmFetch(): void {
  if (ran) return;
  ran = true;
  try {
    fetch("data:,").then((r) => r.arrayBuffer()).catch(() => {});
  } catch { /* only ever an optimisation */ }
}

/**
 * A cancellable timer for deadlines on work in flight, armed without loading anything.
 *
 * Deno 2.9's global setTimeout returns node's Timeout, and its first call in a process loads
 * Deno's node timers layer (~5 ms of a quiet process, 20-40 ms on a loaded one); every
 * store operation armed one, so an up-to-date fetch paid it right before its LIST left.
 * AbortSignal.timeout runs on the same event loop without that layer (~0.3 ms), but its
 * timer cannot be cleared: a cancelled one lives on, unlistened, until its time. So only a
 * process's first timers use it (a fetch with nothing new arms a handful); after those,
 * setTimeout, whose load a long command no longer notices and whose clearTimeout frees at
 * once (a push of 20,000 refs arms 20,000 deadlines of two minutes).
 *
 * Armed, it keeps the process alive as setTimeout does; cancelled, it holds nothing.
 */
const MAX_MS = 2 ** 31 - 1;
/** Signal-based timers a process arms before it takes setTimeout's load. */
const FIRST_TIMERS = 64;
let cheapLeft = FIRST_TIMERS;

export function armTimer(ms: number, fire: () => void): () => void {
  // setTimeout's clamping: no number is 0 ms; past 2^31-1, the longest it waits.
  const wait = Number.isNaN(ms) ? 0 : Math.min(Math.max(0, ms), MAX_MS);
  if (cheapLeft > 0) {
    cheapLeft--;
    const signal = AbortSignal.timeout(wait);
    const listener = () => fire();
    signal.addEventListener("abort", listener, { once: true });
    // Without a listener the signal's timer no longer holds the process open (Deno refs
    // it only while one listens), so a cancelled deadline never delays an exit.
    return () => signal.removeEventListener("abort", listener);
  }
  const timer = setTimeout(fire, wait);
  return () => clearTimeout(timer);
}

/**
 * Resolves once the event loop has polled for I/O for `ms`: a request handed to `fetch`
 * reaches its socket only then, so code that runs first (a module's evaluation, a loop of
 * parsing) holds it back. A timer armed at once: a timer already due, or a promise, runs
 * before the loop polls. AbortSignal.timeout, for the reason armTimer gives.
 */
export function loopTurn(ms = 1): Promise<void> {
  return new Promise((resolve) =>
    AbortSignal.timeout(ms).addEventListener("abort", () => resolve(), { once: true })
  );
}

/**
 * A cancellable timer for deadlines on work in flight, armed without loading anything.
 *
 * Deno 2.9's global setTimeout returns node's Timeout, and its first call in a process loads
 * Deno's node timers layer (~5 ms of a quiet process, 20-40 ms on a loaded one); every
 * store operation armed one, so an up-to-date fetch paid it right before its LIST left.
 * AbortSignal.timeout runs on the same event loop without that layer (~0.3 ms).
 *
 * Armed, it keeps the process alive as setTimeout does; cancelled, it holds nothing (its
 * signal runs out on its own, unlistened).
 */
const MAX_MS = 2 ** 31 - 1;

export function armTimer(ms: number, fire: () => void): () => void {
  // setTimeout's clamping: no number is 0 ms; past 2^31-1, the longest it waits.
  const signal = AbortSignal.timeout(Number.isNaN(ms) ? 0 : Math.min(Math.max(0, ms), MAX_MS));
  signal.addEventListener("abort", fire, { once: true });
  // Without a listener the signal's timer no longer holds the process open (Deno refs it
  // only while one listens), so a cancelled deadline never delays an exit.
  return () => signal.removeEventListener("abort", fire);
}

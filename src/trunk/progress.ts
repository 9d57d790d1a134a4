/**
 * Progress of the byte transfers to and from a trunk, and the one renderer that turns it
 * into git-style lines on a terminal (the remote helper and the CLI both use it):
 *
 *   Uploading segment:  45% (1/1), 5.40 MiB of 12.00 MiB | 3.10 MiB/s\r
 *   Uploading segment: 100% (1/1), 12.00 MiB | 3.05 MiB/s, done.\n
 *
 * The engine reports every piece as it moves (`OnProgress`); the renderer decides what a
 * human sees: redrawn in place at most every `intervalMs`, a final line once done.
 * Sizes and rates here are the only place units are spelled.
 */

/** Which transfer a report is about. */
export type TransferKind =
  | "segment-upload"
  | "segment-download"
  | "blob-upload"
  | "blob-download"
  | "mirror-copy";

export interface TransferProgress {
  kind: TransferKind;
  /** The storage a copy goes to (mirror copies run in parallel, one line each). */
  target?: string;
  /**
   * Bytes moved so far, counted as the streams to or from the store flow. With mirrors,
   * a segment's own bytes as the slowest storage takes them (never the sum over
   * storages). Large blobs: the blobs' plain bytes, a chunk counted once stored or
   * found already in the trunk.
   */
  bytes: number;
  /** Bytes the whole transfer moves; 0 when not known. */
  total: number;
  /** Whole items (segments, blobs, objects) finished, of `itemsTotal`. */
  items: number;
  itemsTotal: number;
  /** The transfer finished: the last report for it. */
  done: boolean;
  /**
   * The transfer failed: the last report for it (a retry starts a new one, with its own
   * start time and rate).
   */
  failed?: boolean;
}

/** Told of every piece as it moves; many calls per second, so keep it cheap. */
export type OnProgress = (p: TransferProgress) => void;

/**
 * `work`, handed an `OnProgress` that remembers each transfer's last report: if `work`
 * throws, every transfer it left unfinished gets one more report marked failed, so a
 * renderer ends its line and a retry starts with its own start time and rate.
 */
export async function failingTransfers<T>(
  onProgress: OnProgress | undefined,
  work: (onProgress: OnProgress | undefined) => Promise<T>,
): Promise<T> {
  if (!onProgress) return await work(undefined);
  const unfinished = new Map<string, TransferProgress>();
  const tracked: OnProgress = (p) => {
    if (p.done || p.failed) unfinished.delete(titleOf(p));
    else unfinished.set(titleOf(p), p);
    onProgress(p);
  };
  try {
    return await work(tracked);
  } catch (e) {
    for (const p of unfinished.values()) onProgress({ ...p, failed: true });
    throw e;
  }
}

const TITLES: Record<TransferKind, string> = {
  "segment-upload": "Uploading segment",
  "segment-download": "Downloading segments",
  "blob-upload": "Uploading large blobs",
  "blob-download": "Downloading large blobs",
  "mirror-copy": "Copying to mirror",
};

function titleOf(p: TransferProgress): string {
  return p.target === undefined ? TITLES[p.kind] : `${TITLES[p.kind]} "${p.target}"`;
}

/** Sizes as git prints them (`12.00 MiB`), in progress lines and reports. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(2)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(2)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Default redraw interval: a few times a second, as git's progress. */
export const REDRAW_MS = 250;
/** The rate shown while running is over this recent window, so it follows speed changes. */
const RATE_WINDOW_MS = 2000;

export interface MeterOptions {
  /** Milliseconds, monotonic (tests pass a fake clock). */
  now?: () => number;
  intervalMs?: number;
}

interface Running {
  started: number;
  lastDraw: number;
  /** Recent (time, bytes) samples for the rate, oldest first. */
  samples: { t: number; bytes: number }[];
  width: number;
}

/**
 * Renders transfers to `write` (stderr of a terminal): `update` is the `OnProgress` to
 * hand the engine. Each transfer (kind, and target for mirror copies) keeps its own rate
 * and throttle; a line is padded so a shorter redraw leaves nothing of a longer one.
 */
export class ProgressMeter {
  #write: (text: string) => void;
  #now: () => number;
  #interval: number;
  #running = new Map<string, Running>();

  constructor(write: (text: string) => void, opts: MeterOptions = {}) {
    this.#write = write;
    this.#now = opts.now ?? (() => performance.now());
    this.#interval = opts.intervalMs ?? REDRAW_MS;
  }

  /** The engine's callback: redraws at most every interval, and once more when done. */
  readonly update: OnProgress = (p) => {
    const now = this.#now();
    const key = titleOf(p);
    let r = this.#running.get(key);
    if (!r) {
      r = { started: now, lastDraw: -Infinity, samples: [], width: 0 };
      this.#running.set(key, r);
    }
    // A failed attempt's bytes taken back: the rate starts over from here, never
    // measured across the drop (which would make it negative).
    if (r.samples.length && p.bytes < r.samples[r.samples.length - 1].bytes) r.samples = [];
    r.samples.push({ t: now, bytes: p.bytes });
    while (r.samples.length > 2 && now - r.samples[1].t >= RATE_WINDOW_MS) r.samples.shift();
    if (p.failed) {
      // The line stays as it last stood, ended, so an error after it starts clean.
      this.#running.delete(key);
      if (r.width > 0) this.#write("\n");
      return;
    }
    if (p.done) {
      this.#running.delete(key);
      const secs = Math.max((now - r.started) / 1000, 0.001);
      this.#draw(r, `${this.#line(p, p.bytes / secs, true)}, done.`, "\n");
      return;
    }
    if (now - r.lastDraw < this.#interval) return;
    r.lastDraw = now;
    this.#draw(r, this.#line(p, this.#rate(r, now), false), "\r");
  };

  #rate(r: Running, now: number): number {
    const first = r.samples[0];
    const last = r.samples[r.samples.length - 1];
    const secs = (now - first.t) / 1000;
    return secs > 0 ? Math.max(0, (last.bytes - first.bytes) / secs) : 0;
  }

  #line(p: TransferProgress, rate: number, final: boolean): string {
    const title = titleOf(p);
    rate = Math.max(0, rate);
    const pct = p.total > 0
      ? `${String(Math.min(100, Math.max(0, Math.floor((p.bytes / p.total) * 100)))).padStart(3)}% `
      : final
      ? "100% "
      : "";
    const count = p.itemsTotal > 0 ? `(${p.items}/${p.itemsTotal}), ` : "";
    const size = !final && p.total > 0
      ? `${formatBytes(Math.max(0, p.bytes))} of ${formatBytes(p.total)}`
      : formatBytes(Math.max(0, p.bytes));
    return `${title}: ${pct}${count}${size} | ${formatBytes(Math.round(rate))}/s`;
  }

  #draw(r: Running, text: string, end: "\r" | "\n"): void {
    const pad = Math.max(0, r.width - text.length);
    r.width = end === "\r" ? text.length : 0;
    this.#write(text + " ".repeat(pad) + end);
  }
}

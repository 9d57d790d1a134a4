/** Line-oriented stdin/stdout for git's remote-helper protocol. */
import { formatBytes, type OnProgress, ProgressMeter } from "../trunk/progress.ts";
import { stderrLine } from "../trunk/stderr_line.ts";

/** Where lines come from: `Deno.stdin`, read directly. */
export interface ByteSource {
  read(p: Uint8Array): Promise<number | null>;
}

/**
 * Reads its source directly, not through `Deno.stdin.readable`: web streams load on first
 * use, and that costs the helper's every start 10-20 ms.
 */
export class LineReader {
  #source: ByteSource;
  #chunk = new Uint8Array(64 * 1024);
  #buf = "";
  #dec = new TextDecoder();
  #done = false;

  constructor(source: ByteSource) {
    this.#source = source;
  }

  /**
   * The next line when it was read already, else undefined (`next` reads on): a clone's
   * `fetch` is one line per ref, and an await each cost 20,000 of them ~5-10 ms.
   */
  buffered(): string | undefined {
    const nl = this.#buf.indexOf("\n");
    if (nl < 0) return undefined;
    const line = this.#buf.slice(0, nl);
    this.#buf = this.#buf.slice(nl + 1);
    return line;
  }

  /** The next line without its newline, or null at end of input. */
  async next(): Promise<string | null> {
    for (;;) {
      const line = this.buffered();
      if (line !== undefined) return line;
      if (this.#done) {
        if (this.#buf.length === 0) return null;
        const line = this.#buf;
        this.#buf = "";
        return line;
      }
      const n = await this.#source.read(this.#chunk);
      if (n === null) this.#done = true;
      else this.#buf += this.#dec.decode(this.#chunk.subarray(0, n), { stream: true });
    }
  }
}

const enc = new TextEncoder();

/** Everything for git goes through here, in one write per reply. */
export async function writeOut(text: string): Promise<void> {
  const data = enc.encode(text);
  let at = 0;
  while (at < data.byteLength) at += await Deno.stdout.write(data.subarray(at));
}

/**
 * Human-facing messages go to stderr, never stdout (which belongs to git); a progress
 * line showing is ended first, so a message never lands on top of it.
 */
export function say(text: string): void {
  stderrLine.message(text);
}

/** Progress lines on stderr when git asked for them (`option progress true`). */
export function progressMeter(wanted: boolean): OnProgress | undefined {
  return wanted ? new ProgressMeter(stderrLine.progress).update : undefined;
}

export { formatBytes };

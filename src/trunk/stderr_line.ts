/**
 * The one owner of stderr's line state. A progress line is drawn in place (ending in
 * `\r`); anything else written while one is showing would land on top of it, leaving
 * the tail of the longer line visible. Every message line goes through `message`, which
 * ends an open progress line first, so the last progress state stays readable above it.
 */
const enc = new TextEncoder();

export class StderrLine {
  #write: (text: string) => void;
  #open = false;

  constructor(write: (text: string) => void) {
    this.#write = write;
  }

  /** Progress text as the renderer draws it: a redraw (`\r`) leaves the line open. */
  readonly progress = (text: string): void => {
    if (text.length === 0) return;
    this.#write(text);
    this.#open = text.endsWith("\r");
  };

  /** A whole message line (a newline is added when missing), never on top of progress. */
  readonly message = (text: string): void => {
    this.end();
    this.progress(text.endsWith("\n") ? text : text + "\n");
  };

  /** Ends a progress line left open (a transfer that failed or stopped): the next line starts clean. */
  readonly end = (): void => {
    if (this.#open) this.progress("\n");
  };

  /** Whether a progress line is showing (drawn and not yet ended). */
  get open(): boolean {
    return this.#open;
  }
}

/** The process's stderr: the helper and the CLI write every human-facing line here. */
export const stderrLine = new StderrLine((text) => Deno.stderr.writeSync(enc.encode(text)));

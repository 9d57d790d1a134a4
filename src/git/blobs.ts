/**
 * Large blobs in the local repository, streamed in and out through git plumbing so no
 * blob is ever held whole in memory: `cat-file --batch` reads them, `rev-list
 * --missing=print` finds the ones a fetch still lacks.
 */
import { batchCheck, collectText, finished, git, GitError, spawnGit } from "./run.ts";

export interface BlobStream {
  oid: string;
  size: number;
  /** Read it to the end before asking for the next blob. */
  content: ReadableStream<Uint8Array>;
}

/** Buffered reads of lines and exact byte counts from one stream. */
class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #more(): Promise<boolean> {
    const { done, value } = await this.#reader.read();
    if (done) return false;
    if (this.#buf.byteLength === 0) this.#buf = value;
    else {
      const b = new Uint8Array(this.#buf.byteLength + value.byteLength);
      b.set(this.#buf);
      b.set(value, this.#buf.byteLength);
      this.#buf = b;
    }
    return true;
  }

  async line(): Promise<string | null> {
    for (;;) {
      const nl = this.#buf.indexOf(10);
      if (nl >= 0) {
        const text = new TextDecoder().decode(this.#buf.subarray(0, nl));
        this.#buf = this.#buf.subarray(nl + 1);
        return text;
      }
      if (!(await this.#more())) return null;
    }
  }

  /** Up to `max` bytes (at least one), or null at end of input. */
  async take(max: number): Promise<Uint8Array | null> {
    if (this.#buf.byteLength === 0 && !(await this.#more())) return null;
    const n = Math.min(max, this.#buf.byteLength);
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/**
 * The content of each blob in turn, from one `git cat-file --batch` process. A
 * missing object or one that is not a blob is an error naming it.
 */
export async function* catBlobs(oids: string[]): AsyncGenerator<BlobStream> {
  if (oids.length === 0) return;
  // Stream every blob (git's default streams only those above 512 MiB and reads the
  // rest whole), and keep the pack windows mapped while streaming small.
  const child = spawnGit([
    "-c",
    "core.bigFileThreshold=1",
    "-c",
    "core.packedGitWindowSize=32m",
    "-c",
    "core.packedGitLimit=64m",
    "cat-file",
    "--batch",
  ]);
  const stderr = collectText(child.stderr);
  const w = child.stdin.getWriter();
  const input = w.write(new TextEncoder().encode(oids.join("\n") + "\n")).then(() => w.close());
  const r = new ByteReader(child.stdout);
  let ok = false;
  try {
    for (const oid of oids) {
      const header = await r.line();
      const m = header && /^([0-9a-f]+) (\S+) (\d+)$/.exec(header);
      if (!m || m[2] !== "blob") {
        throw new GitError(
          `git cat-file: ${oid} is ${
            header?.endsWith(" missing") ? "missing from this repository" : "not a blob"
          }`,
          header ?? "",
          0,
        );
      }
      let left = Number(m[3]);
      const content = new ReadableStream<Uint8Array>({
        async pull(ctl) {
          if (left === 0) return ctl.close();
          const piece = await r.take(left);
          if (!piece) {
            ctl.error(new GitError(`git cat-file: ${oid} ended early`, "", 0));
            return;
          }
          left -= piece.byteLength;
          // Copy: the reader's buffer is a view over git's pipe buffer, reused later.
          ctl.enqueue(piece.slice());
        },
      }, { highWaterMark: 0 });
      yield { oid, size: Number(m[3]), content };
      while (left > 0) {
        const piece = await r.take(left);
        if (!piece) throw new GitError(`git cat-file: ${oid} ended early`, "", 0);
        left -= piece.byteLength;
      }
      await r.take(1); // the newline after each object
    }
    ok = true;
  } finally {
    if (!ok) await r.cancel();
    await input.catch(() => {});
    await child.status;
  }
  await finished(child, "cat-file", stderr);
}

/**
 * Objects reachable from `tips` that the repository lacks (not counting what its refs
 * already reach): after a fetch has indexed its segments, these are the large blobs
 * still to be written.
 */
export async function missingObjects(tips: string[]): Promise<string[]> {
  if (tips.length === 0) return [];
  const res = await git(["rev-list", "--objects", "--missing=print", "--stdin", "--not", "--all"], {
    stdin: tips.join("\n") + "\n",
  });
  const out: string[] = [];
  for (const line of new TextDecoder().decode(res.stdout).split("\n")) {
    if (line.startsWith("?")) out.push(line.slice(1).trim());
  }
  return out;
}

/** Sizes of objects, from one `cat-file --batch-check`; missing ones are left out. */
export async function blobSizes(oids: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (oids.length === 0) return out;
  for (const line of await batchCheck("%(objectname) %(objectsize)", oids)) {
    const m = /^([0-9a-f]+) (\d+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

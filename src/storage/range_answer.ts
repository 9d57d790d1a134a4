/**
 * A ranged GET's 2xx answer as the range's bytes, for the HTTP stores. The store is
 * untrusted: a server (or a proxy before it) that ignores Range answers 200 with the whole
 * object, which is cut here to the range; a 206 must say in its Content-Range that it holds
 * the range asked for, or its bytes would be taken for another part of the object.
 *
 * A 206 whose body is longer or shorter than its Content-Range says is refused as it ends:
 * HTTP's framing (Content-Length) holds, so the server itself contradicts its header, and
 * the bytes after a short body would be read as the range's next ones.
 *
 * A 206 for another range is refused, not retried: it is the server's (or a cache's)
 * standing behaviour, which another attempt would most likely meet again, and the error
 * points at the endpoint to fix.
 */
import { type Range, StoreError } from "./store.ts";

/** What a GET answered: its status and its Content-Range header. */
export interface RangeAnswer {
  status: number;
  contentRange?: string | null;
}

/**
 * The bytes of `range` from `body`, a 2xx answer to a GET that asked for it (none: the whole
 * object, taken as it is). `what` names the store and the key in an error ("s3: refs/x").
 */
export function rangeBody(
  body: ReadableStream<Uint8Array>,
  answer: RangeAnswer,
  range: Range | undefined,
  what: string,
): ReadableStream<Uint8Array> {
  if (!range) return body;
  if (answer.status === 206) {
    const said = mismatch(answer.contentRange, range);
    if (typeof said === "number") return body.pipeThrough(exactly(said, what));
    body.cancel().catch(() => {});
    throw new StoreError(
      `${what}: asked for bytes ${range.offset}-${
        range.length === undefined ? "" : range.offset + range.length - 1
      }, the server answered ${said}; check the endpoint honours Range requests`,
      "corrupt",
    );
  }
  if (range.offset === 0 && range.length === undefined) return body;
  return body.pipeThrough(slice(range));
}

/**
 * Why a 206's Content-Range does not answer `range`, or the number of bytes it says it
 * holds when it does.
 */
function mismatch(header: string | null | undefined, range: Range): string | number {
  if (!header) return "a 206 without Content-Range";
  // An empty object asked for a range from 0: no byte-range can name it, and servers write
  // that differently (s3rver "bytes 0-0/0", Azurite "bytes 0--1/0"; S3 and Azure say 416).
  if (range.offset === 0 && /^bytes 0-(0|-1)\/0$/i.test(header.trim())) return 0;
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/i.exec(header.trim());
  if (!m) return `Content-Range '${header.slice(0, 80)}'`;
  const [start, end] = [Number(m[1]), Number(m[2])];
  const total = m[3] === "*" ? Infinity : Number(m[3]);
  // Asked past the object's end, a range ends with it; one that starts at the end is empty
  // (Azurite: "bytes 5-4/5"; S3 and Azure answer 416).
  const last = Math.min(
    range.length === undefined ? Infinity : range.offset + range.length - 1,
    total - 1,
  );
  const fits = start === range.offset && end >= start - 1 && end < total &&
    (last === Infinity || end === last);
  return fits ? end - start + 1 : `bytes ${start}-${end}/${m[3]}`;
}

/** Bytes [offset, offset+length) of a whole-object stream. */
function slice(range: Range): TransformStream<Uint8Array, Uint8Array> {
  let pos = 0;
  const end = range.length === undefined ? Infinity : range.offset + range.length;
  return new TransformStream({
    transform(chunk, c) {
      const from = Math.max(range.offset - pos, 0);
      const to = Math.min(end - pos, chunk.byteLength);
      if (to > from) c.enqueue(chunk.subarray(from, to));
      pos += chunk.byteLength;
    },
  });
}

/** The stream as it is, refused once it holds other than the `n` bytes its header said. */
function exactly(n: number, what: string): TransformStream<Uint8Array, Uint8Array> {
  let got = 0;
  const wrong = () =>
    new StoreError(
      `${what}: the server's 206 said ${n} bytes and sent ${got}${
        got > n ? " or more" : ""
      }; check the endpoint (or a proxy before it) honours Range requests`,
      "corrupt",
    );
  return new TransformStream({
    transform(chunk, c) {
      got += chunk.byteLength;
      if (got > n) throw wrong();
      c.enqueue(chunk);
    },
    flush() {
      if (got !== n) throw wrong();
    },
  });
}

/**
 * One large file read back through the library (`readStream`, chunk by chunk) and
 * compared with the original by SHA-256, for bench/largefile.ts to time and measure
 * (peak RSS of this process alone). Exits non-zero when the bytes differ.
 *
 *   deno run -A bench/sdk_read_large.ts <trunk URL> <original file> [branch]
 */
import { createHash } from "node:crypto";
import { Trunk } from "../mod.ts";

const [url, file, branch = "library"] = Deno.args;

async function sha256(stream: ReadableStream<Uint8Array>): Promise<[string, number]> {
  const h = createHash("sha256");
  let n = 0;
  for await (const part of stream) {
    h.update(part);
    n += part.byteLength;
  }
  return [h.digest("hex"), n];
}

await using trunk = await Trunk.open({ url, writer: "bench" });
const [got, size] = await sha256(await trunk.readStream("big.bin", { ref: branch }));
const [want] = await sha256((await Deno.open(file)).readable);
if (got !== want) {
  console.error(`read back ${size} bytes with SHA-256 ${got}, the file has ${want}`);
  Deno.exit(1);
}

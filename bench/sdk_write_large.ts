/**
 * One large file written and pushed through the library (no git), for
 * bench/largefile.ts to time and measure (peak RSS of this process alone).
 * `writeFile` streams it: hashed in one pass, then chunked and uploaded by the push.
 *
 *   deno run -A bench/sdk_write_large.ts <trunk URL> <file> [branch]
 */
import { Trunk } from "../mod.ts";

const [url, file, branch = "library"] = Deno.args;
await using trunk = await Trunk.open({ url, create: true, writer: "bench" });
await trunk.writeFile("big.bin", file);
await trunk.commit({ message: "large file through the library", branch });
await trunk.push();

/** A trunk seeded through the library, for tests that damage or read its segments. */
import { Trunk as Library } from "../mod.ts";
import { openStore } from "../src/storage/registry.ts";
import type { Store } from "../src/storage/store.ts";

/**
 * A trunk in memory, one push (one segment) per file, in order, with no background
 * maintenance meanwhile (the segments stay as pushed); its store.
 */
export async function pushedFiles(
  files: [name: string, data: Uint8Array | string][],
): Promise<Store> {
  const url = `memory://pushed-${crypto.randomUUID()}/trunks/app.trunk`;
  const auto = Deno.env.get("TRUNKS_AUTO_MAINTENANCE");
  Deno.env.set("TRUNKS_AUTO_MAINTENANCE", "0");
  try {
    await using t = await Library.open({ url, create: true, writer: "seed" });
    for (const [name, data] of files) {
      t.write(name, data);
      await t.commit({ message: name, branch: "main" });
      await t.push();
    }
  } finally {
    if (auto === undefined) Deno.env.delete("TRUNKS_AUTO_MAINTENANCE");
    else Deno.env.set("TRUNKS_AUTO_MAINTENANCE", auto);
  }
  return await openStore(url);
}

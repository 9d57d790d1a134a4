/** A trunk seeded through the library, for tests that damage or read its segments. */
import { Trunk as Library } from "../mod.ts";
import { openStore } from "../src/storage/registry.ts";
import type { Store } from "../src/storage/store.ts";
import { withProcessEnv } from "../harness/process_env.ts";

/**
 * A trunk in memory, one push (one segment) per file, in order, with no background
 * maintenance meanwhile (the segments stay as pushed); its store.
 */
export async function pushedFiles(
  files: [name: string, data: Uint8Array | string][],
): Promise<Store> {
  const url = `memory://pushed-${crypto.randomUUID()}/trunks/app.trunk`;
  // One segment a push: no step merges them. Through withProcessEnv: another file's test
  // (same process under --parallel) setting the variable meanwhile had a step merge 70
  // segments into 22.
  await withProcessEnv({ TRUNKS_AUTO_MAINTENANCE: "0" }, async () => {
    await using t = await Library.open({ url, create: true, writer: "seed" });
    for (const [name, data] of files) {
      t.write(name, data);
      await t.commit({ message: name, branch: "main" });
      await t.push();
    }
  });
  return await openStore(url);
}

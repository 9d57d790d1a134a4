/** A trunk as a client before format 2 made it, for the tests of format-1 trunks. */
import { assert } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { TRUNK_JSON } from "../../src/trunk/layout.ts";
import { seal } from "../../src/trunk/seal.ts";
import { e2eBackends } from "../e2e/harness.ts";

/**
 * Creates `url`'s trunk.json as a client before format 2 wrote it (on local disk), with
 * `extra` fields (a short `leaseSeconds` makes it prunable in a test); its bytes.
 */
export async function format1Trunk(
  url: string,
  extra: Record<string, unknown> = {},
): Promise<Uint8Array> {
  const local = e2eBackends().find((b) => b.name === "local")!;
  const store = await openStore(url, local.settings);
  try {
    const meta = seal({
      format: 1,
      id: crypto.randomUUID(),
      objectFormat: "sha1",
      created: new Date().toISOString(),
      generator: "trunks 0.1.0",
      ...extra,
    });
    const bytes = new TextEncoder().encode(JSON.stringify(meta, null, 2) + "\n");
    assert(await store.create(TRUNK_JSON, bytes));
    return bytes;
  } finally {
    await store.close();
  }
}

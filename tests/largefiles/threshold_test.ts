/** `TRUNKS_LARGE_BLOB_THRESHOLD` parsing: sizes with binary units; anything else is refused. */
import { assertEquals, assertRejects } from "../assert.ts";
import { DEFAULT_THRESHOLD, largeBlobThreshold } from "../../src/trunk/large_blobs.ts";
import { TrunkError } from "../../src/trunk/errors.ts";

Deno.test("threshold: default, bytes and k/m/g units", () => {
  assertEquals(largeBlobThreshold(undefined), DEFAULT_THRESHOLD);
  assertEquals(DEFAULT_THRESHOLD, 4 * 1024 * 1024);
  assertEquals(largeBlobThreshold(""), DEFAULT_THRESHOLD);
  assertEquals(largeBlobThreshold("1000"), 1000);
  assertEquals(largeBlobThreshold("512k"), 512 * 1024);
  assertEquals(largeBlobThreshold("16M"), 16 * 1024 * 1024);
  assertEquals(largeBlobThreshold("1g"), 1024 ** 3);
  assertEquals(largeBlobThreshold("8MiB"), 8 * 1024 * 1024);
});

Deno.test("threshold: a value that is not a size is refused, naming the variable", async () => {
  for (const bad of ["lots", "-1", "1.5m", "4 tb", "0x10"]) {
    await assertRejects(
      () => Promise.resolve().then(() => largeBlobThreshold(bad)),
      TrunkError,
      "TRUNKS_LARGE_BLOB_THRESHOLD",
    );
  }
});

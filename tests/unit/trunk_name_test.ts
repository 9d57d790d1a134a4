import { badTrunkName, trunkNameOf } from "../../src/storage/trunk_url.ts";
import { storeTimeoutMs } from "../../src/storage/deadline.ts";
import { assertEquals, assertMatch } from "../assert.ts";

Deno.test("trunk names: one path segment, decoded before it is judged", () => {
  assertEquals(trunkNameOf("local:///srv/trunks/app.trunk"), "app");
  assertEquals(trunkNameOf("s3://b/p/trunks/caf%C3%A9.trunk?endpoint=http://x:9000"), "café");
  for (
    const [url, why] of [
      ["local:///srv/trunks/..%2F..%2Fetc.trunk", /contains a path separator/],
      ["local:///srv/trunks/%2E%2E.trunk", /contains '\.\.'/],
      ["s3://b/trunks/a%5Cb.trunk", /path separator/],
      ["s3://b/trunks/a%00b.trunk", /control character or NUL/],
      ["s3://b/trunks/a%zzb.trunk", /broken %-escape/],
      [`s3://b/trunks/${"é".repeat(101)}.trunk`, /longer than 200 bytes/],
      ["s3://b/trunks/x", /does not end in \/<name>\.trunk/],
    ] as const
  ) {
    let msg = "";
    try {
      trunkNameOf(url);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertMatch(msg, why, url);
  }
  assertEquals(badTrunkName("a.b-c_d"), null);
  assertEquals(badTrunkName(".hidden"), "starts or ends with '.' or contains '..'");
});

Deno.test("TRUNKS_STORE_TIMEOUT: seconds, 0 disables, junk is a one-line error", () => {
  assertEquals(storeTimeoutMs(""), 120_000);
  assertEquals(storeTimeoutMs("30"), 30_000);
  assertEquals(storeTimeoutMs("0"), 0);
  for (const bad of ["abc", "-5", "Infinity"]) {
    let msg = "";
    try {
      storeTimeoutMs(bad);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertMatch(msg, /^TRUNKS_STORE_TIMEOUT=".*" is not a number of seconds; set e\.g\./);
  }
});

import { assertEquals } from "../assert.ts";
import { scrubSecrets, serverText } from "../../src/storage/redact.ts";

Deno.test("redact: secrets masked as given and URL-encoded, bearer and session tokens whatever they are", () => {
  assertEquals(scrubSecrets("key s3cr/et+x and s3cr%2Fet%2Bx", ["s3cr/et+x"]), "key *** and ***");
  assertEquals(
    scrubSecrets("authorization: Bearer ya29.unknown-tok", []),
    "authorization: Bearer ***",
  );
  assertEquals(
    scrubSecrets("x-amz-security-token: IQo/b3Jp+Z2lu= and ?X-Amz-Security-Token=IQo%2Fb3", []),
    "x-amz-security-token: *** and ?X-Amz-Security-Token=***",
  );
  // The longer of two overlapping secrets is masked whole; short ones are left alone.
  assertEquals(scrubSecrets("abcdefgh", ["abcd", "abcdefgh", "ab"]), "***");
  assertEquals(scrubSecrets("a b", ["a", undefined, ""]), "a b");
});

Deno.test("redact: server text is one line, masked before it is cut", () => {
  const secret = "SECRET-0123456789";
  const long = `${"x".repeat(190)} ${secret}`;
  const out = serverText(long, [secret]);
  assertEquals(out.includes("SECRET"), false, out);
  assertEquals(serverText("a\n  b\r\n\tc", []), "a b c");
  // A secret holding a newline is masked before lines are joined.
  assertEquals(serverText("pw: two\nlines end", ["two\nlines"]), "pw: *** end");
});

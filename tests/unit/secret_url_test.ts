import { assertEquals } from "../assert.ts";
import { redactUrl, secretsInUrl } from "../../src/storage/registry.ts";

Deno.test("secret URL parts: one rule for refusing and masking; file paths named 'key' are not secrets", () => {
  const u = new URL("s3://b?endpoint=http://h&access-key=AK&X-Amz-Signature=s&sig=x&sslkey=/k");
  assertEquals(secretsInUrl(u), ["access-key", "X-Amz-Signature", "sig"]);
  assertEquals(secretsInUrl(new URL("sftp://u:pw@h/p?key-file=/home/u/.ssh/id")), ["a password"]);
  assertEquals(secretsInUrl(new URL("postgres://u@h/db?sslkey=/k&sslmode=require")), []);
  const red = redactUrl("s3://b?access-key=AK&sslkey=/k");
  assertEquals(red.includes("AK"), false);
  assertEquals(red.includes("sslkey=%2Fk") || red.includes("sslkey=/k"), true);
});

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

Deno.test("secret URL parts: a backend's secret in another spelling, or a connection string as a value, is still one", () => {
  const key = "c2VjcmV0LWFjY291bnQta2V5";
  for (
    const q of [
      `AccountKey=${key}`,
      `account_key=${key}`,
      `SECRET_KEY=${key}`,
      `sessionToken=${key}`,
      `ConnectionString=AccountName%3Da%3BAccountKey%3D${key}`,
      `cs=AccountName%3Da%3BAccountKey%3D${key}`,
      `keyPassphrase=${key}`,
      `api_key=${key}`,
    ]
  ) {
    const url = `azure://acct/cnt/trunks/r.trunk?endpoint=http://h:1/acct&${q}`;
    assertEquals(secretsInUrl(new URL(url)).length, 1, q);
    assertEquals(redactUrl(url).includes(key), false, redactUrl(url));
  }
  // Settings that name files or modes stay readable and allowed.
  const plain = "postgres://u@h/db/trunks/r.trunk?sslkey=/k&sslmode=require&passfile=/p";
  assertEquals(secretsInUrl(new URL(plain)), []);
  assertEquals(redactUrl(plain), plain);
});

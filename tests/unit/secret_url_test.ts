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

Deno.test("secret URL parts: a password with an unescaped / ? or # (the URL then does not parse) is masked", async () => {
  const secret = "SEKRET0123";
  for (
    const url of [
      `postgres://u:pw/${secret}@h/db/trunks/x.trunk`,
      `postgres://u:pw?${secret}@h/db/trunks/x.trunk`,
      `sftp://u:pw#${secret}@h/x/trunks/x.trunk`,
    ]
  ) {
    const shown = redactUrl(url);
    assertEquals(shown.includes(secret), false, shown);
  }
  // Inside a query value: refused as a password, and masked.
  const s3 = `s3://b/p/trunks/x.trunk?endpoint=http://u:pw?${secret}@h:9000`;
  assertEquals(secretsInUrl(new URL(s3)), ["a password in endpoint="]);
  assertEquals(redactUrl(s3).includes(secret), false, redactUrl(s3));
  // Where a backend quotes a value it could not parse.
  const { openStore } = await import("../../src/storage/registry.ts");
  for (
    const [url, settings] of [
      ["s3://b/p", {
        endpoint: `http://u:pw?${secret}@h:9000`,
        "access-key": "a",
        "secret-key": "bbbb",
      }],
      ["gcs://bkt/p", { endpoint: `http://u:pw?${secret}@h:9000` }],
      ["azure://acct/cnt/p", {
        endpoint: `http://u:pw?${secret}@h:9000/acct`,
        "account-key": "a2V5",
      }],
    ] as const
  ) {
    let message = "";
    try {
      await (await openStore(url, settings)).close();
    } catch (e) {
      message = (e as Error).message;
    }
    assertEquals(message.includes(secret), false, message);
  }
  const { backendSpec } = await import("../../src/storage/registry.ts");
  for (
    const [backend, url] of [["postgres", `postgres://u:pw/${secret}@h/db`], [
      "sftp",
      `sftp://u:pw/${secret}@h/x`,
    ]]
  ) {
    let message = "";
    try {
      backendSpec(backend)!.rootUrl({ url });
    } catch (e) {
      message = (e as Error).message;
    }
    assertEquals(message !== "" && !message.includes(secret), true, message);
  }
});

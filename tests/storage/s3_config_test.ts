/** S3-family URL forms, provider endpoints, addressing and credential order (no network). */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { backendSpec, parseStoreUrl } from "../../src/storage/registry.ts";
import { type Env, resolveS3Config } from "../../src/storage/s3_config.ts";
import { StoreError } from "../../src/storage/store.ts";
import { trunkUrl } from "../../src/storage/trunk_url.ts";

const envOf = (vars: Record<string, string>): Env => (k) => vars[k];
const none = envOf({});
const keys = { "access-key": "AK", "secret-key": "SK" };

function resolve(url: string, settings: Record<string, string> = keys, env: Env = none) {
  return resolveS3Config(parseStoreUrl(url), settings, env);
}

function rejects(fn: () => unknown, includes: string): StoreError {
  try {
    fn();
  } catch (e) {
    assert(e instanceof StoreError, `expected StoreError, got ${e}`);
    assertStringIncludes(e.message, includes);
    assert(!e.message.includes("\n"), "one line");
    return e;
  }
  throw new Error(`expected an error including ${includes}`);
}

Deno.test("s3://bucket/path on AWS: virtual-hosted, region from env, no endpoint", () => {
  const c = resolve(
    "s3://my-bucket/some/path/trunks/r.trunk",
    keys,
    envOf({ AWS_REGION: "eu-west-1" }),
  );
  assertEquals(c.bucket, "my-bucket");
  assertEquals(c.prefix, "some/path/trunks/r.trunk");
  assertEquals(c.endpoint, undefined);
  assertEquals(c.region, "eu-west-1");
  assertEquals(c.forcePathStyle, false);
  assertEquals(c.location, "s3://my-bucket/some/path/trunks/r.trunk");
  assertEquals(c.where, "AWS S3 (eu-west-1)");
});

Deno.test("s3 without any region leaves it to the SDK's chain; AWS_DEFAULT_REGION counts", () => {
  assertEquals(resolve("s3://b").region, undefined);
  assertEquals(
    resolve("s3://b", keys, envOf({ AWS_DEFAULT_REGION: "us-west-2" })).region,
    "us-west-2",
  );
  assertEquals(resolve("s3://b").prefix, "");
  assertEquals(resolve("s3://b/").location, "s3://b");
});

Deno.test("s3 custom endpoint: ?endpoint=, setting, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL", () => {
  const fromUrl = resolve("s3://b/p?endpoint=http://127.0.0.1:9000");
  assertEquals(fromUrl.endpoint, "http://127.0.0.1:9000");
  assertEquals(fromUrl.forcePathStyle, true);
  assertEquals(fromUrl.region, "us-east-1");
  assertEquals(fromUrl.location, "s3://b/p?endpoint=http://127.0.0.1:9000");
  const encoded = resolve("s3://b/p?endpoint=http%3A%2F%2F127.0.0.1%3A9000%2F");
  assertEquals(encoded.endpoint, "http://127.0.0.1:9000");

  const setting = resolve("s3://b?endpoint=http://url:1", { ...keys, endpoint: "http://set:2" });
  assertEquals(setting.endpoint, "http://set:2", "settings beat the URL");
  const env = envOf({ AWS_ENDPOINT_URL_S3: "http://s3env:3", AWS_ENDPOINT_URL: "http://env:4" });
  assertEquals(resolve("s3://b", keys, env).endpoint, "http://s3env:3");
  assertEquals(resolve("s3://b?endpoint=http://url:1", keys, env).endpoint, "http://url:1");
  assertEquals(
    resolve("s3://b", keys, envOf({ AWS_ENDPOINT_URL: "http://env:4" })).endpoint,
    "http://env:4",
  );
  assertEquals(resolve("s3://b?endpoint=http://h:1&region=eu-central-1").region, "eu-central-1");
});

Deno.test("path-style can be forced either way", () => {
  assertEquals(resolve("s3://b?path-style=true").forcePathStyle, true);
  assertEquals(
    resolve("s3://b?endpoint=http://h:1", { ...keys, "path-style": "false" }).forcePathStyle,
    false,
  );
  rejects(() => resolve("s3://b?path-style=maybe"), "--path-style must be true or false");
});

Deno.test("r2: account endpoint, region auto, path-style, R2_* credentials", () => {
  const env = envOf({
    R2_ACCOUNT_ID: "0123456789abcdef0123456789abcdef",
    R2_ACCESS_KEY_ID: "r2ak",
    R2_SECRET_ACCESS_KEY: "r2sk",
    AWS_ACCESS_KEY_ID: "awsak",
    AWS_SECRET_ACCESS_KEY: "awssk",
  });
  const c = resolve("r2://bucket/path", {}, env);
  assertEquals(c.endpoint, "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com");
  assertEquals(c.region, "auto");
  assertEquals(c.forcePathStyle, true);
  assertEquals(c.credentials, {
    accessKeyId: "r2ak",
    secretAccessKey: "r2sk",
    sessionToken: undefined,
  });
  assertEquals(c.location, "r2://bucket/path", "the provider's own endpoint is not repeated");
  const flag = resolve("r2://bucket", { ...keys, "account-id": "acct" }, env);
  assertEquals(flag.endpoint, "https://acct.r2.cloudflarestorage.com");
  assertEquals(
    resolve("r2://bucket?account-id=q1", keys).endpoint,
    "https://q1.r2.cloudflarestorage.com",
  );
  rejects(() => resolve("r2://bucket", keys), "--account-id or set R2_ACCOUNT_ID");
  rejects(
    () =>
      resolve(
        "r2://bucket",
        {},
        envOf({ R2_ACCOUNT_ID: "a", AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "y" }),
      ),
    "set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY",
  );
  rejects(() => resolve("r2://bucket", { ...keys, "account-id": "evil.com/x" }), "account id");
});

Deno.test("tigris: t3.storage.dev, virtual-hosted, TIGRIS_* before AWS_*", () => {
  const aws = {
    AWS_ACCESS_KEY_ID: "awsak",
    AWS_SECRET_ACCESS_KEY: "awssk",
    AWS_SESSION_TOKEN: "tok",
  };
  const c = resolve("tigris://bucket", {}, envOf(aws));
  assertEquals(c.endpoint, "https://t3.storage.dev");
  assertEquals(c.region, "auto");
  assertEquals(c.forcePathStyle, false);
  assertEquals(c.credentials?.accessKeyId, "awsak");
  assertEquals(c.credentials?.sessionToken, "tok");
  const t = resolve(
    "tigris://bucket",
    {},
    envOf({ ...aws, TIGRIS_STORAGE_ACCESS_KEY_ID: "tak", TIGRIS_STORAGE_SECRET_ACCESS_KEY: "tsk" }),
  );
  assertEquals(t.credentials, {
    accessKeyId: "tak",
    secretAccessKey: "tsk",
    sessionToken: undefined,
  });
  const fly = resolve("tigris://bucket", { ...keys, endpoint: "https://fly.storage.tigris.dev" });
  assertEquals(fly.endpoint, "https://fly.storage.tigris.dev");
});

Deno.test("b2, wasabi, spaces: regional endpoints and their own variables", () => {
  const b2 = resolve(
    "b2://bk?region=us-west-004",
    {},
    envOf({ B2_APPLICATION_KEY_ID: "k", B2_APPLICATION_KEY: "s" }),
  );
  assertEquals(b2.endpoint, "https://s3.us-west-004.backblazeb2.com");
  assertEquals(b2.region, "us-west-004");
  assertEquals(b2.forcePathStyle, false);
  assertEquals(b2.credentials?.accessKeyId, "k");
  rejects(() => resolve("b2://bk"), "needs a region");
  assertEquals(
    resolve("b2://bk", { ...keys, region: "eu-central-003" }).endpoint,
    "https://s3.eu-central-003.backblazeb2.com",
  );

  const w = resolve(
    "wasabi://bk",
    {},
    envOf({ WASABI_ACCESS_KEY_ID: "k", WASABI_SECRET_ACCESS_KEY: "s" }),
  );
  assertEquals(w.endpoint, "https://s3.us-east-1.wasabisys.com");
  assertEquals(w.region, "us-east-1");
  assertEquals(
    resolve("wasabi://bk?region=eu-central-2").endpoint,
    "https://s3.eu-central-2.wasabisys.com",
  );

  const sp = resolve(
    "spaces://bk",
    { region: "nyc3" },
    envOf({ SPACES_KEY: "k", SPACES_SECRET: "s" }),
  );
  assertEquals(sp.endpoint, "https://nyc3.digitaloceanspaces.com");
  assertEquals(sp.region, "us-east-1", "Spaces signs with us-east-1; the host picks the region");
  assertEquals(sp.forcePathStyle, false);
  rejects(() => resolve("spaces://bk"), "needs a region");
  rejects(() => resolve("spaces://bk?region=nyc3.evil.com"), "region");
});

Deno.test("credential precedence: settings > provider env > SDK default chain, never mixed", () => {
  const env = envOf({
    AWS_ACCESS_KEY_ID: "envak",
    AWS_SECRET_ACCESS_KEY: "envsk",
    AWS_SESSION_TOKEN: "envtok",
  });
  const s = resolve("s3://b", { "access-key": "sak", "secret-key": "ssk" }, env);
  assertEquals(s.credentials, {
    accessKeyId: "sak",
    secretAccessKey: "ssk",
    sessionToken: undefined,
  });
  assertEquals(s.credentialSource, "settings");
  const withToken = resolve("s3://b", { ...keys, "session-token": "st" }, env);
  assertEquals(withToken.credentials?.sessionToken, "st");
  const e = resolve("s3://b", {}, env);
  assertEquals(e.credentials, {
    accessKeyId: "envak",
    secretAccessKey: "envsk",
    sessionToken: "envtok",
  });
  assertEquals(e.credentialSource, "AWS_ACCESS_KEY_ID");
  assertEquals(e.credentialHint, "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY");
  assertStringIncludes(s.credentialHint, "--secret-key");
  const chain = resolve("s3://b", {}, none);
  assertEquals(chain.credentials, undefined);
  assertStringIncludes(chain.credentialSource, "default credential chain");
  rejects(() => resolve("s3://b", { "access-key": "only" }), "--access-key and --secret-key");
  rejects(
    () => resolve("s3://b", {}, envOf({ AWS_ACCESS_KEY_ID: "x" })),
    "but AWS_SECRET_ACCESS_KEY is not",
  );
});

Deno.test("malformed S3 URLs and endpoints give one-line errors without secrets", () => {
  rejects(() => resolve("s3://b?endpoint=ftp://h"), "http:// or https://");
  const e = rejects(
    () => resolve("s3://b?endpoint=http://user:hunter2@h:1"),
    "must not contain credentials",
  );
  assert(!e.message.includes("hunter2"));
  rejects(() => resolve("s3://b/a//c"), "empty");
  rejects(() => resolve("s3://b:9000/x"), "no port");
  rejects(() => resolve("s3://b!x/"), "not a bucket name");
});

Deno.test("rootUrl builds every provider's URL from storage-add flags", () => {
  const url = (scheme: string, f: Record<string, string>) => backendSpec(scheme)!.rootUrl(f);
  assertEquals(url("s3", { bucket: "b" }), "s3://b");
  assertEquals(url("s3", { bucket: "b", prefix: "/team/git/" }), "s3://b/team/git");
  assertEquals(
    url("s3", { bucket: "b", endpoint: "http://127.0.0.1:9000", region: "us-east-1" }),
    "s3://b?endpoint=http://127.0.0.1:9000&region=us-east-1",
  );
  assertEquals(url("r2", { bucket: "b", "account-id": "acct" }), "r2://b?account-id=acct");
  assertEquals(url("tigris", { bucket: "b" }), "tigris://b");
  assertEquals(url("b2", { bucket: "b", region: "us-west-004" }), "b2://b?region=us-west-004");
  assertEquals(url("wasabi", { bucket: "b" }), "wasabi://b");
  assertEquals(url("spaces", { bucket: "b", region: "nyc3" }), "spaces://b?region=nyc3");
  for (const [scheme, flag] of [["s3", "bucket"], ["b2", "region"], ["spaces", "region"]]) {
    let msg = "";
    try {
      url(scheme, scheme === "s3" ? {} : { bucket: "b" });
    } catch (e) {
      msg = (e as Error).message;
    }
    assertStringIncludes(msg, `--${flag}`);
  }
  // Round trip: what rootUrl builds, the opener reads back.
  const root = url("s3", { bucket: "b", prefix: "x y", endpoint: "http://h:9000/" });
  const c = resolve(trunkUrl(root, "r"));
  assertEquals(c.endpoint, "http://h:9000");
  assertEquals(c.prefix, "x y/trunks/r.trunk");
});

Deno.test("S3-family settings mark secrets and offer single-writer", () => {
  for (const scheme of ["s3", "r2", "tigris", "b2", "wasabi", "spaces"]) {
    const spec = backendSpec(scheme)!;
    const by = new Map(spec.settings.map((s) => [s.key, s]));
    assert(by.get("secret-key")?.secret, `${scheme} secret-key`);
    assert(by.get("session-token")?.secret, `${scheme} session-token`);
    assert(by.has("single-writer") && !by.get("single-writer")!.secret, scheme);
    assert(!by.get("endpoint")?.secret, scheme);
  }
  assert(backendSpec("r2")!.settings.some((s) => s.key === "account-id"));
});

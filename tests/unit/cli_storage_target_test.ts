/** `storage add` flags -> root URL, trunk URL, saved settings and secrets. */
import { assert, assertEquals } from "../assert.ts";
import { backendFlags, buildTarget } from "../../src/cli/storage_target.ts";
import { parseCommand } from "../../src/cli/args.ts";
import { UsageError } from "../../src/cli/errors.ts";
import { registerBackend } from "../../src/storage/registry.ts";

/** fn throws an instance of cls whose message contains `includes`. */
function assertThrows(
  fn: () => unknown,
  cls: new (...a: never[]) => Error,
  includes: string,
): void {
  try {
    fn();
  } catch (e) {
    assert(e instanceof cls, `expected ${cls.name}, got ${e}`);
    assert(e.message.includes(includes), `"${e.message}" lacks "${includes}"`);
    return;
  }
  throw new Error(`expected a throw containing "${includes}"`);
}

function withEnv<T>(vars: Record<string, string>, fn: () => T): T {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(vars)) Deno.env.set(k, v);
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(old)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
}

Deno.test("local: absolute path, trunk URL, nothing saved twice", () => {
  const t = buildTarget("primary", "local", { path: "/srv/store" }, "myrepo");
  assertEquals(t.backend, "local");
  assertEquals(t.rootUrl, "local:///srv/store");
  assertEquals(t.url, "local:///srv/store/trunks/myrepo.trunk");
  assertEquals(t.settings, {});
  assertEquals(t.secrets, {});
});

Deno.test("s3: secrets split from settings; URL carries only location and endpoint", () => {
  const t = buildTarget("primary", "s3", {
    bucket: "b",
    prefix: "p/q",
    endpoint: "http://127.0.0.1:9000",
    "access-key": "AKIAEXAMPLE",
    "secret-key": "very-secret-value",
  }, "my repo");
  assertEquals(t.url, "s3://b/p/q/trunks/my-repo.trunk?endpoint=http://127.0.0.1:9000");
  assertEquals(t.secrets, { "access-key": "AKIAEXAMPLE", "secret-key": "very-secret-value" });
  assertEquals(t.settings, {});
  assert(!t.url.includes("very-secret-value"));
});

Deno.test("env TRUNKS_STORAGE_<NAME>_<KEY> fills flags, wins when opening, is never saved", () => {
  withEnv({
    TRUNKS_STORAGE_MY_STORE_SECRET_KEY: "from-env-secret",
    TRUNKS_STORAGE_MY_STORE_BUCKET: "envbucket",
  }, () => {
    const t = buildTarget("my-store", "s3", {
      "access-key": "AK",
      "secret-key": "inline-secret",
    }, "r");
    assertEquals(t.url, "s3://envbucket/trunks/r.trunk");
    assertEquals(t.secrets, { "access-key": "AK", "secret-key": "inline-secret" });
    assertEquals(t.resolved["secret-key"], "from-env-secret");
    const u = buildTarget("my-store", "s3", { "access-key": "AK" }, "r");
    assertEquals(u.secrets, { "access-key": "AK" });
    assertEquals(u.resolved["secret-key"], "from-env-secret");
  });
});

Deno.test("usage errors: unknown backend, missing flag, foreign flag, secrets in URLs", () => {
  assertThrows(() => buildTarget("p", "floppy", {}, "r"), UsageError, 'unknown backend "floppy"');
  assertThrows(
    () => buildTarget("p", "local", {}, "r"),
    UsageError,
    "--backend local needs --path",
  );
  assertThrows(
    () => buildTarget("p", "local", { path: "/x", bucket: "b" }, "r"),
    UsageError,
    "--bucket is not an option of --backend local",
  );
  assertThrows(() => buildTarget("p", undefined, {}, "r"), UsageError, "needs --backend");
  assertThrows(
    () => buildTarget("p", undefined, { url: "s3://b?secret=x" }, "r"),
    UsageError,
    "must not carry credentials",
  );
  assertThrows(
    () => buildTarget("p", "local", { url: "s3://b" }, "r"),
    UsageError,
    "is not a local URL",
  );
});

Deno.test("--url: backend from the scheme; a trunk URL is used as it is", () => {
  const t = buildTarget("p", undefined, { url: "local:///srv/x" }, "r");
  assertEquals([t.backend, t.url], ["local", "local:///srv/x/trunks/r.trunk"]);
  const u = buildTarget("p", undefined, { url: "local:///srv/x/trunks/other.trunk" }, "r");
  assertEquals(u.url, "local:///srv/x/trunks/other.trunk");
});

Deno.test("a backend registered later plugs in; rootUrl may move a password out of --url", () => {
  registerBackend({
    schemes: ["fakedb"],
    description: "test backend",
    settings: [
      { key: "url", help: "connection URL" },
      { key: "host", help: "host" },
      { key: "password", secret: true, help: "password" },
    ],
    rootUrl(f) {
      if (f.url) {
        const u = new URL(f.url);
        if (u.password) {
          f.password = decodeURIComponent(u.password);
          u.password = "";
        }
        return u.toString();
      }
      return `fakedb://${f.host}/db`;
    },
    load: () => Promise.reject(new Error("not opened in this test")),
  });
  assert(backendFlags().includes("host"));
  const t = buildTarget("p", "fakedb", { url: "fakedb://me:pw-secret@h/db" }, "r");
  assertEquals(t.url, "fakedb://me@h/db/trunks/r.trunk");
  assertEquals(t.secrets, { password: "pw-secret" });
  const h = buildTarget("p", "fakedb", { host: "h2", password: "x-secret" }, "r");
  assertEquals(h.url, "fakedb://h2/db/trunks/r.trunk");
  assertEquals(h.secrets, { password: "x-secret" });
});

Deno.test("parseCommand: strict flags, counts positionals, -h prints usage", () => {
  const spec = {
    name: "storage show",
    usage: "usage: trunks storage show NAME",
    options: { json: { type: "boolean" as const } },
    positionals: [1, 1] as [number, number],
  };
  assertEquals(parseCommand(["a", "--json"], spec)?.positionals, ["a"]);
  assertThrows(() => parseCommand(["a", "--jsn"], spec), UsageError, "unknown option --jsn");
  assertThrows(() => parseCommand([], spec), UsageError, "missing argument");
  assertThrows(() => parseCommand(["a", "b"], spec), UsageError, 'unexpected argument "b"');
  const log = console.log;
  const printed: string[] = [];
  console.log = (s: string) => printed.push(s);
  try {
    assertEquals(parseCommand(["-h"], spec), null);
  } finally {
    console.log = log;
  }
  assertEquals(printed, ["usage: trunks storage show NAME"]);
});

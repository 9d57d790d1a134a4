/**
 * `deno task install` leaves launchers that work offline: run after the install with a
 * fresh HOME (a new sandbox) and every download sent to a closed loopback port, each
 * backend still loads (its npm packages come from the cache the install filled and the
 * launcher names), so a storage that is down is reported as down, never as "failed
 * caching npm package".
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const CLOSED = "http://127.0.0.1:9";

Deno.test({
  name:
    "install offline: launchers from deno task install load every backend with a fresh HOME and downloads blocked",
  ignore: Deno.build.os === "windows",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const bin = await Deno.makeTempDir({ prefix: "trunks-install-" });
    const install = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}/scripts/install_local.ts`],
      env: { TRUNKS_INSTALL_DIR: bin },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    assertEquals(install.code, 0, dec.decode(install.stderr));

    const home = await Deno.makeTempDir({ prefix: "trunks-fresh-home-" });
    const offline = {
      HOME: home,
      PATH: `${bin}:/usr/bin:/bin`,
      HTTPS_PROXY: CLOSED,
      HTTP_PROXY: CLOSED,
      ALL_PROXY: CLOSED,
      https_proxy: CLOSED,
      http_proxy: CLOSED,
    };
    const trunks = async (...args: string[]) => {
      const out = await new Deno.Command(`${bin}/trunks`, {
        args,
        env: offline,
        clearEnv: true,
        cwd: home,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
    };
    const version = await trunks("--version");
    assertEquals(version.code, 0, version.text);
    assertMatch(version.text, /^trunks \d/);

    // One URL per lazily loaded backend; every one points at the closed port.
    for (
      const url of [
        `s3://bucket?endpoint=${CLOSED}`,
        `postgres://user@127.0.0.1:9/db`,
        `sftp://user@127.0.0.1:9/srv`,
        `azure://acct/cont?endpoint=${CLOSED}/acct`,
        `gcs://bucket?endpoint=${CLOSED}`,
      ]
    ) {
      const r = await trunks(
        "storage",
        "ping",
        url,
        ...(url.startsWith("s3:") ? ["--access-key", "k", "--secret-key", "s"] : []),
        ...(url.startsWith("azure:") ? ["--account-key", btoa("key")] : []),
      );
      assertEquals(r.code, 1, r.text);
      assert(!/npm|caching|download|registry/i.test(r.text), `${url}: ${r.text}`);
      assertMatch(r.text, /unreachable|cannot reach|ECONNREFUSED/, url);
    }
  },
});

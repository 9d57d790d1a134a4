/**
 * trunk.json replaced by a 200 MB file (planted or damaged): a clone fails at once in one
 * line naming it and saying to run trunks check, having read no more than trunk.json's
 * bound (src/trunk/small_objects.ts), not the whole file: read whole it took the helper's
 * peak memory past 600 MB.
 */
import { assert, assertEquals, assertStringIncludes } from "../assert.ts";
import { TRUNK_JSON } from "../../src/trunk/layout.ts";
import { e2eBackends, makeEnv, run } from "../e2e/harness.ts";
import { opts, setup } from "../gc/lib.ts";

const local = e2eBackends().find((b) => b.name === "local")!;

Deno.test({
  name: "a 200 MB trunk.json: a clone fails in one line without reading it",
  ...opts,
  fn: async () => {
    const s = await setup(local, "hugemeta", 0);
    const path = `${new URL(s.url).pathname}/${TRUNK_JSON}`;
    // Grown in place (sparse): as read, a few hundred bytes of JSON then 200 MB of zeros.
    await Deno.truncate(path, 200e6);
    // A fresh HOME: nothing of the trunk cached, as on a first clone.
    const e = await makeEnv();
    const dir = await Deno.makeTempDir({ prefix: "trunks-clone-" });
    try {
      const started = Date.now();
      const r = await run(e, "git", ["clone", "-q", s.remote, `${dir}/c`]);
      const ms = Date.now() - started;
      assert(r.code !== 0, "the clone failed");
      const lines = r.stderr.split("\n").filter((l) => l.includes(TRUNK_JSON));
      assertEquals(lines.length, 1, r.stderr);
      assertStringIncludes(lines[0], "is larger than any trunk.json (1048576 bytes)");
      assertStringIncludes(lines[0], "run trunks check");
      assert(ms < 30_000, `${ms} ms`);
      // The helper as git runs it, alone under GNU time (git dies without waiting for it):
      // its largest resident set, in KiB.
      const h = await run(e, "/usr/bin/time", [
        "-f",
        "maxrss-kib=%M",
        "git-remote-trunks",
        "origin",
        s.url,
      ], {
        stdin: "capabilities\nlist\n\n",
      });
      assertStringIncludes(h.stderr, "is larger than any trunk.json");
      const rss = Number(/maxrss-kib=(\d+)/.exec(h.stderr)?.[1]) * 1024;
      assert(rss > 0, h.stderr);
      // Read whole, the 200 MB would be held at least once more than the helper's own.
      assert(rss < 200e6, `peak RSS ${Math.round(rss / 1e6)} MB: trunk.json was read whole`);
    } finally {
      await Deno.remove(path).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

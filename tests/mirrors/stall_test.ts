/**
 * A mirror that stops reading in the middle of a large push (its endpoint behind a
 * proxy that stalls): the helper's memory stays bounded (nothing piles up for the
 * stalled mirror), and the push fails within TRUNKS_STORE_TIMEOUT naming the mirror,
 * with no ref moved anywhere.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { e2eBackends, git, makeEnv, newRepo, run, trunksBinDir } from "../e2e/harness.ts";
import { pseudoRandom } from "../largefiles/data.ts";
import { hostPort, TcpProxy } from "./proxy.ts";
import { opts, refsOn, saveStorages, type Storage } from "./harness.ts";

const cloud = e2eBackends().find((b) => b.name === "fake-gcs" || b.name === "azurite");
const MiB = 1 << 20;
/** The helper's bound on this path (docs/large-files.md: about 150-250 MiB). */
const RSS_BOUND_MIB = 256;

/** A git-remote-trunks that records the helper's peak RSS (VmHWM) to `log`. */
async function measuringHelper(log: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "trunks-rss-" });
  await Deno.writeTextFile(
    `${dir}/git-remote-trunks`,
    `#!/bin/sh
exec 3<&0
${JSON.stringify(`${await trunksBinDir()}/git-remote-trunks`)} "$@" <&3 &
pid=$!
hwm=0
while kill -0 $pid 2>/dev/null; do
  v=$(awk '/^VmHWM/{print $2}' /proc/$pid/status 2>/dev/null)
  [ -n "$v" ] && hwm=$v
  sleep 0.05
done
wait $pid
rc=$?
echo $hwm >> ${JSON.stringify(log)}
exit $rc
`,
  );
  await Deno.chmod(`${dir}/git-remote-trunks`, 0o755);
  return dir;
}

Deno.test({
  name: "mirrors: a mirror that stops reading mid-push: bounded helper memory, a clean failure",
  ignore: !cloud,
  ...opts,
  fn: async () => {
    const root = new URL(await cloud!.root());
    const endpoint = root.searchParams.get("endpoint")!;
    const proxy = new TcpProxy(hostPort(endpoint));
    proxy.up();
    try {
      const ep = new URL(endpoint);
      ep.port = String(proxy.port);
      root.searchParams.set("endpoint", ep.toString().replace(/\/$/, ""));
      root.pathname = `${root.pathname.replace(/\/+$/, "")}/trunks/stall.trunk`;
      const dir = await Deno.makeTempDir({ prefix: "trunks-primary-" });
      const storages: Storage[] = [
        {
          name: "primary",
          role: "primary",
          url: `local://${dir}/trunks/stall.trunk`,
          backend: "local",
          secrets: {},
          dir,
        },
        {
          name: "cloud",
          role: "mirror",
          url: root.toString(),
          backend: root.protocol.replace(/:$/, ""),
          secrets: cloud!.settings,
          proxy,
        },
      ];
      const log = `${await Deno.makeTempDir()}/rss.log`;
      const base = await makeEnv(cloud!.env);
      const e = {
        ...base,
        env: {
          ...base.env,
          PATH: `${await measuringHelper(log)}:${base.env.PATH}`,
          TRUNKS_STORE_TIMEOUT: "6",
        },
      };
      const repo = await newRepo(e);
      saveStorages(repo, storages);
      await git(e, repo, "remote", "add", "origin", `trunks::${storages[0].url}`);
      await git(e, repo, "push", "-q", "origin", "main");
      const before = await refsOn(storages[0]);

      await Deno.writeFile(`${repo}/big.bin`, pseudoRandom(40 * MiB, 5));
      await git(e, repo, "add", "big.bin");
      await git(e, repo, "commit", "-qm", "big");
      const t0 = performance.now();
      const pushing = run(e, "git", ["push", "origin", "main"], { cwd: repo });
      // Stall the mirror once chunks are flowing.
      for (let i = 0; i < 600; i++) {
        const n = [...(await Array.fromAsync(Deno.readDir(`${dir}/trunks/stall.trunk`)))]
            .some((d) => d.name === "chunks")
          ? (await Array.fromAsync(Deno.readDir(`${dir}/trunks/stall.trunk/chunks`))).length
          : 0;
        if (n >= 2) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      proxy.stall(true);
      const r = await pushing;
      const seconds = (performance.now() - t0) / 1000;
      assert(r.code !== 0, "the push fails while a mirror does not take the data");
      assertMatch(r.stderr, /cloud/);
      assert(seconds < 90, `failed after ${seconds.toFixed(1)} s`);
      assertEquals(await refsOn(storages[0]), before, "no ref moved on the primary");
      const peaks = (await Deno.readTextFile(log)).trim().split("\n").map(Number);
      const peakMiB = Math.max(...peaks) / 1024;
      assert(peakMiB < RSS_BOUND_MIB, `helper peak RSS ${peakMiB.toFixed(0)} MiB`);
      console.log(
        `push failed after ${seconds.toFixed(1)} s; helper peak ${peakMiB.toFixed(0)} MiB`,
      );
    } finally {
      proxy.down();
    }
  },
});

/**
 * The network going away under a push or fetch, on MinIO behind a TCP proxy the test
 * controls: the proxy dies after a given number of bytes (the server is gone mid-upload
 * or mid-download: connections cut, new ones refused), or accepts and never answers (a
 * black hole). Each time: one clear line within a bound, nothing half-visible in the
 * trunk, and the same command succeeds once the server is back.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { type Backend, git, makeEnv, newRepo, ok, run } from "../e2e/harness.ts";
import { openTrunkStore, reliabilityBackends, snapshot, trunksLine, verifyTrunk } from "./lib.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** A TCP proxy to 127.0.0.1:target that can die mid-stream or swallow connections. */
class Proxy {
  #listener?: Deno.Listener;
  #conns = new Set<Deno.Conn>();
  up = 0;
  down = 0;
  port = 0;

  constructor(
    readonly target: number,
    readonly mode: { cutUpAfter?: number; cutDownAfter?: number; blackhole?: boolean } = {},
  ) {}

  start(port = 0): this {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    this.#accept(this.#listener);
    return this;
  }

  /** The server is gone: open connections cut, new ones refused. */
  stop(): void {
    try {
      this.#listener?.close();
    } catch {
      // already closed
    }
    this.#listener = undefined;
    for (const c of this.#conns) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    this.#conns.clear();
  }

  async #accept(l: Deno.Listener) {
    try {
      for await (const c of l) {
        this.#conns.add(c);
        if (this.mode.blackhole) continue;
        this.#serve(c).catch(() => {});
      }
    } catch {
      // listener closed
    }
  }

  async #serve(client: Deno.Conn) {
    const server = await Deno.connect({ hostname: "127.0.0.1", port: this.target });
    this.#conns.add(server);
    const pump = async (from: Deno.Conn, to: Deno.Conn, dir: "up" | "down") => {
      const buf = new Uint8Array(16 * 1024);
      try {
        for (;;) {
          const n = await from.read(buf);
          if (n === null) break;
          this[dir] += n;
          const limit = dir === "up" ? this.mode.cutUpAfter : this.mode.cutDownAfter;
          if (limit !== undefined && this[dir] > limit) return this.stop();
          let at = 0;
          while (at < n) at += await to.write(buf.subarray(at, n));
        }
      } catch {
        // either side closed
      }
      try {
        await to.closeWrite();
      } catch {
        // already closed
      }
    };
    await Promise.all([pump(client, server, "up"), pump(server, client, "down")]);
  }
}

/** The trunk URL of `b` with its endpoint moved to the proxy's port. */
function viaPort(url: string, port: number): string {
  const u = new URL(url);
  const ep = new URL(u.searchParams.get("endpoint")!);
  ep.port = String(port);
  u.searchParams.set("endpoint", ep.toString().replace(/\/$/, ""));
  return u.toString();
}

async function randomFile(path: string, bytes: number) {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  await Deno.writeFile(path, data);
}

/** TRUNKS_TEST_SHOW=1 prints the lines users would see, for reviewing their wording. */
function show(stderr: string) {
  if (Deno.env.get("TRUNKS_TEST_SHOW")) console.log(trunksLine(stderr));
}

const minio: Backend | undefined = reliabilityBackends().find((b) => b.name === "minio");

if (minio) {
  const direct = async () => {
    const root = new URL(await minio.root());
    root.pathname = `${root.pathname}/trunks/net.trunk`;
    return root.toString();
  };
  const minioPort = () =>
    Number(new URL(new URL(Deno.env.get("TRUNKS_TEST_MINIO_ENDPOINT")!).toString()).port);

  Deno.test({
    name: "network minio: server gone mid-push: clean failure, nothing half-visible, retry works",
    ...opts,
    fn: async () => {
      const e = await makeEnv(minio.env);
      const url = await direct();
      const a = await newRepo(e, "a");
      await ok(e, "git", ["push", "-q", `trunks::${url}`, "main"], { cwd: a });
      const old = (await git(e, a, "rev-parse", "main")).trim();
      await randomFile(`${a}/big.bin`, 3 * 1024 * 1024);
      await git(e, a, "add", "big.bin");
      await git(e, a, "commit", "-qm", "big");
      const store = await openTrunkStore(minio, url);
      try {
        const before = await snapshot(store);
        const proxy = new Proxy(minioPort(), { cutUpAfter: 512 * 1024 }).start();
        const viaProxy = `trunks::${viaPort(url, proxy.port)}`;
        const t0 = Date.now();
        const r = await run(e, "git", ["push", viaProxy, "main"], {
          cwd: a,
          env: { TRUNKS_STORE_TIMEOUT: "10" },
        });
        const took = Date.now() - t0;
        assert(r.code !== 0, "the push must fail");
        show(r.stderr);
        assert(proxy.up > 512 * 1024, "the cut happened mid-upload");
        assert(took < 90_000, `failed after ${took}ms`);
        assertMatch(
          trunksLine(r.stderr),
          /127\.0\.0\.1:\d+.*(reach|refused|connect|answer|network)/i,
          r.stderr,
        );
        // Nothing half-visible: the ref at its old value, and no new complete segment. Pack
        // and index upload in parallel, so the small index may be stored while the pack is
        // cut: a half segment readers skip ("complete when both are listed") and clean
        // removes as a stray after the grace.
        const after = (await snapshot(store)).filter((k) => !before.includes(k));
        const newKeys = after.map((k) => k.split(" ")[0]);
        for (const k of newKeys) assertMatch(k, /^segments\/[0-9a-f]{64}\.(pack|idx)$/, k);
        const ids = newKeys.map((k) => k.slice(9, 73));
        assertEquals(ids.length, new Set(ids).size, `a complete segment was stored: ${newKeys}`);
        assertEquals((await verifyTrunk(store)).refs.get("refs/heads/main"), old);

        // The server is back (same address): the same push succeeds.
        const back = new Proxy(minioPort()).start(proxy.port);
        try {
          await ok(e, "git", ["push", "-q", viaProxy, "main"], { cwd: a });
        } finally {
          back.stop();
        }
        const next = (await git(e, a, "rev-parse", "main")).trim();
        assertEquals((await verifyTrunk(store)).refs.get("refs/heads/main"), next);
        const c = `${await Deno.makeTempDir()}/c`;
        await ok(e, "git", ["clone", "-q", `trunks::${url}`, c]);
        await git(e, c, "fsck", "--strict", "--no-dangling");
      } finally {
        await store.close();
      }
    },
  });

  Deno.test({
    name: "network minio: server gone mid-fetch: nothing half-installed, retry works",
    ...opts,
    fn: async () => {
      const e = await makeEnv(minio.env);
      const url = await direct();
      const a = await newRepo(e, "a");
      await randomFile(`${a}/big.bin`, 3 * 1024 * 1024);
      await git(e, a, "add", "big.bin");
      await git(e, a, "commit", "-qm", "big");
      await ok(e, "git", ["push", "-q", `trunks::${url}`, "main"], { cwd: a });
      const proxy = new Proxy(minioPort(), { cutDownAfter: 1024 * 1024 }).start();
      const viaProxy = `trunks::${viaPort(url, proxy.port)}`;
      const b = `${await Deno.makeTempDir()}/b`;
      await git(e, await Deno.makeTempDir(), "init", "-q", b);
      const r = await run(e, "git", ["fetch", viaProxy, "main:refs/remotes/origin/main"], {
        cwd: b,
        env: { TRUNKS_STORE_TIMEOUT: "10" },
      });
      assert(r.code !== 0, "the fetch must fail");
      show(r.stderr);
      assert(proxy.down > 1024 * 1024, "the cut happened mid-download");
      assertMatch(trunksLine(r.stderr), /\S/, r.stderr);
      const packs = [...Deno.readDirSync(`${b}/.git/objects/pack`)].map((f) => f.name);
      assertEquals(packs.filter((n) => !n.startsWith("tmp_")), [], "nothing installed");
      await git(e, b, "fsck", "--strict", "--no-dangling");
      const back = new Proxy(minioPort()).start(proxy.port);
      try {
        await ok(e, "git", ["fetch", "-q", viaProxy, "main:refs/remotes/origin/main"], { cwd: b });
      } finally {
        back.stop();
      }
      assertEquals(
        await git(e, b, "rev-parse", "origin/main"),
        await git(e, a, "rev-parse", "main"),
      );
      await git(e, b, "fsck", "--strict", "--no-dangling");
    },
  });

  Deno.test({
    name: "network minio: an endpoint that never answers fails within TRUNKS_STORE_TIMEOUT",
    ...opts,
    fn: async () => {
      const e = await makeEnv(minio.env);
      const url = await direct();
      const hole = new Proxy(minioPort(), { blackhole: true }).start();
      try {
        const a = await newRepo(e, "a");
        const t0 = Date.now();
        const r = await run(e, "git", ["push", `trunks::${viaPort(url, hole.port)}`, "main"], {
          cwd: a,
          env: { TRUNKS_STORE_TIMEOUT: "2" },
        });
        const took = Date.now() - t0;
        assert(r.code !== 0);
        show(r.stderr);
        // Far below what one unanswered request costs without the bound (120s per try).
        assert(took < 45_000, `took ${took}ms with a 2s bound`);
        assertMatch(
          trunksLine(r.stderr),
          /s3:\/\/.* did not answer \(get trunk\.json\) within 2s; check the network and the endpoint, or raise TRUNKS_STORE_TIMEOUT/,
        );
        const store = await openTrunkStore(minio, url);
        assertEquals(await snapshot(store), [], "nothing written");
        await store.close();
      } finally {
        hole.stop();
      }
    },
  });

  Deno.test({
    name: "network minio: nothing listening: a clear line, quickly",
    ...opts,
    fn: async () => {
      const e = await makeEnv(minio.env);
      const url = await direct();
      const gone = new Proxy(minioPort()).start();
      const port = gone.port;
      gone.stop();
      const a = await newRepo(e, "a");
      const t0 = Date.now();
      const r = await run(e, "git", ["ls-remote", `trunks::${viaPort(url, port)}`], { cwd: a });
      const took = Date.now() - t0;
      assert(r.code !== 0);
      show(r.stderr);
      assert(took < 60_000, `took ${took}ms`);
      assertMatch(trunksLine(r.stderr), new RegExp(`127\\.0\\.0\\.1:${port}`), r.stderr);
    },
  });
}

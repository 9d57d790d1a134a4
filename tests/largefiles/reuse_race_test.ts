/**
 * A push that reuses chunks and manifests nobody references any more, while cleans run
 * back to back with a short grace period: each round, a large file is pushed on a
 * branch that is then deleted (its chunks and manifest become garbage older than the
 * grace), and pushes that reuse them (an edited copy on main, the same file on a new
 * branch) race the looping cleans. Nothing an acknowledged push needs may go: at the
 * end a fresh clone has every file byte for byte, fsck-clean, and `trunks check` is
 * clean. Local disk and MinIO.
 */
import { assert, assertEquals } from "../assert.ts";
import { e2eBackends, git, makeEnv, newRepo, run, trunkUrl } from "../e2e/harness.ts";
import { pseudoRandom } from "./data.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
/** Three rounds in CI; TRUNKS_TEST_REUSE_ROUNDS=50 for a long soak. */
const ROUNDS = Number(Deno.env.get("TRUNKS_TEST_REUSE_ROUNDS") ?? 3);
/** Longer than the slowest push here (the lease rule: grace >= two leases >= a push). */
const GRACE_S = 8;
/** Each reusing push pauses this long after listing, so whole cleans run meanwhile. */
const HOLD_MS = 4000;

for (const backend of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))) {
  Deno.test({
    name:
      `largefiles ${backend.name}: pushes reusing garbage chunks race looping cleans; nothing is lost`,
    ...opts,
    fn: async () => {
      // The lease shrunk with the grace (grace = two leases, DESIGN.md "Lease and grace").
      const e = await makeEnv({
        ...backend.env,
        TRUNKS_LARGE_BLOB_THRESHOLD: "256k",
        TRUNKS_LEASE_SECONDS: String(GRACE_S / 2),
      });
      const url = await trunkUrl(backend, "reuse");
      const a = await newRepo(e, "a");
      await git(e, a, "remote", "add", "origin", `trunks::${url}`);
      await git(e, a, "push", "-q", "origin", "main");
      const expected = new Map<string, Uint8Array>(); // "<branch>:<path>" -> bytes
      let cleans = 0;
      let deletedChunks = 0;
      let waits = 0;

      const push = async (args: string[], env: Record<string, string> = {}) => {
        // A push slower than the grace period may be refused cleanly; it must then
        // succeed when tried again. A refused push has moved nothing.
        for (let attempt = 0;; attempt++) {
          const r = await run(e, "git", ["push", "-q", "--progress", "origin", ...args], {
            cwd: a,
            env,
          });
          if (/waiting for a clean/.test(r.stderr)) waits++;
          if (r.code === 0) return;
          assert(attempt < 3 && /cleaned meanwhile/.test(r.stderr), r.stderr);
        }
      };

      // Garbage: a large file pushed on a branch that is then deleted.
      const garbage: { data: Uint8Array; at: number }[] = [];
      const makeGarbage = async (k: number) => {
        const data = pseudoRandom((2 << 20) + k * 4099, 100 + k);
        await git(e, a, "checkout", "-q", "-b", `tmp${k}`, "main");
        await Deno.writeFile(`${a}/data.bin`, data);
        await git(e, a, "add", "data.bin");
        await git(e, a, "commit", "-qm", `tmp ${k}`);
        await push([`tmp${k}`]);
        await push([`:tmp${k}`]);
        await git(e, a, "checkout", "-q", "main");
        garbage[k] = { data, at: Date.now() };
      };
      await makeGarbage(0);

      for (let round = 0; round < ROUNDS; round++) {
        // Next round's garbage, young while this round's cleans run.
        if (round + 1 < ROUNDS) await makeGarbage(round + 1);
        const { data, at } = garbage[round];
        const age = at + GRACE_S * 1000 + 300 - Date.now();
        if (age > 0) await new Promise((r) => setTimeout(r, age));

        // Two pushes reuse this garbage: an edited copy on main (chunks) and the same
        // blob on a branch of its own (its manifest). The branch gets a commit of its
        // own: re-pushing exactly the deleted branch's objects would recreate its
        // segment under the same id, a segment-level case outside this test.
        const edited = data.slice();
        edited.set(pseudoRandom(100, 7 + round), edited.byteLength - 100);
        await Deno.writeFile(`${a}/data.bin`, edited);
        await git(e, a, "add", "data.bin");
        await git(e, a, "commit", "-qm", `main ${round}`);
        expected.set(`main:data.bin`, edited);
        await git(e, a, "branch", `keep${round}`, `tmp${round}`);
        await git(e, a, "checkout", "-q", `keep${round}`);
        await Deno.writeTextFile(`${a}/keep.txt`, `${round}\n`);
        await git(e, a, "add", "keep.txt");
        await git(e, a, "commit", "-qm", `keep ${round}`);
        await git(e, a, "checkout", "-q", "main");
        expected.set(`keep${round}:data.bin`, data);

        // Both pushes list the store, then hold while whole cleans run back to back.
        let stop = false;
        const signals = await Deno.makeTempDir();
        const hold = (name: string) => ({
          TRUNKS_FAULT_DELAY: `push:before-claim:${HOLD_MS}`,
          TRUNKS_FAULT_SIGNAL: `${signals}/${name}`,
        });
        const pushes = Promise.all([
          push(["main"], hold("main")),
          push([`keep${round}`], hold("keep")),
        ]);
        const cleaner = (async () => {
          // Both pushes have listed the store and uploaded what they did not find.
          while (!stop && [...Deno.readDirSync(signals)].length < 2) {
            await new Promise((r) => setTimeout(r, 50));
          }
          while (!stop) {
            const r = await run(e, "trunks", [
              "check",
              url,
              "--clean",
              "--grace",
              `${GRACE_S}s`,
              "--json",
            ]);
            if (r.code !== 0) return `round ${round} clean: ${r.stderr}${r.stdout}`;
            cleans++;
            const report = JSON.parse(r.stdout).clean;
            deletedChunks += report?.deleted?.chunks ?? 0;
          }
          return "";
        })();
        await pushes.finally(() => stop = true);
        const failed = await cleaner;
        assertEquals(failed, "");
      }
      assert(cleans >= ROUNDS, `${cleans} cleans`);
      assert(deletedChunks > 0, "the cleans deleted garbage chunks meanwhile");

      const check = await run(e, "trunks", ["check", url]);
      assertEquals(check.code, 0, check.stdout + check.stderr);
      const b = `${await Deno.makeTempDir()}/b`;
      const cl = await run(e, "git", ["clone", "-q", `trunks::${url}`, b]);
      assertEquals(cl.code, 0, cl.stderr);
      await git(e, b, "fsck", "--strict", "--no-dangling");
      for (const [where, bytes] of expected) {
        const [branch, path] = where.split(":");
        const got = (await new Deno.Command("git", {
          args: ["cat-file", "blob", `origin/${branch}:${path}`],
          cwd: b,
          env: e.env,
          clearEnv: true,
          stdout: "piped",
        }).output()).stdout;
        assertEquals(got.byteLength, bytes.byteLength, where);
        assert(got.every((v, i) => v === bytes[i]), `${where} differs`);
      }
      console.log(`${cleans} cleans, ${deletedChunks} chunks deleted, ${waits} waits`);
    },
  });
}

/**
 * Maintenance on every real backend (local disk has maintenance_test.ts): lease 1 s, a
 * step killed at every fault point, pushes from two repositories racing steps; every
 * acknowledged push stays in a fresh clone and `trunks check` finds nothing.
 */
import { assertEquals } from "../assert.ts";
import { MAINTENANCE_FAULT_POINTS } from "../../src/trunk/faults.ts";
import { commitFile, e2eBackends, git, ok, run } from "../e2e/harness.ts";
import { check, cloneMatches, opts, type Setup, setup, trunkRefs } from "../gc/lib.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function valid(s: Setup, what: string): Promise<void> {
  const { report } = await check(s);
  assertEquals(report.problems, [], `${what}: trunks check found problems`);
  await cloneMatches(s, await trunkRefs(s));
}

for (const backend of e2eBackends()) {
  if (backend.name === "local") continue;
  Deno.test({
    name: `${backend.name}: maintenance killed at every step, raced by pushes`,
    ...opts,
    fn: async (t) => {
      const coarse = backend.name === "sftp" || backend.name === "azurite";
      const s = await setup(backend, "maint", 1);
      for (let i = 0; i < 10; i++) {
        await commitFile(s.e, s.a, `f${i}.txt`, `${i}\n`);
        await git(s.e, s.a, "push", "-q", "origin", "main");
      }
      await sleep(2100);
      for (const point of Object.keys(MAINTENANCE_FAULT_POINTS)) {
        // Two leases since the merge that replaced them, by the store's clock. One-second
        // stamps (SFTP, Azure) make that clock read up to a second behind (its probe key's
        // stamp is cut to the second): a second more, or the step deletes nothing and is
        // not killed (a fresh-clone CI run on SFTP).
        if (point === "maint:between-deletes") await sleep(coarse ? 3100 : 2100);
        await t.step(point, async () => {
          const r = await run(s.e, "trunks", ["maintenance", s.url], {
            env: { TRUNKS_FAULT: point },
          });
          assertEquals(r.code, 137, `${point}: not killed:\n${r.stderr}`);
          await valid(s, point);
        });
      }
      await t.step("a full run leaves main's tail live, the rest archived", async () => {
        // Judged by the store's clock too (prune.ts): one-second stamps (Azure, SFTP) must
        // still let what is two leases old go.
        await sleep(2100);
        await ok(s.e, "trunks", ["maintenance", s.url]);
        const log = JSON.parse(
          await ok(s.e, "trunks", ["log", "main", "--trunk", s.url, "--json"]),
        ) as { seq: number; archived: boolean }[];
        assertEquals(log.map((x) => x.seq), [...Array(11).keys()].map((i) => i + 1));
        assertEquals(log.map((x) => x.archived), [...Array(11).keys()].map((i) => i < 10));
        await valid(s, "after a full run");
      });
      await t.step("pushes from two repositories race maintenance steps", async () => {
        const b = `${await Deno.makeTempDir()}/b`;
        await ok(s.e, "git", ["clone", "-q", s.remote, b]);
        const acked: { dir: string; branch: string; oid: string }[] = [];
        const pusher = async (dir: string, branch: string) => {
          for (let i = 0; i < 8; i++) {
            await commitFile(s.e, dir, `${branch}-${i}.txt`, `${i}\n`);
            const r = await run(s.e, "git", ["push", "-q", "origin", `HEAD:refs/heads/${branch}`], {
              cwd: dir,
            });
            if (r.code === 0) {
              acked.push({ dir, branch, oid: (await git(s.e, dir, "rev-parse", "HEAD")).trim() });
            }
          }
        };
        const maint = async () => {
          for (let i = 0; i < 6; i++) {
            await sleep(700);
            const r = await run(s.e, "trunks", ["maintenance", s.url]);
            assertEquals(r.code, 0, r.stderr);
          }
        };
        await Promise.all([pusher(s.a, "x"), pusher(b, "y"), maint()]);
        const refs = await trunkRefs(s);
        for (const branch of ["x", "y"]) {
          const last = acked.filter((x) => x.branch === branch).at(-1)!;
          assertEquals(
            refs.includes(`${last.oid} refs/heads/${branch}`),
            true,
            `${branch}: last acknowledged push ${last.oid} not the ref: ${refs.join("\n")}`,
          );
        }
        await valid(s, "after the race");
      });
    },
  });
}

/**
 * Several Trunks in one process (a server, an agent framework): instances of one trunk
 * pushing to one branch and to their own at once, beside a trunk of the same storage root,
 * with auto maintenance running. A lost race is a ConflictError; every push acknowledged is
 * in the trunk, as a third Trunk reads it; no trunk sees another's files.
 */
import { assert, assertEquals } from "../assert.ts";
import { ConflictError, Trunk } from "../../mod.ts";
import { e2eBackends, trunkUrl } from "../e2e/harness.ts";
import { withProcessEnv } from "../../harness/process_env.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const WRITERS = 3;
const ROUNDS = 4;

for (const backend of e2eBackends().filter((b) => b.name === "local" || b.name === "minio")) {
  Deno.test({
    name: `sdk ${backend.name}: instances of trunks in one process push at once, none lost`,
    ...opts,
    fn: () =>
      withProcessEnv({ TRUNKS_AUTO_MAINTENANCE: "1" }, async () => {
        const settings = backend.settings;
        const app = await trunkUrl(backend, "app");
        // Another trunk of the same root.
        const other = app.replace("/trunks/app.trunk", "/trunks/other.trunk");
        for (const url of [app, other]) {
          await using t = await Trunk.open({ url, settings, create: true, writer: "seed" });
          t.write("README.md", `${url === app ? "app" : "other"}\n`);
          await t.commit({ message: "seed", branch: "main" });
          await t.push();
        }
        const acked: { url: string; branch: string; oid: string; path: string }[] = [];
        let conflicts = 0;
        // Every writer's first commit is made before any pushes it: app's main is raced.
        let waiting = WRITERS + 1;
        let go = () => {};
        const started = new Promise<void>((r) => go = r);
        const writer = async (url: string, w: number) => {
          await using t = await Trunk.open({ url, settings, writer: `w${w}` });
          for (let r = 0; r < ROUNDS; r++) {
            const path = `w${w}/r${r}.txt`;
            t.write(path, `${w} ${r}\n`);
            await t.commit({ message: path, branch: r % 2 ? `w${w}` : "main" });
            if (r === 0 && --waiting === 0) go();
            await started;
            for (;;) {
              try {
                for (const p of await t.push()) acked.push({ url, ...p, path });
                break;
              } catch (e) {
                if (!(e instanceof ConflictError)) throw e;
                conflicts++;
                await t.pull();
              }
            }
            // A read beside the others' pushes.
            assertEquals(await t.readText(path, { ref: r % 2 ? `w${w}` : "main" }), `${w} ${r}\n`);
          }
        };
        await Promise.all([
          ...Array.from({ length: WRITERS }, (_, w) => writer(app, w)),
          writer(other, WRITERS),
        ]);
        assertEquals(acked.length, (WRITERS + 1) * ROUNDS);
        assert(conflicts > 0, "the writers of app's main raced");
        for (const url of [app, other]) {
          await using fresh = await Trunk.open({ url, settings });
          const mine = acked.filter((a) => a.url === url);
          for (const a of mine) {
            const log = await fresh.log({ ref: a.branch, limit: 1000 });
            assert(log.some((c) => c.oid === a.oid), `${a.branch} ${a.oid} was acknowledged`);
            assert(await fresh.exists(a.path, { ref: a.branch }), a.path);
          }
          const files = (await fresh.list("", { ref: "main", recursive: true })).map((e) => e.path);
          const writers = new Set(
            files.filter((f) => f !== "README.md").map((f) => f.split("/")[0]),
          );
          assertEquals(
            [...writers].sort(),
            url === app ? ["w0", "w1", "w2"] : [`w${WRITERS}`],
          );
          assertEquals(await fresh.readText("README.md"), `${url === app ? "app" : "other"}\n`);
        }
      }),
  });
}

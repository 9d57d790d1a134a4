/**
 * A maintenance step run with TRUNKS_AUTO_MAINTENANCE=wait that starts and then fails is
 * told as such in one line (src/trunk/maintenance.ts `autoStepFailed`), not as a step never
 * started; the push stays acknowledged, through git and through the library.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { Trunk } from "../../mod.ts";
import { openStore } from "../../src/storage/registry.ts";
import { SNAPSHOT_PREFIX } from "../../src/trunk/layout.ts";
import { SNAPSHOT_AFTER } from "../../src/trunk/maintenance.ts";
import { withProcessEnv } from "../../harness/process_env.ts";
import { e2eBackends, git, makeEnv, newRepo, ok, run, trunkUrl } from "../e2e/harness.ts";
import { PassThroughStore } from "../pass_through_store.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const local = e2eBackends().find((b) => b.name === "local")!;

/** The line of a step that started and failed, naming why. */
const STARTED_FAILED = /^trunks: maintenance started but failed: \S.*\(the push is done; .*\)$/;

Deno.test({
  name: "local: git push with =wait whose step fails says it started and failed; the push stands",
  ...opts,
  fn: async () => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, "failing-step");
    const a = await newRepo(e, "a");
    await git(e, a, "remote", "add", "origin", `trunks::${url}`);
    await git(e, a, "push", "-q", "origin", "main");
    // A file where the snapshot directory goes: the step's snapshot cannot be created.
    const dir = new URL(url).pathname;
    await Deno.writeTextFile(`${dir}/${SNAPSHOT_PREFIX.replace(/\/$/, "")}`, "in the way\n");
    for (let i = 0; i < SNAPSHOT_AFTER; i++) await git(e, a, "branch", `b${i}`);
    const pushed = await run(e, "git", ["push", "-q", "origin", "--all"], {
      cwd: a,
      env: { TRUNKS_AUTO_MAINTENANCE: "wait" },
    });
    assertEquals(pushed.code, 0, pushed.stderr);
    const lines = pushed.stderr.split("\n").filter((l) => l.startsWith("trunks:"));
    assertEquals(lines.length, 1, pushed.stderr);
    assertMatch(lines[0], STARTED_FAILED);
    // Acknowledged: every branch is there for the next reader.
    const listed = await ok(e, "git", ["ls-remote", "--heads", `trunks::${url}`]);
    assertEquals(listed.trim().split("\n").length, SNAPSHOT_AFTER + 1, listed);
  },
});

/** A memory store whose snapshot creates fail, as a store refusing the step's write. */
class NoSnapshots extends PassThroughStore {
  override create(key: string, data: Uint8Array): Promise<boolean> {
    if (key.startsWith(SNAPSHOT_PREFIX)) return Promise.reject(new Error("snapshots refused"));
    return this.inner.create(key, data);
  }
}

Deno.test("sdk: a =wait step that fails is told as started and failed; push() returns", async () => {
  await withProcessEnv({ TRUNKS_AUTO_MAINTENANCE: "wait" }, async () => {
    const mem = await openStore(`memory://fail-${crypto.randomUUID()}/trunks/a.trunk`);
    const said: string[] = [];
    const real = console.error;
    console.error = (...args: unknown[]) => said.push(args.join(" "));
    try {
      const t = await Trunk.open({ store: new NoSnapshots(mem), create: true, writer: "lib" });
      for (let i = 0; i < SNAPSHOT_AFTER; i++) {
        t.write("README.md", `hello ${i}\n`);
        await t.commit({ message: "c", branch: `b${i}` });
      }
      assertEquals((await t.push()).length, SNAPSHOT_AFTER);
      await t.close();
    } finally {
      console.error = real;
    }
    assertEquals(said.length, 1, said.join("\n"));
    assertMatch(said[0], STARTED_FAILED);
    assert(said[0].includes("snapshots refused"), said[0]);
    await mem.close();
  });
});

/**
 * Automatic maintenance after library pushes, by the helper's rule (src/trunk/maintenance.ts):
 * a step runs in the library's process without holding back push(), `close()` waits for it,
 * TRUNKS_AUTO_MAINTENANCE=wait/0 are obeyed, and a short-lived process that dies in the
 * middle of a step (SIGKILL, or Deno.exit right after its push) leaves a valid trunk
 * that the next step tidies: trunks check clean, a fresh git clone fsck --strict clean.
 */
import { assert, assertEquals } from "../assert.ts";
import { Trunk } from "../../mod.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { REFLOG_PREFIX, SNAPSHOT_PREFIX } from "../../src/trunk/layout.ts";
import { parseRefEntryKey } from "../keys.ts";
import { runStep, SNAPSHOT_AFTER } from "../../src/trunk/maintenance.ts";
import { Trunk as CoreTrunk } from "../../src/trunk/trunk.ts";
import { readRefState } from "../../src/trunk/refs.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { e2eBackends, git, makeEnv, ok, REPO_ROOT, run, trunkUrl } from "../e2e/harness.ts";
import { withProcessEnv } from "../../harness/process_env.ts";
import { PassThroughStore } from "../pass_through_store.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** A memory store whose snapshot creates wait for `release()`: a step caught mid-way. */
class GatedStore extends PassThroughStore {
  #open!: () => void;
  #gate = new Promise<void>((r) => this.#open = r);
  #reached!: () => void;
  /** Resolves when a snapshot create is waiting at the gate. */
  reached = new Promise<void>((r) => this.#reached = r);
  release(): void {
    this.#open();
  }
  override async create(key: string, data: Uint8Array): Promise<boolean> {
    if (key.startsWith(SNAPSHOT_PREFIX)) {
      this.#reached();
      await this.#gate;
    }
    return await this.inner.create(key, data);
  }
}

function withEnv<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  return withProcessEnv({ TRUNKS_AUTO_MAINTENANCE: value }, fn);
}

/** One push of SNAPSHOT_AFTER new branches: due for a step. */
async function pushManyBranches(t: Trunk): Promise<void> {
  for (let i = 0; i < SNAPSHOT_AFTER; i++) {
    t.write("README.md", `hello ${i}\n`);
    await t.commit({ message: "c", branch: `b${i}` });
  }
  assertEquals((await t.push()).length, SNAPSHOT_AFTER);
}

const snapshots = async (s: Store) => (await s.list(SNAPSHOT_PREFIX)).length;

Deno.test("sdk: a push past the threshold runs a step in the background; close() waits", async () => {
  await withEnv(undefined, async () => {
    const mem = await openStore(`memory://auto-${crypto.randomUUID()}/trunks/a.trunk`);
    const gated = new GatedStore(mem);
    const t = await Trunk.open({ store: gated, create: true, writer: "lib" });
    await pushManyBranches(t); // returned although the step cannot finish yet
    await gated.reached;
    assertEquals(await snapshots(mem), 0, "the step is still held at the gate");
    let closed = false;
    const closing = t.close().then(() => closed = true);
    await new Promise((r) => setTimeout(r, 50));
    assert(!closed, "close() waits for the running step");
    gated.release();
    await closing;
    assertEquals(await snapshots(mem), 1, "the step wrote its snapshot before close() returned");
    await mem.close();
  });
});

Deno.test("sdk: TRUNKS_AUTO_MAINTENANCE=wait steps before push() returns; =0 and bad values none", async () => {
  for (const [value, want] of [["wait", 1], ["0", 0], ["sometimes", 0]] as const) {
    await withEnv(value, async () => {
      const mem = await openStore(`memory://auto-${crypto.randomUUID()}/trunks/a.trunk`);
      const t = await Trunk.open({ store: mem, create: true, writer: "lib" });
      await pushManyBranches(t); // a bad value is named on stderr; the push stands
      assertEquals(await snapshots(mem), want, `TRUNKS_AUTO_MAINTENANCE=${value}`);
      await t.close();
      assertEquals(await snapshots(mem), want, `TRUNKS_AUTO_MAINTENANCE=${value}, closed`);
      await mem.close();
    });
  }
});

Deno.test("maintenance without git: snapshot and pruning done, the merge left for later", async () => {
  const mem = await openStore(`memory://auto-${crypto.randomUUID()}/trunks/a.trunk`);
  const core = await CoreTrunk.openOrCreate(mem, new MemoryCache(), "w", "sha1", {
    leaseSeconds: 0,
  });
  await withEnv("0", async () => {
    await using t = await Trunk.open({ store: mem, writer: "lib" });
    for (let i = 0; i < 12; i++) {
      t.write("n.txt", `${i}\n`);
      await t.commit({ message: "c", branch: "main" });
      await t.push();
    }
  });
  // Pruning takes what was superseded strictly before now minus two leases (0 s here): the
  // last push's successor, written in the same millisecond as the step, was kept (10 !== 11,
  // one CI run in many).
  await new Promise((r) => setTimeout(r, 5));
  await withProcessEnv({ PATH: "/nonexistent" }, async () => {
    const report = await runStep(core);
    assert(report.snapshot, "snapshot written");
    assertEquals(report.prune?.pruned, 11);
    assertEquals(report.merge, null, "12 segments, none merged without git");
  });
  // With git, the same step merges them.
  assert((await runStep(core)).merge?.merged, "merged with git");
  await mem.close();
});

Deno.test("after a burst, the first push two leases later prunes the listing back to the refs", async () => {
  const mem = await openStore(`memory://auto-${crypto.randomUUID()}/trunks/a.trunk`);
  const entries = async () => (await mem.list("refs/")).filter((k) => parseRefEntryKey(k.key));
  await withEnv("wait", async () => {
    await using t = await Trunk.open({ store: mem, create: true, leaseSeconds: 3, writer: "w" });
    const push = async (i: number) => {
      t.write("n.txt", `${i}\n`);
      await t.commit({ message: "c", branch: "main" });
      await t.push();
    };
    // A burst: the step at SNAPSHOT_AFTER snapshots, but nothing is two leases old yet.
    for (let i = 0; i < SNAPSHOT_AFTER + 5; i++) await push(i);
    assert((await entries()).length > SNAPSHOT_AFTER, "the burst's entries are all live");
    await new Promise((r) => setTimeout(r, 6100));
    // Few entries since the snapshot: only the prunable ones make this push start a step.
    await push(-1);
    // Left: HEAD, main's latest, and the entry it just superseded (kept two more leases).
    assertEquals((await entries()).length, 3, "the burst was pruned");
  });
  await mem.close();
});

/** A library process: 60 one-commit pushes to main on a trunk with a zero lease. */
const SCRIPT = `
import { Trunk } from ${JSON.stringify(`${REPO_ROOT}/mod.ts`)};
const t = await Trunk.open({ url: Deno.args[0], create: true, leaseSeconds: 0, writer: "short" });
for (let i = 1; i <= 60; i++) {
  t.write("n.txt", i + "\\n");
  await t.commit({ message: "c" + i, branch: "main" });
  await t.push();
  console.log(i);
}
// A short-lived process: gone right after its last push, a step maybe under way.
if (Deno.args[1] === "exit") Deno.exit(0);
await t.close();
`;

for (const how of ["exit", "maint:after-snapshot", "maint:after-archive", "maint:mid-prune"]) {
  Deno.test({
    name: `sdk local, no git: a library process gone mid-step (${how}) leaves a valid trunk`,
    ...opts,
    fn: async () => {
      const e = await makeEnv();
      const local = e2eBackends().find((b) => b.name === "local")!;
      const url = await trunkUrl(local, "short");
      const script = `${await Deno.makeTempDir({ prefix: "trunks-auto-" })}/lib.ts`;
      await Deno.writeTextFile(script, SCRIPT);
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script, url, how === "exit" ? "exit" : ""],
        cwd: REPO_ROOT,
        clearEnv: true,
        // No git: the step snapshots and prunes, and leaves merging to a client with git.
        env: {
          PATH: "/nonexistent",
          HOME: e.env.HOME,
          DENO_DIR: e.env.DENO_DIR,
          NO_COLOR: "1",
          ...(how === "exit" ? {} : { TRUNKS_FAULT: how }),
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      const pushed = new TextDecoder().decode(out.stdout).trim().split("\n").length;
      if (how === "exit") assertEquals(out.code, 0, stderr);
      else assertEquals(out.code, 137, `SIGKILLed at ${how}: ${stderr}`);
      assert(pushed >= SNAPSHOT_AFTER - 2, `a step started after push ${pushed}`);

      // Valid as it was left: check is clean, git clones the last acknowledged commit.
      const valid = async (what: string) => {
        const r = await run(e, "trunks", ["check", url, "--json"]);
        assertEquals(JSON.parse(r.stdout).problems, [], `${what}: trunks check`);
        const dir = `${await Deno.makeTempDir()}/c`;
        await ok(e, "git", ["clone", "-q", `trunks::${url}`, dir]);
        await git(e, dir, "fsck", "--strict", "--no-dangling");
        return (await Deno.readTextFile(`${dir}/n.txt`)).trim();
      };
      // The push in flight when the step killed the process may have landed unacknowledged.
      const held = Number(await valid(`left at ${how}`));
      assert(
        held === pushed || held === pushed + 1,
        `main holds push ${held}; the last acknowledged was ${pushed}`,
      );

      // Pushing on works; the next step finishes the job (a zero lease: all is prunable).
      await withEnv("0", async () => {
        await using t = await Trunk.open({ url, writer: "next" });
        t.write("n.txt", `${held + 1}\n`);
        await t.commit({ message: "more", branch: "main" });
        await t.push();
      });
      const step = await run(e, "trunks", ["maintenance", url]);
      assertEquals(step.code, 0, step.stderr);
      assertEquals(Number(await valid("after the next step")), held + 1);
      const store = await openStore(url, local.settings);
      try {
        const meta = await readMeta(store);
        const state = await readRefState(store, new MemoryCache(), meta!);
        assertEquals(state.latest.get("refs/heads/main")?.seq, held + 1);
        const live = (await store.list("refs/")).filter((k) => parseRefEntryKey(k.key));
        assertEquals(live.length, 2, "main's latest and HEAD are all that is live");
        assert((await store.list(REFLOG_PREFIX)).length > 0, "pruned entries archived");
      } finally {
        await store.close();
      }
      const log = await run(e, "trunks", ["log", "main", "--trunk", url, "--json"]);
      assertEquals(log.code, 0, log.stderr);
      assertEquals(
        new Set(JSON.parse(log.stdout).map((x: { seq: number }) => x.seq)).size,
        held + 1,
        "the audit log holds every push",
      );
    },
  });
}

/**
 * A trunk that is already damaged gets a way out (`trunks check --repair`), on local disk
 * and MinIO: a segment a ref needs is deleted behind trunks' back; check names the ref,
 * the missing key and the repair (exit 1); the repair re-uploads the objects from a clone
 * that has them, or, asked to, moves the ref back to its last complete value with a new
 * ref entry while the damaged one stays in the ref log. A fresh clone is then complete.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { e2eBackends, git, run } from "../e2e/harness.ts";
import { getBytes } from "../../src/storage/store.ts";
import { segmentIdxKey, segmentPackKey } from "../../src/trunk/layout.ts";
import { refEntryKey } from "../keys.ts";
import type { Problem } from "../../src/trunk/check.ts";
import type { RepairReport } from "../../src/trunk/repair.ts";
import {
  cloneMatches,
  opts,
  type Result,
  type Setup,
  setup,
  smallPushes,
  withStore,
} from "./lib.ts";

type Repaired = Result & { repair?: RepairReport & { before: Problem[] } };

/** `trunks check --json` in `cwd` (a repository, or a directory outside any). */
async function checkIn(s: Setup, cwd: string, args: string[]) {
  const r = await run(s.e, "trunks", ["check", ...args, "--json"], { cwd });
  let report: Repaired;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    throw new Error(`trunks check printed no JSON (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
  }
  return { code: r.code, report, stderr: r.stderr };
}

/** The segments main's entry `seq` names (the push that wrote it). */
function segmentsOf(s: Setup, seq: number): Promise<string[]> {
  return withStore(s, async (st) => {
    const raw = await getBytes(st, refEntryKey("refs/heads/main", seq));
    assert(raw, `no entry ${seq} of main`);
    return JSON.parse(new TextDecoder().decode(raw)).segments;
  });
}

/** What an operator's slip does: a segment gone (index and pack). */
function deleteSegment(s: Setup, id: string): Promise<void> {
  return withStore(s, async (st) => {
    await st.delete(segmentIdxKey(id));
    await st.delete(segmentPackKey(id));
  });
}

const revParse = async (s: Setup, rev: string) => (await git(s.e, s.a, "rev-parse", rev)).trim();

for (const backend of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))) {
  Deno.test({
    name: `repair ${backend.name}: a deleted tip segment is named, re-uploaded from a clone`,
    ...opts,
    fn: async () => {
      const s = await setup(backend, "repair-upload");
      await smallPushes(s, 2);
      const tip = await revParse(s, "main");
      const [lost] = await segmentsOf(s, 3);
      await deleteSegment(s, lost);
      const outside = await Deno.makeTempDir();

      const bad = await checkIn(s, outside, [s.url]);
      assertEquals(bad.code, 1, bad.stderr);
      const p = bad.report.problems.find((x) => x.kind === "dangling-ref");
      assert(p, JSON.stringify(bad.report.problems));
      assertEquals(p.key, refEntryKey("refs/heads/main", 3));
      assertEquals(p.ref, "refs/heads/main");
      assertMatch(p.message, new RegExp(`points at ${tip}, which no segment holds`));
      assertMatch(p.message, new RegExp(`segments/${lost}\\.pack, which is missing`));
      assertMatch(p.fix, /trunks check --repair in a clone that has/);
      assertMatch(p.fix, /--roll-back/);

      // Outside any clone there is nothing to upload from: nothing moves, exit 1.
      const none = await checkIn(s, outside, [s.url, "--repair"]);
      assertEquals(none.code, 1, none.stderr);
      assertEquals(none.report.repair?.uploaded, null);
      assertEquals(none.report.repair?.rolledBack, []);
      assertMatch(none.report.repair!.left[0].reason, /no local repository/);

      // From the clone that pushed: the missing objects go up as a new segment.
      const fixed = await checkIn(s, s.a, ["--repair"]);
      assertEquals(fixed.code, 0, `${fixed.stderr}\n${JSON.stringify(fixed.report.problems)}`);
      assertEquals(fixed.report.ok, true);
      assertEquals(fixed.report.repair!.uploaded!.refs, ["refs/heads/main"]);
      assert(fixed.report.repair!.uploaded!.objects >= 3); // commit, tree, blob
      assertEquals(fixed.report.repair!.before.map((x) => x.kind), ["dangling-ref"]);
      // The ref log is untouched: main is still at entry 3, its value complete again.
      assertEquals(fixed.report.stats.refEntries, bad.report.stats.refEntries);
      await cloneMatches(s, [`${tip} refs/heads/main`]);
      const again = await checkIn(s, outside, [s.url]);
      assertEquals(again.code, 0, JSON.stringify(again.report.problems));
    },
  });

  Deno.test({
    name: `repair ${backend.name}: broken history, --roll-back moves the ref back with a new entry`,
    ...opts,
    fn: async () => {
      const s = await setup(backend, "repair-rollback");
      const first = await revParse(s, "main");
      await smallPushes(s, 2);
      const tip = await revParse(s, "main");
      // The middle push's segment: main's tip is stored, its parent is not.
      const [lost] = await segmentsOf(s, 2);
      await deleteSegment(s, lost);
      const outside = await Deno.makeTempDir();

      const bad = await checkIn(s, outside, [s.url]);
      assertEquals(bad.code, 1);
      const p = bad.report.problems.find((x) => x.ref === "refs/heads/main");
      assert(p, JSON.stringify(bad.report.problems));
      assertEquals(p.kind, "missing-object");
      assertMatch(p.message, new RegExp(`segments/${lost}\\.pack, which is missing`));

      const usage = await run(s.e, "trunks", ["check", s.url, "--roll-back"], { cwd: outside });
      assertEquals(usage.code, 2);
      assertMatch(usage.stderr, /--roll-back goes with --repair/);

      // Without --roll-back and without a clone to upload from: said, not done.
      const said = await run(s.e, "trunks", ["check", s.url, "--repair"], { cwd: outside });
      assertEquals(said.code, 1);
      assertMatch(said.stdout, /not repaired: refs\/heads\/main: .*add --roll-back/);

      const r = await checkIn(s, outside, [s.url, "--repair", "--roll-back"]);
      assertEquals(r.code, 0, `${r.stderr}\n${JSON.stringify(r.report)}`);
      // Entry 2's value lost its objects too: the last complete value is the first commit.
      assertEquals(r.report.repair!.rolledBack, [{
        ref: "refs/heads/main",
        from: tip,
        to: first,
        key: refEntryKey("refs/heads/main", 4),
      }]);
      await withStore(s, async (st) => {
        const kept = JSON.parse(
          new TextDecoder().decode((await getBytes(st, refEntryKey("refs/heads/main", 3)))!),
        );
        assertEquals(kept.new, tip); // the damaged entry stays: history is never deleted
        const moved = JSON.parse(
          new TextDecoder().decode((await getBytes(st, refEntryKey("refs/heads/main", 4)))!),
        );
        assertEquals([moved.old, moved.new], [tip, first]);
      });
      await cloneMatches(s, [`${first} refs/heads/main`]);
    },
  });
}

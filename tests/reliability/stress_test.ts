/**
 * Many writers on one trunk. Through the Trunk API: 32 writers x 50 rounds of mixed
 * pushes, force pushes, deletes and fetches; the ref log must come out linear (each
 * entry's `old` is the previous entry's `new`), gap-free, and hold exactly the updates
 * whose writers were told "ok". Through real `git push` processes racing on one branch:
 * exactly one wins each round, the others are told to fetch first, and nothing is lost.
 */
import { openStore } from "../../src/storage/registry.ts";
import type { Store } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { isDeleted, type RefEntry } from "../../src/trunk/refs.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { seededRandom } from "../faulty_store.ts";
import { assert, assertEquals } from "../assert.ts";
import { commitFile, git, makeEnv, newRepo, ok, run, trunkUrl } from "../e2e/harness.ts";
import { openTrunkStore, reliabilityBackends, verifyTrunk } from "./lib.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const WRITERS = 32;
const ROUNDS = 50;
const REFS = ["refs/heads/main", "refs/heads/dev", "refs/tags/v1"];

function randomOid(rand: () => number): string {
  return Array.from({ length: 40 }, () => "0123456789abcdef"[Math.floor(rand() * 16)]).join("");
}

interface Acked {
  ref: string;
  seq: number;
  new: string;
  writer: string;
}

async function writer(
  open: () => Promise<Store>,
  name: string,
  seed: number,
  acked: Acked[],
): Promise<{ lost: number; fetches: number }> {
  const store = await open();
  const rand = seededRandom(seed);
  const trunk = await Trunk.open(store, new MemoryCache(), name);
  let lost = 0;
  let fetches = 0;
  const seen = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++) {
    const state = await trunk.refState();
    // Reads are monotonic: no ref ever goes back to an older entry.
    for (const [ref, e] of state.latest) {
      assert(e.seq >= (seen.get(ref) ?? 0), `${name}: ${ref} went back`);
      seen.set(ref, e.seq);
    }
    const ref = REFS[Math.floor(rand() * REFS.length)];
    const base: RefEntry | null = state.latest.get(ref) ?? null;
    const dice = rand();
    if (dice < 0.15) {
      fetches++;
      continue;
    }
    const del = dice < 0.3;
    if (del && (!base || isDeleted(base))) continue;
    const value = del ? "0".repeat(40) : randomOid(rand);
    const force = dice > 0.8;
    let b = base;
    for (let attempt = 0;; attempt++) {
      const r = await trunk.updateRef({ ref, new: value, base: b, segments: [] });
      if (r.ok) {
        acked.push({ ref, seq: r.entry.seq, new: value, writer: name });
        break;
      }
      // A plain push that lost is told "fetch first"; a forced one retries on the winner.
      if (!force || !r.winner || attempt > 100) {
        lost++;
        break;
      }
      b = r.winner;
    }
  }
  await store.close();
  return { lost, fetches };
}

interface Target {
  name: string;
  open(): Promise<Store>;
}

function targets(): Target[] {
  const out: Target[] = [];
  const mem = crypto.randomUUID();
  out.push({ name: "memory", open: () => openStore(`memory://${mem}/trunks/s.trunk`) });
  for (const b of reliabilityBackends()) {
    let url: Promise<string> | undefined;
    out.push({
      name: b.name,
      open: async () => openStore(await (url ??= trunkUrl(b, "stress")), b.settings),
    });
  }
  return out;
}

for (const t of targets()) {
  Deno.test({
    name:
      `stress ${t.name}: ${WRITERS} writers x ${ROUNDS} rounds; the ref log is linear and complete`,
    ...opts,
    fn: async () => {
      const first = await t.open();
      await Trunk.openOrCreate(first, new MemoryCache(), "init", "sha1");
      const acked: Acked[] = [];
      const results = await Promise.all(
        Array.from({ length: WRITERS }, (_, i) => writer(t.open, `w${i}`, i + 1, acked)),
      );
      const report = await verifyTrunk(first);
      // Exactly the acknowledged updates, each at the seq its writer was told.
      assertEquals(report.entries.length, acked.length, "log length = acknowledged updates");
      const byKey = new Map(report.entries.map((e) => [`${e.ref}#${e.seq}`, e]));
      for (const a of acked) {
        const e = byKey.get(`${a.ref}#${a.seq}`);
        assert(e, `acknowledged ${a.ref}#${a.seq} by ${a.writer} is missing`);
        assertEquals([e.new, e.writer], [a.new, a.writer], `${a.ref}#${a.seq}`);
      }
      const lost = results.reduce((n, r) => n + r.lost, 0);
      assert(lost > 0, "writers really contended");
      assert(acked.length > WRITERS * 5, `only ${acked.length} updates landed`);
      await first.close();
    },
  });
}

for (const b of reliabilityBackends()) {
  Deno.test({
    name: `stress ${b.name}: rounds of real git pushes racing on one branch`,
    ...opts,
    fn: async () => {
      const RACERS = 6;
      const ROUNDS_GIT = 3;
      const e = await makeEnv(b.env);
      const url = await trunkUrl(b, "race");
      const remote = `trunks::${url}`;
      const seed = await newRepo(e, "seed");
      await git(e, seed, "push", "-q", remote, "main");
      const racers: string[] = [];
      for (let i = 0; i < RACERS; i++) {
        const d = `${await Deno.makeTempDir()}/r${i}`;
        await ok(e, "git", ["clone", "-q", remote, d]);
        racers.push(d);
      }
      const winners: string[] = [];
      for (let round = 0; round < ROUNDS_GIT; round++) {
        for (const [i, d] of racers.entries()) {
          await git(e, d, "fetch", "-q", "origin");
          await git(e, d, "reset", "-q", "--hard", "origin/main");
          await commitFile(e, d, `r${i}.txt`, `round ${round} racer ${i}\n`);
        }
        const runs = await Promise.all(
          racers.map((d) => run(e, "git", ["push", "origin", "main"], { cwd: d })),
        );
        const won = runs.flatMap((r, i) => r.code === 0 ? [i] : []);
        assertEquals(won.length, 1, `round ${round}: winners ${won}`);
        for (const [i, r] of runs.entries()) {
          if (i !== won[0]) assert(/fetch first|rejected/.test(r.stderr), r.stderr);
        }
        winners.push((await git(e, racers[won[0]], "rev-parse", "main")).trim());
      }
      const store = await openTrunkStore(b, url);
      try {
        const report = await verifyTrunk(store);
        const main = report.entries.filter((x) => x.ref === "refs/heads/main");
        assertEquals(main.map((x) => x.new).slice(1), winners, "one entry per round, in order");
      } finally {
        await store.close();
      }
      const c = `${await Deno.makeTempDir()}/c`;
      await ok(e, "git", ["clone", "-q", remote, c]);
      await git(e, c, "fsck", "--strict", "--no-dangling");
      for (const w of winners) await git(e, c, "merge-base", "--is-ancestor", w, "HEAD");
    },
  });
}

/**
 * Store faults under the trunk layer: errors, lost answers, hangs, slow answers,
 * truncated and corrupted reads (tests/faulty_store.ts), on memory, local disk and
 * MinIO. Every push or fetch either succeeds with verified data or fails with one clear
 * line; a clean reader then always finds a valid trunk whose refs name complete data.
 */
import { DeadlineStore, storeTimeoutMs, withDeadline } from "../../src/storage/deadline.ts";
import { type FaultKind, type FaultOp, FaultyStore } from "../faulty_store.ts";
import { openStore } from "../../src/storage/registry.ts";
import { readAll, type Store, StoreError } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { TrunkError } from "../../src/trunk/errors.ts";
import { parseMeta } from "../../src/trunk/meta.ts";
import { parseEntry } from "../../src/trunk/refs.ts";
import { seal } from "../../src/trunk/seal.ts";
import { sha256File } from "../../src/trunk/segments.ts";
import { Trunk } from "../../src/trunk/trunk.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { commitFile, git, makeEnv, newRepo, trunkUrl } from "../e2e/harness.ts";
import { allBackends, verifyTrunk } from "./lib.ts";
import { layout, refEntryKey } from "../keys.ts";
import { FORMAT } from "../../src/trunk/layout.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

interface Pack {
  id: string;
  pack: string;
  idx: string;
  commit: string;
}

/** Real git packs: one per commit, each holding only that commit's new objects. */
async function makePacks(n: number): Promise<Pack[]> {
  const e = await makeEnv();
  const repo = await newRepo(e, "packs");
  const out: Pack[] = [];
  let prev = "";
  for (let i = 0; i < n; i++) {
    await commitFile(e, repo, `f${i}.txt`, `content ${i} ${crypto.randomUUID()}\n`);
    const commit = (await git(e, repo, "rev-parse", "HEAD")).trim();
    const dir = await Deno.makeTempDir({ prefix: "trunks-pack-" });
    const child = new Deno.Command("git", {
      args: ["pack-objects", "--revs", "-q", `${dir}/p`],
      cwd: repo,
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(`${commit}\n${prev ? `^${prev}\n` : ""}`));
    await w.close();
    const hash = new TextDecoder().decode((await child.output()).stdout).trim();
    const pack = `${dir}/p-${hash}.pack`;
    out.push({ id: await sha256File(pack), pack, idx: `${dir}/p-${hash}.idx`, commit });
    prev = commit;
  }
  return out;
}

interface Target {
  name: string;
  open(): Promise<Store>;
}

function targets(): Target[] {
  const out: Target[] = [{
    name: "memory",
    open: () => {
      const name = crypto.randomUUID();
      return openStore(`memory://${name}/trunks/t.trunk`);
    },
  }];
  for (const b of allBackends()) {
    out.push({
      name: b.name,
      open: async () => {
        const url = await trunkUrl(b, "t");
        return await openStore(url, b.settings);
      },
    });
  }
  return out;
}

/** A push through the Trunk API: segment first, then the ref entry. */
async function pushVia(store: Store, p: Pack, ref = "refs/heads/main"): Promise<void> {
  const trunk = await Trunk.openOrCreate(store, new MemoryCache(), "faults@test", "sha1");
  const base = (await trunk.refState()).latest.get(ref) ?? null;
  await trunk.putSegment(p.id, p.pack, p.idx);
  const r = await trunk.updateRef({ ref, new: p.commit, base, segments: [p.id] });
  if (!r.ok && r.winner?.new !== p.commit) throw new Error(`lost the race to ${r.winner?.writer}`);
}

/** A fetch through the Trunk API: state, then every segment downloaded and verified. */
async function fetchVia(store: Store): Promise<Map<string, string>> {
  const trunk = await Trunk.open(store, new MemoryCache(), "faults@test");
  const state = await trunk.refState();
  const dir = await Deno.makeTempDir({ prefix: "trunks-fetch-" });
  try {
    for (const s of await trunk.segments()) await trunk.downloadSegment(s.id, `${dir}/${s.id}`);
    assertEquals([...Deno.readDirSync(dir)].length, (await trunk.segments()).length);
  } catch (e) {
    assertEquals([...Deno.readDirSync(dir)].filter((f) => f.name.length !== 64), []);
    throw e;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return new Map([...Trunk.liveRefs(state)].map(([r, e]) => [r, e.new]));
}

/** A failure the user can act on: one of ours, one line, naming something. */
function assertClearFailure(err: unknown, what: string) {
  assert(
    err instanceof StoreError || err instanceof TrunkError,
    `${what}: unexpected ${err instanceof Error ? err.stack : err}`,
  );
  assert(!err.message.includes("\n"), `${what}: multi-line message`);
  assert(err.message.length > 20, `${what}: terse message ${err.message}`);
}

const KINDS: FaultKind[] = ["error", "lost-answer", "truncate", "corrupt", "slow"];
const OPS: FaultOp[] = ["get", "put", "create", "list"];

for (const target of targets()) {
  Deno.test({
    name: `store faults ${target.name}: each fault on each operation, once, during push and fetch`,
    ...opts,
    fn: async () => {
      const packs = await makePacks(2);
      let fired = 0;
      for (const kind of KINDS) {
        for (const op of OPS) {
          if ((kind === "truncate" || kind === "corrupt") && op !== "get") continue;
          for (const skip of [0, 1, 2, 3]) {
            const what = `${kind} on ${op} #${skip + 1}`;
            const clean = await target.open();
            await pushVia(clean, packs[0]);
            const faulty = new FaultyStore(clean, [{
              ops: [op],
              kind,
              skip,
              times: 1,
              delayMs: 5,
            }]);
            let pushed = true;
            try {
              await pushVia(faulty, packs[1]);
            } catch (err) {
              pushed = false;
              assertClearFailure(err, `${what} (push)`);
            }
            const after = await verifyTrunk(clean);
            const main = after.refs.get("refs/heads/main");
            if (pushed) assertEquals(main, packs[1].commit, `${what}: push said ok`);
            else assert(main === packs[0].commit || main === packs[1].commit, what);
            // A retry without faults always completes.
            await pushVia(clean, packs[1]);

            const reader = new FaultyStore(clean, [{
              ops: [op],
              kind,
              skip,
              times: 1,
              delayMs: 5,
            }]);
            try {
              const refs = await fetchVia(reader);
              assertEquals(refs.get("refs/heads/main"), packs[1].commit, `${what}: fetch said ok`);
            } catch (err) {
              assertClearFailure(err, `${what} (fetch)`);
            }
            assertEquals((await fetchVia(clean)).get("refs/heads/main"), packs[1].commit);
            fired += faulty.fired.length + reader.fired.length;
            await clean.close();
          }
        }
      }
      assert(fired > 40, `only ${fired} faults fired`);
    },
  });

  Deno.test({
    name: `store faults ${target.name}: 20% of operations fail at random over 40 pushes`,
    ...opts,
    fn: async () => {
      const packs = await makePacks(8);
      const clean = await target.open();
      const faulty = new FaultyStore(clean, [
        { ops: "*", kind: "error", probability: 0.1 },
        { ops: "*", kind: "lost-answer", probability: 0.05 },
        { ops: ["get"], kind: "corrupt", probability: 0.05 },
      ], 42);
      let ok = 0;
      let failed = 0;
      for (let i = 0; i < 40; i++) {
        const p = packs[i % packs.length];
        const ref = `refs/heads/b${i % 5}`;
        try {
          await pushVia(faulty, p, ref);
          ok++;
          const refs = await fetchVia(clean);
          assertEquals(refs.get(ref), p.commit, `push ${i} said ok`);
        } catch (err) {
          if (err instanceof Error && /lost the race/.test(err.message)) continue;
          failed++;
          assertClearFailure(err, `push ${i}`);
        }
      }
      assert(faulty.fired.length > 5, `faults fired: ${faulty.fired.length}`);
      assert(ok > 0 && failed > 0, `ok ${ok}, failed ${failed}`);
      await verifyTrunk(clean);
      await clean.close();
    },
  });
}

Deno.test("store faults: no single flipped bit of a sealed entry or trunk.json yields a wrong value", () => {
  const entry = JSON.stringify(seal({
    trunk: crypto.randomUUID(),
    ref: "refs/heads/main",
    seq: 3,
    old: "a".repeat(40),
    new: "b".repeat(40),
    time: new Date().toISOString(),
    writer: "me@host",
    segments: ["c".repeat(64)],
  }));
  const key = refEntryKey("refs/heads/main", 3);
  parseEntry(entry, key, layout);
  const meta = JSON.stringify(
    seal({
      format: FORMAT,
      id: crypto.randomUUID(),
      objectFormat: "sha1",
      created: new Date().toISOString(),
      generator: "trunks",
    }),
    null,
    2,
  );
  parseMeta(meta, "memory://x");
  for (
    const [text, parse] of [
      [entry, (s: string) => parseEntry(s, key, layout)],
      [meta, (s: string) => parseMeta(s, "memory://x")],
    ] as const
  ) {
    const bytes = new TextEncoder().encode(text);
    for (let i = 0; i < bytes.length; i++) {
      for (const bit of [0x01, 0x02, 0x10]) {
        const bad = bytes.slice();
        bad[i] ^= bit;
        let caught: unknown;
        let got: Record<string, unknown> | undefined;
        try {
          got = { ...parse(new TextDecoder().decode(bad)) };
        } catch (e) {
          caught = e;
        }
        if (got) {
          // Only a flip inside the word "sum" itself can pass: the seal is then lost
          // but every value is still the original one.
          const { sum: _s, ...want } = JSON.parse(text);
          for (const k of Object.keys(got)) if (!(k in want)) delete got[k];
          assertEquals(got, want, `flip ${bit} at ${i} (${text[i]}) changed a value unnoticed`);
          assert(text.slice(i - 3, i + 3).includes("sum"), `flip at ${i} passed`);
        } else {
          assert(caught instanceof TrunkError && caught.code === "corrupt", `flip at ${i}`);
        }
      }
    }
  }
});

Deno.test({
  name: "store faults: a hung store fails within TRUNKS_STORE_TIMEOUT; slow but moving is not cut",
  ...opts,
  fn: async () => {
    const inner = await openStore(`memory://${crypto.randomUUID()}/trunks/t.trunk`);
    await inner.put("a", new TextEncoder().encode("hello"));
    const hung = new FaultyStore(inner, [{ ops: "*", kind: "hang" }]);
    const bounded = withDeadline(hung, 300);
    for (
      const [what, call] of [
        ["get a", () => bounded.get("a")],
        ["put a", () => bounded.put("a", new Uint8Array(1))],
        ["create b", () => bounded.create("b", new Uint8Array(1))],
        ["list refs/", () => bounded.list("refs/")],
        ["delete a", () => bounded.delete("a")],
      ] as const
    ) {
      const t0 = performance.now();
      const err = await assertRejects(call as () => Promise<unknown>, StoreError);
      const took = performance.now() - t0;
      assert(took >= 250 && took < 5000, `${what}: failed after ${took}ms`);
      assertMatch(
        err.message,
        new RegExp(
          `memory://.* did not answer \\(${what}\\) within 0\\.3s; .*raise TRUNKS_STORE_TIMEOUT`,
        ),
      );
      assertEquals((err as StoreError).code, "unreachable");
    }
    await hung.close();

    // A stream that keeps moving, slower than the bound overall, completes.
    const d = new DeadlineStore(inner, 300);
    let n = 0;
    const slow = new ReadableStream<Uint8Array>({
      async pull(c) {
        await new Promise((r) => setTimeout(r, 100));
        if (n++ === 8) c.close();
        else c.enqueue(new Uint8Array([n]));
      },
    });
    await d.put("slow", slow);
    assertEquals((await readAll((await inner.get("slow"))!)).byteLength, 8);

    // A download that stalls mid-way is cut with the same message.
    const stalling: Store = {
      ...inner,
      location: "memory://stall",
      capabilities: inner.capabilities,
      get: () =>
        Promise.resolve(
          new ReadableStream<Uint8Array>({
            start(c) {
              c.enqueue(new Uint8Array([1]));
            },
          }),
        ),
    } as Store;
    const s = (await new DeadlineStore(stalling, 300).get("x"))!;
    const err = await assertRejects(() => readAll(s), StoreError);
    assertMatch(err.message, /memory:\/\/stall did not answer \(get x\) within 0\.3s/);

    assertEquals(storeTimeoutMs(undefined), 120_000);
    assertEquals(storeTimeoutMs("2.5"), 2500);
    assertEquals(storeTimeoutMs("0"), 0);
    assert(withDeadline(inner, 0) === inner);
    assertMatch(
      (await assertRejects(() => Promise.resolve().then(() => storeTimeoutMs("-1")))).message,
      /TRUNKS_STORE_TIMEOUT="-1" is not a number of seconds/,
    );
  },
});

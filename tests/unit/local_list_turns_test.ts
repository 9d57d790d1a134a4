/**
 * A local listing of thousands of refs gives the event loop turns (downloads and progress
 * run meanwhile) without a timer's delay per turn: with `setTimeout(0)` the turns cost
 * ~0.4 s of a 20,000-ref clone's listing.
 */
import { setImmediate } from "node:timers";
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { loopYield } from "../../src/storage/local.ts";

/** `n` refs of one entry each under a new local trunk; its store and root. */
async function refsStore(n: number) {
  const root = await Deno.makeTempDir();
  const base = `${root}/trunks/r.trunk`;
  for (let i = 0; i < n; i++) {
    await Deno.mkdir(`${base}/refs/r${i}`, { recursive: true });
    await Deno.writeTextFile(`${base}/refs/r${i}/000000000001`, "x");
  }
  return { root, store: await openStore(`local://${base}`) };
}

// First in this file: a process's first turns are the cheap ones (src/storage/local.ts).
Deno.test("a listing of a few hundred refs turns the loop without loading node:timers", async () => {
  const { root, store } = await refsStore(400);
  const real = loopYield.immediate;
  let immediates = 0;
  loopYield.immediate = () => {
    immediates++;
    return real();
  };
  try {
    // 400 directories read and 400 entries stated: three turns of the loop.
    const listed = await store.list("refs/");
    assertEquals(listed.length, 400);
    assertEquals(immediates, 0, "a turn of a short listing went through node:timers");
  } finally {
    loopYield.immediate = real;
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a large local listing yields to the event loop, never through a timer", async () => {
  const root = await Deno.makeTempDir();
  try {
    const base = `${root}/trunks/r.trunk`;
    const n = 3000;
    for (let i = 0; i < n; i++) {
      await Deno.mkdir(`${base}/refs/r${i}`, { recursive: true });
      await Deno.writeTextFile(`${base}/refs/r${i}/000000000001`, "x");
    }
    const store = await openStore(`local://${base}`);
    let turns = 0;
    let listing = true;
    const tick = () => {
      turns++;
      if (listing) setImmediate(tick);
    };
    const realTimeout = globalThis.setTimeout;
    let timers = 0;
    globalThis.setTimeout = ((...a: Parameters<typeof setTimeout>) => {
      timers++;
      return realTimeout(...a);
    }) as typeof setTimeout;
    let listed;
    try {
      setImmediate(tick);
      listed = await store.list("refs/");
    } finally {
      listing = false;
      globalThis.setTimeout = realTimeout;
    }
    assertEquals(listed.length, n);
    assert(turns >= 5, `the event loop got ${turns} turns during the listing`);
    assertEquals(timers, 0, "the listing's turns went through setTimeout");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/**
 * A local create or put returns only once the directories holding its new names are
 * synced (a push git calls done must survive a power loss), each directory once per
 * write, with concurrent writes into one directory sharing a sync.
 */
import { assert, assertEquals } from "../assert.ts";
import { dirSync, LocalStore, youngDir } from "../../src/storage/local.ts";
import { StoreError } from "../../src/storage/store.ts";

const realRun = dirSync.run;

/** Runs `fn` with every directory sync recorded (and `around` wrapped around it). */
async function observed(
  fn: (syncs: string[]) => Promise<void>,
  around: (dir: string, run: () => Promise<void>) => Promise<void> = (_d, run) => run(),
): Promise<void> {
  const syncs: string[] = [];
  dirSync.run = (dir) => around(dir, () => (syncs.push(dir), realRun(dir)));
  try {
    await fn(syncs);
  } finally {
    dirSync.run = realRun;
  }
}

/**
 * Runs `fn` with every directory old enough to trust its name (see `youngDir`): what one
 * store syncs of the directories it made itself.
 */
async function allOld(fn: () => Promise<void>): Promise<void> {
  const ms = youngDir.ms;
  youngDir.ms = -Infinity;
  try {
    await fn();
  } finally {
    youngDir.ms = ms;
  }
}

function count(syncs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of syncs) out[d] = (out[d] ?? 0) + 1;
  return out;
}

function fresh(): { root: string; base: string; store: LocalStore } {
  const root = Deno.makeTempDirSync();
  const base = `${root}/trunks/r.trunk`;
  return { root, base, store: new LocalStore(base, root, `local://${base}`) };
}

Deno.test("local create/put sync each directory they changed, once, before returning", async () => {
  const { root, base, store } = fresh();
  await allOld(() =>
    observed(async (syncs) => {
      // A new trunk: every level below the root was made, and the key's own directory.
      assert(await store.create("refs/a/1", new Uint8Array([1])));
      assertEquals(count(syncs), {
        [root]: 1,
        [`${root}/trunks`]: 1,
        [base]: 1,
        [`${base}/refs`]: 1,
        [`${base}/refs/a`]: 1,
      });
      // A new ref directory: its parent (the new directory's name) and itself.
      syncs.length = 0;
      assert(await store.create("refs/b/1", new Uint8Array([1])));
      assertEquals(count(syncs), { [`${base}/refs`]: 1, [`${base}/refs/b`]: 1 });
      // An existing directory: only it.
      syncs.length = 0;
      assert(await store.create("refs/b/2", new Uint8Array([1])));
      await store.put("refs/b/3", new Uint8Array([1]));
      assertEquals(count(syncs), { [`${base}/refs/b`]: 2 });
      // A create that loses (the name exists) changed nothing.
      syncs.length = 0;
      assertEquals(await store.create("refs/b/2", new Uint8Array([2])), false);
      assertEquals(syncs, []);
    })
  );
});

Deno.test("local creates into one directory share its sync, which starts after their names exist", async () => {
  const { base, store } = fresh();
  await store.put("segments/seed", new Uint8Array([0]));
  const dir = `${base}/segments`;
  const n = 32;
  const keys = Array.from({ length: n }, (_, i) => `segments/k${i}`);
  const synced = new Set<string>(); // names a completed sync saw in the directory
  let first = true;
  await allOld(() =>
    observed(async (syncs) => {
      await Promise.all(keys.map(async (k) => {
        assert(await store.create(k, new Uint8Array([1])));
        assert(synced.has(k.slice("segments/".length)), `${k} returned before a sync saw it`);
      }));
      // The first sync is held until every create has linked its name, so all the others
      // arrive before it starts or while it runs: they share at most one more, not one each.
      assert(syncs.every((d) => d === dir) && syncs.length <= 2, `${syncs.length} syncs`);
    }, async (d, run) => {
      assertEquals(d, dir);
      if (first) {
        first = false;
        while ([...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("k")).length < n) {
          await new Promise((r) => setTimeout(r, 2));
        }
      }
      const names = [...Deno.readDirSync(dir)].map((e) => e.name);
      await run();
      for (const name of names) synced.add(name);
    })
  );
});

Deno.test("a file system refusing directory fsync (EINVAL) is not an error; others are", async () => {
  const { store } = fresh();
  const fail = (code: string) => () =>
    Promise.reject(Object.assign(new Error(`os error (${code})`), { code }));
  await observed(async () => {
    assert(await store.create("refs/a/1", new Uint8Array([1])));
    await store.put("segments/x", new Uint8Array([1]));
  }, fail("EINVAL"));
  await observed(async () => {
    let err: unknown;
    await store.create("refs/a/2", new Uint8Array([1])).catch((e) => err = e);
    assert(err instanceof StoreError, `EIO is an error: ${err}`);
  }, fail("EIO"));
});

Deno.test("a create into a directory another create just made waits for that directory's name", async () => {
  const { base, store } = fresh();
  await store.put("refs/seed/1", new Uint8Array([0]));
  let release!: () => void;
  const held = new Promise<void>((r) => release = r);
  const refs = `${base}/refs`;
  await observed(async () => {
    // The first makes refs/x (its name in refs/ is synced while held), the second finds it.
    const first = store.create("refs/x/1", new Uint8Array([1]));
    let secondDone = false;
    const second = store.create("refs/x/2", new Uint8Array([2])).then((ok) => {
      secondDone = true;
      return ok;
    });
    const linked = () => {
      try {
        return [...Deno.readDirSync(`${refs}/x`)].filter((e) => /^\d$/.test(e.name)).length;
      } catch {
        return 0;
      }
    };
    while (linked() < 2) await new Promise((r) => setTimeout(r, 2));
    await new Promise((r) => setTimeout(r, 50));
    assert(!secondDone, "the second create returned before refs/x was synced into refs/");
    release();
    assertEquals(await Promise.all([first, second]), [true, true]);
  }, async (d, run) => {
    if (d === refs) await held;
    await run();
  });
});

Deno.test("a create into a directory another process just made returns once its name is durable", async () => {
  const { root, base, store: a } = fresh();
  await a.put("refs/seed/1", new Uint8Array([0]));
  // Another process: a second store shares none of the first one's in-memory state.
  const b = new LocalStore(base, root, `local://${base}`);
  const refs = `${base}/refs`;
  const exists = (p: string) => {
    try {
      return Deno.lstatSync(p).isDirectory;
    } catch {
      return false;
    }
  };
  let release!: () => void;
  const held = new Promise<void>((r) => release = r);
  let hold = true;
  let named = false; // a sync of refs/ that started once refs/x existed has completed
  await observed(async (syncs) => {
    // a makes refs/x and its sync of refs/ hangs (a crash or power loss would lose it).
    const made = a.create("refs/x/1", new Uint8Array([1]));
    while (!exists(`${refs}/x`)) await new Promise((r) => setTimeout(r, 2));
    assert(await b.create("refs/x/2", new Uint8Array([2])));
    assert(named, "b's create returned before refs/x was synced into refs/");
    // Once named, b's later writes into refs/x sync only it.
    syncs.length = 0;
    assert(await b.create("refs/x/3", new Uint8Array([3])));
    assertEquals(syncs, [`${refs}/x`]);
    release();
    assert(await made);
  }, async (d, run) => {
    if (d === refs && hold) {
      hold = false;
      await held;
      return await run();
    }
    const saw = exists(`${refs}/x`);
    await run();
    if (d === refs && saw) named = true;
  });
  await Deno.remove(root, { recursive: true });
});

Deno.test("a create into an old directory another process made syncs only that directory", async () => {
  const { root, base, store: a } = fresh();
  assert(await a.create("refs/x/1", new Uint8Array([1])));
  const b = new LocalStore(base, root, `local://${base}`);
  await allOld(() =>
    observed(async (syncs) => {
      assert(await b.create("refs/x/2", new Uint8Array([2])));
      assertEquals(syncs, [`${base}/refs/x`]);
    })
  );
  await Deno.remove(root, { recursive: true });
});

/**
 * Local listings of many directories: from `listWorker.minDirs` directories on, a worker
 * thread reads batches of them. The listing must be exactly the one-thread listing, and a
 * worker that never starts or fails a batch leaves its directories to the listing thread.
 */
import { listWorker, LocalStore } from "../../src/storage/local.ts";
import type { ListEntry } from "../../src/storage/store.ts";
import { assert, assertEquals } from "../assert.ts";

/** A store laid out like a trunk: one directory per ref, with temp files and stray keys. */
async function tree(dirs: number): Promise<{ root: string; store: LocalStore }> {
  const root = await Deno.makeTempDir({ prefix: "trunks-list-" });
  const base = `${root}/trunks/t.trunk`;
  for (let i = 0; i < dirs; i++) {
    const dir = `${base}/refs/r${i}`;
    await Deno.mkdir(dir, { recursive: true });
    for (let s = 1; s <= 1 + (i % 3); s++) {
      await Deno.writeTextFile(`${dir}/${String(s).padStart(12, "0")}`, "x".repeat(i % 50 + s));
    }
    if (i % 7 === 0) await Deno.writeTextFile(`${dir}/.tmp-upload`, "partial");
    if (i % 11 === 0) {
      await Deno.mkdir(`${dir}/deeper/still`, { recursive: true });
      await Deno.writeTextFile(`${dir}/deeper/still/k`, "deep");
    }
  }
  await Deno.mkdir(`${base}/segments`, { recursive: true });
  await Deno.writeTextFile(`${base}/segments/s.pack`, "not under refs/");
  return { root, store: new LocalStore(base, root, `local://${base}`) };
}

function plain(entries: ListEntry[]) {
  return entries.map((e) => [e.key, e.size, e.modified.getTime()]);
}

async function listWith(
  minDirs: number,
  store: LocalStore,
  prefix: string,
  after?: string,
): Promise<ListEntry[]> {
  const was = listWorker.minDirs;
  listWorker.minDirs = minDirs;
  try {
    return await store.list(prefix, after);
  } finally {
    listWorker.minDirs = was;
  }
}

/** Runs `fn` with `Worker` replaced (restored after); counts what real workers answer. */
async function withWorker<T>(
  make: (real: typeof Worker) => typeof Worker,
  fn: () => Promise<T>,
): Promise<T> {
  const real = globalThis.Worker;
  globalThis.Worker = make(real);
  try {
    return await fn();
  } finally {
    globalThis.Worker = real;
  }
}

Deno.test("local list: a worker reads part of many directories, and the listing is the same", async () => {
  const { root, store } = await tree(600);
  try {
    const one = await listWith(Infinity, store, "refs/");
    assertEquals(one.length, 600 * 2 + Math.ceil(600 / 11), "every entry, no temp file");
    let fromWorker = 0;
    const both = await withWorker((Real) =>
      class extends Real {
        constructor(url: string | URL, opts?: WorkerOptions) {
          super(url, opts);
          this.addEventListener("message", (ev) => {
            fromWorker += (ev as MessageEvent).data.keys?.length ?? 0;
          });
        }
      }, () => listWith(1, store, "refs/"));
    assertEquals(plain(both), plain(one));
    assert(fromWorker > 0, "the worker read some of the directories");
    // A prefix that ends inside a directory's name, and a start after a key.
    for (const [prefix, after] of [["refs/r1", undefined], ["refs/", "refs/r5/000000000001"]]) {
      assertEquals(
        plain(await listWith(1, store, prefix!, after)),
        plain(await listWith(Infinity, store, prefix!, after)),
        `${prefix} after ${after}`,
      );
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("local list: directories a worker cannot read are read by the listing thread", async () => {
  const { root, store } = await tree(300);
  try {
    const one = plain(await listWith(Infinity, store, "refs/"));
    // A worker that fails to start: its error event, once the listing has handed it batches.
    const dead = await withWorker(() =>
      class {
        onerror: ((ev: ErrorEvent) => void) | null = null;
        constructor() {
          setTimeout(() => this.onerror?.(new ErrorEvent("error", { cancelable: true })), 5);
        }
        postMessage() {}
        terminate() {}
      } as unknown as typeof Worker, () => listWith(1, store, "refs/"));
    assertEquals(plain(dead), one, "a worker that never starts");
    // A worker that fails every batch it is given.
    const failing = await withWorker(() =>
      class {
        onmessage: ((ev: MessageEvent) => void) | null = null;
        postMessage(msg: { id: number }) {
          setTimeout(
            () =>
              this.onmessage?.(new MessageEvent("message", { data: { id: msg.id, failed: true } })),
            1,
          );
        }
        terminate() {}
      } as unknown as typeof Worker, () => listWith(1, store, "refs/"));
    assertEquals(plain(failing), one, "a worker that fails its batches");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

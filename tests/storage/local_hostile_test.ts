import { openStore } from "../../src/storage/registry.ts";
import { StoreError } from "../../src/storage/store.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";

// A push stalled past the grace period can have its half-written upload swept by a clean;
// the push must then fail with one line that says so, not a raw rename error, and leave
// nothing under the key.
Deno.test("local: an upload swept away before it is stored fails with one clear line", async () => {
  const root = await Deno.makeTempDir({ prefix: "trunks-sweep-" });
  const store = await openStore(`local://${root}/trunks/t.trunk`);
  try {
    await store.put("segments/seed", new Uint8Array([0])); // the directory exists
    const dir = `${root}/trunks/t.trunk/segments`;
    let sent = false;
    const data = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent) {
          // The sweep: every temp upload in the directory goes, as a clean would remove it.
          for await (const e of Deno.readDir(dir)) {
            if (e.name.startsWith(".tmp-")) await Deno.remove(`${dir}/${e.name}`);
          }
          return c.close();
        }
        sent = true;
        c.enqueue(new Uint8Array(1024));
      },
    });
    const err = await assertRejects(() => store.put("segments/x.pack", data), StoreError);
    assert(err.message.includes("removed by another process"), err.message);
    assert(!err.message.includes("\n"), "one line");
    assert(!(await store.get("segments/x.pack")), "nothing stored under the key");
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
});

// A store writer swaps the trunk's segments directory for a symlink to a directory of this
// machine: puts and deletes refuse to follow it, and nothing lands or vanishes there.
Deno.test("local: writes and deletes never follow a symlink out of the trunk", async () => {
  const root = await Deno.makeTempDir({ prefix: "trunks-link-" });
  const outside = await Deno.makeTempDir({ prefix: "trunks-outside-" });
  const store = await openStore(`local://${root}/trunks/t.trunk`);
  try {
    await store.put("trunk.json", new Uint8Array([1]));
    const victim = `${outside}/${"a".repeat(64)}.pack`;
    await Deno.writeFile(victim, new Uint8Array([7]));
    await Deno.symlink(outside, `${root}/trunks/t.trunk/segments`);
    const put = await assertRejects(
      () => store.put(`segments/${"b".repeat(64)}.pack`, new Uint8Array([1])),
      StoreError,
    );
    assert(put.message.includes("leads outside"), put.message);
    await assertRejects(() => store.delete(`segments/${"a".repeat(64)}.pack`), StoreError);
    const left = (await Array.fromAsync(Deno.readDir(outside))).map((e) => e.name);
    assert(left.length === 1 && left[0] === `${"a".repeat(64)}.pack`, `outside holds ${left}`);
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

// Creates check the way into the trunk with a few lstat calls instead of resolving every
// path component: a directory already written into and then swapped for a symlink, the
// refs/ directory above new ref directories, and the trunk's own directory swapped for a
// link elsewhere are all still refused, and nothing lands outside.
Deno.test("local: creates never follow a symlink swapped in after earlier writes", async () => {
  const root = await Deno.makeTempDir({ prefix: "trunks-link-" });
  const outside = await Deno.makeTempDir({ prefix: "trunks-outside-" });
  const base = `${root}/trunks/t.trunk`;
  const store = await openStore(`local://${base}`);
  const enc = new TextEncoder();
  const refused = async (key: string) => {
    const err = await assertRejects(() => store.create(key, enc.encode("x")), StoreError);
    assert(err.message.includes("leads outside"), err.message);
  };
  const outsideHolds = async () =>
    (await Array.fromAsync(Deno.readDir(outside))).map((e) => e.name).sort();
  try {
    assert(await store.create("refs/a/000000000001", enc.encode("1")));
    assert(await store.create("refs/b/000000000001", enc.encode("1")));
    // The ref directory itself, written into a moment ago.
    await Deno.remove(`${base}/refs/a`, { recursive: true });
    await Deno.symlink(outside, `${base}/refs/a`);
    await refused("refs/a/000000000002");
    assertEquals(await outsideHolds(), []);
    // refs/ above a new ref's directory.
    await Deno.rename(`${base}/refs`, `${root}/refs-moved`);
    await Deno.symlink(outside, `${base}/refs`);
    await refused("refs/c/000000000001");
    assertEquals(await outsideHolds(), ["c"], "only the directory mkdir made through the link");
    assertEquals(await Array.fromAsync(Deno.readDir(`${outside}/c`)), [], "and nothing in it");
    await Deno.remove(`${base}/refs`);
    await Deno.rename(`${root}/refs-moved`, `${base}/refs`);
    assert(await store.create("refs/b/000000000002", enc.encode("2")), "the trunk is usable");
    // The trunk's own directory, replaced by a link to a look-alike elsewhere.
    await Deno.mkdir(`${outside}/t.trunk/refs/b`, { recursive: true });
    await Deno.rename(base, `${root}/t.trunk-moved`);
    await Deno.symlink(`${outside}/t.trunk`, base);
    await refused("refs/b/000000000003");
    await refused("refs/d/000000000001");
    assertEquals(await Array.fromAsync(Deno.readDir(`${outside}/t.trunk/refs/b`)), []);
    assertEquals(
      (await Array.fromAsync(Deno.readDir(`${outside}/t.trunk/refs`))).map((e) => e.name).sort(),
      ["b", "d"],
      "only what mkdir made through the link",
    );
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

// A new trunk's store probe deletes its key and prunes the trunk's directory, which its
// first writes make again: the shortcut above still applies to the new directory (a push of
// 20,000 refs resolved every path in full, 180,000 readlink calls), and a symlink swapped
// in for the new one is still refused.
Deno.test("local: a trunk directory pruned and made again keeps creates off realpath", async () => {
  const root = await Deno.makeTempDir({ prefix: "trunks-remade-" });
  const outside = await Deno.makeTempDir({ prefix: "trunks-outside-" });
  const base = `${root}/trunks/t.trunk`;
  const store = await openStore(`local://${base}`);
  const enc = new TextEncoder();
  const realPathSync = Deno.realPathSync;
  let resolved = 0;
  try {
    // What probeStore does first: a create, the same create again (refused).
    assert(await store.create("probe/x", enc.encode("1")));
    assert(!await store.create("probe/x", enc.encode("2")));
    // Its delete then prunes the trunk's directory, which the first writes make again. A
    // file system may hand the new directory the old one's inode; moved away, the old one
    // keeps it.
    await Deno.rename(base, `${root}/old.trunk`);
    // Other tests share this process: only calls on this test's paths count.
    Deno.realPathSync = (p: string | URL) => {
      if (String(p).startsWith(root)) resolved++;
      return realPathSync(p);
    };
    for (let i = 0; i < 20; i++) {
      assert(await store.create(`refs/r${i}/000000000001`, enc.encode("1")));
    }
    Deno.realPathSync = realPathSync;
    assert(resolved <= 2, `${resolved} realpath calls for 20 creates`);
    await Deno.rename(base, `${root}/t.trunk-moved`);
    await Deno.mkdir(`${outside}/t.trunk/refs`, { recursive: true });
    await Deno.symlink(`${outside}/t.trunk`, base);
    const err = await assertRejects(
      () => store.create("refs/x/000000000001", enc.encode("x")),
      StoreError,
    );
    assert(err.message.includes("leads outside"), err.message);
    assertEquals(await Array.fromAsync(Deno.readDir(`${outside}/t.trunk/refs/x`)), []);
  } finally {
    Deno.realPathSync = realPathSync;
    await store.close();
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

// Format 2 keeps every entry in refs/: a create into a directory that exists asks with an
// lstat, not a mkdir failing with EEXIST (an error object per create, 0.9 s of a 20,000-ref
// push's main thread). A directory missing, or made anew after a prune, is still made.
Deno.test("local: creates into an existing directory make no mkdir call", async () => {
  const root = await Deno.makeTempDir({ prefix: "trunks-mkdir-" });
  const base = `${root}/trunks/t.trunk`;
  const store = await openStore(`local://${base}`);
  const enc = new TextEncoder();
  const mkdirSync = Deno.mkdirSync;
  const made: string[] = [];
  try {
    assert(await store.create("refs/a~000000000001", enc.encode("1")));
    // Other tests share this process: only calls on this test's paths count.
    Deno.mkdirSync = (p: string | URL, o?: Deno.MkdirOptions) => {
      if (String(p).startsWith(root)) made.push(String(p));
      return mkdirSync(p, o);
    };
    for (let i = 0; i < 20; i++) {
      assert(await store.create(`refs/r${i}~000000000001`, enc.encode("1")));
    }
    await store.put("refs/~snapshot/x", enc.encode("1"));
    assertEquals(made, [`${base}/refs/~snapshot`], "only the directory that was missing");
    await Deno.remove(`${base}/refs`, { recursive: true });
    assert(await store.create("refs/b~000000000001", enc.encode("1")), "pruned: made again");
    assertEquals(made.slice(1), [`${base}/refs`]);
  } finally {
    Deno.mkdirSync = mkdirSync;
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
});

// Anyone who can write to the store can plant a key that is not a file: a link to
// /dev/zero lists as 0 bytes and would be read until memory runs out, a pipe never answers.
// Either is refused at once, in one line naming the key.
Deno.test({
  name: "local: a key that is a link to /dev/zero or a pipe is refused, not read forever",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "trunks-notfile-" });
    const store = await openStore(`local://${root}/trunks/t.trunk`);
    try {
      await store.put("segments/seed", new Uint8Array([0]));
      const dir = `${root}/trunks/t.trunk/segments`;
      await Deno.symlink("/dev/zero", `${dir}/zero.pack`);
      const fifo = await new Deno.Command("mkfifo", { args: [`${dir}/pipe.pack`] }).output();
      assertEquals(fifo.code, 0, "mkfifo");
      for (const key of ["segments/zero.pack", "segments/pipe.pack"]) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const hung = new Promise<string>((r) => timer = setTimeout(() => r("hung"), 5000));
        const outcome = await Promise.race([
          store.get(key).then(() => "read", (e) => e),
          hung,
        ]).finally(() => clearTimeout(timer));
        assert(outcome instanceof StoreError, `${key}: ${outcome}`);
        assertEquals(outcome.code, "corrupt");
        assert(outcome.message.includes(key) && !outcome.message.includes("\n"), outcome.message);
      }
    } finally {
      await store.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});

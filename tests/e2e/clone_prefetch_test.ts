/**
 * A clone's segment is downloaded and indexed while git still reads the listing, before
 * git asks for it (src/trunk/fetch.ts `Prefetch`): staged under temporary names, installed
 * only once git sends `fetch`, and removed when git asks for nothing (`git ls-remote` in
 * an empty repository). The helper is driven here line by line, as git drives it.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  commitFile,
  e2eBackends,
  git,
  makeEnv,
  newRepo,
  ok,
  run,
  trunksBinDir,
  trunkUrl,
} from "./harness.ts";
import { gitSink } from "../../src/helper/fetch.ts";
import { LineReader } from "../../src/helper/io.ts";
import { CountingStore } from "../../src/storage/counting.ts";
import { withDeadline } from "../../src/storage/deadline.ts";
import { openStore } from "../../src/storage/registry.ts";
import type { Range } from "../../src/storage/store.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { prefetch } from "../../src/trunk/fetch.ts";
import { Trunk } from "../../src/trunk/trunk.ts";

const local = e2eBackends().find((b) => b.name === "local")!;
const opts = { sanitizeOps: false, sanitizeResources: false };

/** Reads a web stream into `p`, as LineReader wants its source. */
function byteSource(s: ReadableStream<Uint8Array>) {
  const r = s.getReader();
  let left: Uint8Array | null = null;
  return {
    async read(p: Uint8Array): Promise<number | null> {
      if (!left || left.byteLength === 0) {
        const got = await r.read();
        if (got.done) return null;
        left = got.value;
      }
      const n = Math.min(p.byteLength, left.byteLength);
      p.set(left.subarray(0, n));
      left = left.subarray(n);
      return n;
    },
  };
}

/** The helper in `repo`, answering one command at a time, as git drives it. */
async function start(repo: string, url: string, env: Record<string, string>) {
  const child = new Deno.Command(`${await trunksBinDir()}/git-remote-trunks`, {
    args: ["origin", url],
    cwd: repo,
    env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  const lines = new LineReader(byteSource(child.stdout));
  const stderr = new Response(child.stderr).text();
  const enc = new TextEncoder();
  /** Send `text`; the reply's lines up to the blank line that ends it. */
  const ask = async (text: string): Promise<string[]> => {
    await w.write(enc.encode(text));
    const out: string[] = [];
    for (;;) {
      const l = await lines.next();
      if (l === null || l === "") return out;
      out.push(l);
    }
  };
  /** Send an option; its one-line answer. */
  const option = async (text: string): Promise<string | null> => {
    await w.write(enc.encode(text));
    return await lines.next();
  };
  const end = async () => {
    await w.close();
    const status = await child.status;
    return { code: status.code, stderr: await stderr };
  };
  return { ask, option, end };
}

function packDir(repo: string): string[] {
  return [...Deno.readDirSync(`${repo}/.git/objects/pack`)].map((f) => f.name).sort();
}

/** A prefetched pack's index is written (staged where git does not read it). */
function staged(repo: string): boolean {
  const dir = `${repo}/.git/objects/pack`;
  const inside = (n: string) => {
    try {
      return [...Deno.readDirSync(`${dir}/${n}`)].some((f) => f.name.endsWith(".idx"));
    } catch {
      return false;
    }
  };
  return packDir(repo).some((n) => /^tmp_trunks_.*\.idx$/.test(n) || inside(n));
}

/** A prefetched pack in its staging directory (where index-pack reads it). */
function stagedPack(repo: string): boolean {
  const dir = `${repo}/.git/objects/pack`;
  return packDir(repo).some((n) => {
    try {
      return n.endsWith(".staged") && Deno.statSync(`${dir}/${n}/staged.pack`).isFile;
    } catch {
      return false;
    }
  });
}

async function waitFor(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function pushed(name: string) {
  const e = await makeEnv(local.env);
  const url = await trunkUrl(local, name);
  const a = await newRepo(e, "a");
  for (let i = 0; i < 3; i++) await commitFile(e, a, `f${i}.txt`, `v ${i}\n`);
  await git(e, a, "push", "-q", `trunks::${url}`, "main");
  const empty = `${await Deno.makeTempDir()}/c`;
  await git(e, await Deno.makeTempDir(), "init", "-q", empty);
  return { e, url, a, empty };
}

Deno.test({
  name: "clone prefetch: the segment is indexed before git asks, installed once it does",
  ...opts,
  fn: async () => {
    const { e, url, a, empty } = await pushed("prefetch");
    const h = await start(empty, url, e.env);
    await h.ask("capabilities\n");
    const listed = await h.ask("list\n");
    // Answered once index-pack runs: its pack already sits in its staging directory (on
    // 401a727 the listing was answered first, and the copy waited for it).
    assert(stagedPack(empty), `listing answered before the copy: ${packDir(empty).join(" ")}`);
    const main = listed.find((l) => l.endsWith(" refs/heads/main"))!.split(" ")[0];
    assertEquals(main, (await git(e, a, "rev-parse", "main")).trim());
    // Staged, not installed: index-pack wrote its index, and git sees no object yet (git
    // reads any `.idx` in objects/pack: `git fetch` finding the listed objects there asks
    // the helper for nothing, and the discarded pack leaves its refs dangling; fails on
    // c1f455b).
    await waitFor("the prefetched pack's index", () => staged(empty));
    assert(!packDir(empty).some((n) => n.startsWith("pack-")), packDir(empty).join(" "));
    const seen = await run(e, "git", ["cat-file", "-e", main], { cwd: empty });
    assert(seen.code !== 0, "git sees the staged pack's objects");
    assertEquals(await h.option("option check-connectivity true\n"), "ok");
    const reply = await h.ask(`fetch ${main} refs/heads/main\n\n`);
    assert(reply.includes("connectivity-ok"), reply.join("\n"));
    const files = packDir(empty);
    assertEquals(files.filter((n) => /^pack-.*\.(pack|idx)$/.test(n)).length, 2, files.join(" "));
    assert(!files.some((n) => n.startsWith("tmp_")), files.join(" "));
    const { code, stderr } = await h.end();
    assertEquals(code, 0, stderr);
    await git(e, empty, "update-ref", "refs/heads/main", main);
    await git(e, empty, "fsck", "--strict", "--no-dangling");
  },
});

Deno.test({
  name: "clone prefetch: git asking for nothing (ls-remote) leaves nothing behind",
  ...opts,
  fn: async () => {
    const { e, url, empty } = await pushed("prefetch-unused");
    // Closed at once (the prefetch is stopped midway), and once it was staged.
    for (const wait of [false, true]) {
      const h = await start(empty, url, e.env);
      await h.ask("capabilities\n");
      await h.ask("list\n");
      if (wait) {
        await waitFor("the prefetched pack's index", () => staged(empty));
      }
      const { code, stderr } = await h.end();
      assertEquals(code, 0, stderr);
      assertEquals(packDir(empty), [], `wait=${wait}`);
    }
  },
});

Deno.test({
  name: "clone prefetch on local disk: the store copies the segment, no byte read through it",
  ...opts,
  fn: async () => {
    const { url, empty } = await pushed("prefetch-copy");
    const local = await openStore(url);
    const reads: string[] = [];
    const copies: string[] = [];
    const get = local.get.bind(local);
    local.get = (key: string, range?: Range) => {
      reads.push(key);
      return get(key, range);
    };
    const copy = local.copyToFile?.bind(local);
    if (copy) {
      local.copyToFile = (key: string, dest: string) => {
        copies.push(key);
        return copy(key, dest);
      };
    }
    // Wrapped as the helper opens a storage: the copy must pass through both wrappers.
    const trunk = await Trunk.open(new CountingStore(withDeadline(local)), new MemoryCache(), "t");
    try {
      const early = await prefetch(trunk, gitSink(`${empty}/.git`))!.take();
      assert(early?.pack, "staged");
      await early.pack.install({ whole: true });
      // Fails on 08d36eb: the pack streamed through `get` (64 KiB pieces, hashed, written).
      assertEquals(reads.filter((k) => k.endsWith(".pack")), []);
      assertEquals(copies.filter((k) => /^segments\/[0-9a-f]{64}\.pack$/.test(k)).length, 1);
      const files = packDir(empty);
      assertEquals(files.filter((n) => /^pack-.*\.(pack|idx)$/.test(n)).length, 2, files.join(" "));
      assert(!files.some((n) => n.startsWith("tmp_")), files.join(" "));
    } finally {
      await trunk.store.close();
    }
  },
});

Deno.test({
  name: "clone prefetch: a pack index-pack accepts but not named by its SHA-256 is never installed",
  ...opts,
  fn: async () => {
    const { e, url, a, empty } = await pushed("prefetch-forged");
    const root = new URL(url).pathname;
    const key = [...Deno.readDirSync(`${root}/segments`)].map((f) => `segments/${f.name}`)
      .find((k) => k.endsWith(".pack"))!;
    // The same objects and one more: a valid pack (index-pack checks every object and
    // link and takes it), whose bytes are not the segment's. Only the SHA-256 can tell.
    const extra = (await ok(e, "git", ["hash-object", "-w", "--stdin"], {
      cwd: a,
      stdin: "not in the segment\n",
    })).trim();
    const objects = await git(e, a, "rev-list", "--objects", "--all");
    const base = `${await Deno.makeTempDir()}/forged`;
    const name = (await ok(e, "git", ["pack-objects", "-q", base], {
      cwd: a,
      stdin: `${objects}${extra}\n`,
    })).trim();
    await Deno.copyFile(`${base}-${name}.pack`, `${root}/${key}`);
    const h = await start(empty, url, e.env);
    await h.ask("capabilities\n");
    const main = (await h.ask("list\n")).find((l) => l.endsWith(" refs/heads/main"))!.split(" ")[0];
    assertEquals(await h.option("option check-connectivity true\n"), "ok");
    await h.ask(`fetch ${main} refs/heads/main\n\n`);
    const { code, stderr } = await h.end();
    assert(code !== 0, "the fetch should fail");
    assertMatch(stderr, new RegExp(`segment ${key.replace(".", "\\.")} on .* is corrupt`));
    assertEquals(packDir(empty), []);
  },
});

Deno.test({
  name: "clone prefetch: a clone of several segments lists segments/ and blobs/ once",
  ...opts,
  fn: async () => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, "prefetch-several");
    const a = await newRepo(e, "a");
    // Three pushes, no maintenance: three segments, joined and staged early; the fetch
    // then installs by the prefetch's plan rather than listing everything again.
    const env = { TRUNKS_AUTO_MAINTENANCE: "0" };
    for (let i = 0; i < 3; i++) {
      await commitFile(e, a, `f${i}.txt`, `v ${i}\n`);
      await run(e, "git", ["push", "-q", `trunks::${url}`, "main"], { cwd: a, env });
    }
    const c = `${await Deno.makeTempDir()}/c`;
    const r = await run(e, "git", ["clone", "-q", `trunks::${url}`, c], {
      env: { TRUNKS_DEBUG_REQUESTS: "1" },
    });
    assertEquals(r.code, 0, r.stderr);
    const lists = [...r.stderr.matchAll(/^trunks-requests \S+ (.*)$/gm)]
      .map((m) => JSON.parse(m[1]).requests["store.list"] ?? 0);
    // refs/, storages/, segments/, blobs/: once each (fails on 08d36eb: 6, the fetch
    // listed the last two again after the prefetch had).
    assertEquals(lists, [4], r.stderr);
    assertEquals(
      (await git(e, c, "rev-parse", "main")).trim(),
      (await git(e, a, "rev-parse", "main")).trim(),
    );
    await git(e, c, "fsck", "--strict", "--no-dangling");
    const packs = [...Deno.readDirSync(`${c}/.git/objects/pack`)].filter((f) =>
      f.name.endsWith(".pack")
    );
    assertEquals(packs.length, 1);
  },
});

Deno.test({
  name: "clone prefetch of several segments: joined and indexed before git asks, one pack",
  ...opts,
  fn: async () => {
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, "prefetch-joined");
    const a = await newRepo(e, "a");
    // Three pushes, no maintenance: three segments (a long log's merged segments and its
    // newest pushes').
    for (let i = 0; i < 3; i++) {
      await commitFile(e, a, `f${i}.txt`, `v ${i}\n`);
      await git(e, a, "push", "-q", `trunks::${url}`, "main");
    }
    const empty = `${await Deno.makeTempDir()}/c`;
    await git(e, await Deno.makeTempDir(), "init", "-q", empty);
    // git asking for nothing (ls-remote) leaves nothing behind.
    let h = await start(empty, url, e.env);
    await h.ask("capabilities\n");
    await h.ask("list\n");
    let end = await h.end();
    assertEquals(end.code, 0, end.stderr);
    assertEquals(packDir(empty), []);
    h = await start(empty, url, e.env);
    await h.ask("capabilities\n");
    const listed = await h.ask("list\n");
    // Answered once index-pack runs on the join (fails on 91c973a: the segments were
    // downloaded and joined only after git's `fetch`, then indexed).
    assert(stagedPack(empty), `listing answered before the join: ${packDir(empty).join(" ")}`);
    await waitFor("the prefetched pack's index", () => staged(empty));
    assert(!packDir(empty).some((n) => n.startsWith("pack-")), packDir(empty).join(" "));
    const main = listed.find((l) => l.endsWith(" refs/heads/main"))!.split(" ")[0];
    assertEquals(await h.option("option check-connectivity true\n"), "ok");
    const reply = await h.ask(`fetch ${main} refs/heads/main\n\n`);
    assert(reply.includes("connectivity-ok"), reply.join("\n"));
    const files = packDir(empty);
    assertEquals(files.filter((n) => /^pack-.*\.(pack|idx)$/.test(n)).length, 2, files.join(" "));
    assert(!files.some((n) => n.startsWith("tmp_")), files.join(" "));
    end = await h.end();
    assertEquals(end.code, 0, end.stderr);
    await git(e, empty, "update-ref", "refs/heads/main", main);
    await git(e, empty, "fsck", "--strict", "--no-dangling");
    assertEquals(
      await git(e, empty, "rev-list", "--objects", "main"),
      await git(e, a, "rev-list", "--objects", "main"),
    );
  },
});

Deno.test({
  name: "clone prefetch: `underway` once index-pack is started, or the prefetch has ended",
  ...opts,
  fn: async () => {
    const { url, empty } = await pushed("prefetch-underway");
    const trunk = await Trunk.open(await openStore(url), new MemoryCache(), "t");
    try {
      for (const fail of [false, true]) {
        const sink = gitSink(`${empty}/.git`);
        const stage = sink.stage!;
        let started = false;
        sink.stage = (path, hint, signal, underway) => {
          // Refused as a sink refuses: its file removed.
          if (fail) return Deno.remove(path).then(() => Promise.reject(new Error("refused")));
          return stage(path, hint, signal, () => {
            started = true;
            underway?.();
          });
        };
        const p = prefetch(trunk, sink)!;
        // Fails on 401a727 (no `underway`: nothing waited for).
        await p.underway;
        assertEquals(started, !fail, `fail=${fail}`);
        const early = await p.take();
        assertEquals(!!early?.pack, !fail);
        await early?.pack?.discard();
      }
      // A store that cannot copy files (a download from the network): at once.
      const remote = await Trunk.open(await openStore(url), new MemoryCache(), "t");
      remote.store.copyToFile = undefined;
      const p = prefetch(remote, gitSink(`${empty}/.git`))!;
      let settled = false;
      p.underway.then(() => settled = true);
      await Promise.resolve();
      assert(settled, "underway waits on a network download");
      await p.discard();
      await remote.store.close();
      assertEquals(packDir(empty), []);
    } finally {
      await trunk.store.close();
    }
  },
});

Deno.test({
  name: "clone prefetch: a repository holding objects from elsewhere starts no prefetch work",
  ...opts,
  fn: async () => {
    const { e, url, a } = await pushed("prefetch-elsewhere");
    // A clone of the same history from another remote (a GitHub mirror): its fetches from
    // the trunk are up to date, so it never ingests a segment from it.
    const other = `${await Deno.makeTempDir()}/o`;
    await git(e, await Deno.makeTempDir(), "clone", "-q", a, other);
    await git(e, other, "remote", "add", "trunk", `trunks::${url}`);
    const trace = `${await Deno.makeTempDir()}/trace2.json`;
    for (let i = 0; i < 2; i++) {
      await ok(e, "git", ["fetch", "-q", "trunk"], {
        cwd: other,
        env: { GIT_TRACE2_EVENT: trace },
      });
    }
    // Each listing waited for a `git rev-parse --show-object-format` and the fetch code
    // (d345fe2), for a prefetch such a repository never makes.
    const started = (await Deno.readTextFile(trace)).split("\n").filter((l) =>
      l.includes('"event":"start"') && l.includes("--show-object-format")
    );
    assertEquals(started, []);
  },
});

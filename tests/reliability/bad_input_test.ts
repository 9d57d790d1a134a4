/**
 * The bad-input catalogue: each case is driven through real git and the remote helper,
 * and must end in one line naming what was wrong and what to do, a non-zero exit, and
 * nothing written anywhere (the store's keys and the local refs unchanged).
 */
import { FORMAT, TRUNK_JSON } from "../../src/trunk/layout.ts";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  type Backend,
  commitFile,
  type Env,
  git,
  makeEnv,
  newRepo,
  ok,
  type Run,
  run,
  trunkUrl,
} from "../e2e/harness.ts";
import { allBackends, openTrunkStore, reliabilityBackends, snapshot, trunksLine } from "./lib.ts";
import { getBytes, type Store } from "../../src/storage/store.ts";
import { refEntryKey } from "../keys.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** A failure with exactly one line of ours that matches `re`, and no stack trace. */
function assertOneLineError(r: Run, re: RegExp, what: string) {
  assert(r.code !== 0, `${what}: expected a non-zero exit, got 0\n${r.stdout}`);
  const line = trunksLine(r.stderr);
  assertMatch(line, re, `${what}: stderr was:\n${r.stderr}`);
  assert(!/^\s+at /m.test(r.stderr), `${what}: stack trace on stderr:\n${r.stderr}`);
  assertEquals(
    r.stderr.split("\n").filter((l) => l.startsWith("fatal: trunks:")).length,
    1,
    `${what}: one line of ours`,
  );
}

Deno.test({
  name: "bad input: malformed URLs, unknown schemes, not a trunk URL, bad timeout setting",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const a = await newRepo(e, "a");
    const root = await Deno.makeTempDir({ prefix: "trunks-store-" });
    const cases: [string, RegExp, Record<string, string>?][] = [
      ["local//no-scheme/trunks/x.trunk", /malformed storage URL .*expected scheme:\/\/location/],
      ["nosuch://bucket/trunks/x.trunk", /unknown storage scheme "nosuch:".*known: /],
      [`local://${root}`, /is not a trunk URL: it must end in \/<name>\.trunk/],
      [`local://${root}/trunks/x.trunk`, /TRUNKS_STORE_TIMEOUT="soon" is not a number of seconds/, {
        TRUNKS_STORE_TIMEOUT: "soon",
      }],
      ["local://host/srv/trunks/x.trunk", /a local path must be absolute/],
      ["local:///tmp/trunks/%zz.trunk", /broken %-escape/],
      [
        "s3://bad_bucket!/trunks/x.trunk",
        /malformed storage URL|is not a bucket name/,
      ],
    ];
    for (const [url, re, env] of cases) {
      const r = await run(e, "git", ["push", `trunks::${url}`, "main"], { cwd: a, env });
      assertOneLineError(r, re, url);
    }
    assertEquals([...Deno.readDirSync(root)], [], "nothing written to the root");
  },
});

Deno.test({
  name: "bad input: trunk names with '..', '/', NUL, control characters, over-long; unicode works",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const a = await newRepo(e, "a");
    const parent = await Deno.makeTempDir({ prefix: "trunks-parent-" });
    const root = `${parent}/root`;
    await Deno.mkdir(root);
    const bad: [string, RegExp][] = [
      ["..%2F..%2Fescape", /trunk name "\.\.\/\.\.\/escape" contains a path separator/],
      ["%2E%2E", /trunk name "\.\." starts or ends with '\.' or contains '\.\.'/],
      ["a%2Fb", /contains a path separator/],
      ["a%5Cb", /contains a path separator/],
      ["a%00b", /contains a control character or NUL/],
      ["a%0Ab", /contains a control character or NUL/],
      ["x".repeat(300), /is longer than 200 bytes/],
    ];
    for (const [name, re] of bad) {
      const url = `local://${root}/trunks/${name}.trunk`;
      const r = await run(e, "git", ["push", `trunks::${url}`, "main"], { cwd: a });
      assertOneLineError(r, re, name);
      assertMatch(trunksLine(r.stderr), /use letters, digits/);
    }
    assertEquals([...Deno.readDirSync(root)], [], "nothing under the root");
    assertEquals([...Deno.readDirSync(parent)].map((d) => d.name), ["root"], "nothing beside it");
    // Unicode names are names like any other.
    const uni = `trunks::local://${root}/trunks/${encodeURIComponent("café-日本")}.trunk`;
    await git(e, a, "push", "-q", uni, "main");
    const c = `${await Deno.makeTempDir()}/c`;
    await ok(e, "git", ["clone", "-q", uni, c]);
    assertEquals(await git(e, c, "rev-parse", "HEAD"), await git(e, a, "rev-parse", "main"));
  },
});

Deno.test({
  name: "bad input: huge and odd ref names round-trip; a refspec git rejects stays git's error",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const a = await newRepo(e, "a");
    const remote = `trunks::local://${await Deno.makeTempDir()}/trunks/app.trunk`;
    const long = `refs/heads/${
      Array.from({ length: 40 }, (_, i) => `part${i}-xxxxxxxxxx`).join("/")
    }`;
    const odd = "refs/heads/ünï/çødé+=%@";
    await git(e, a, "update-ref", long, "HEAD");
    await git(e, a, "update-ref", odd, "HEAD");
    await git(e, a, "push", "-q", remote, "main", long, odd);
    const ls = await git(e, a, "ls-remote", remote);
    assert(ls.includes(long), "long ref listed");
    assert(ls.includes(odd), "odd ref listed");
    const c = `${await Deno.makeTempDir()}/c`;
    await ok(e, "git", ["clone", "-q", "--mirror", remote, c]);
    assertEquals(
      (await git(e, c, "rev-parse", long)).trim(),
      (await git(e, a, "rev-parse", "HEAD")).trim(),
    );
  },
});

/** A pushed trunk on `b` with its store open and a snapshot to compare against. */
async function pushed(b: Backend) {
  const e = await makeEnv(b.env);
  const url = await trunkUrl(b, "app");
  const remote = `trunks::${url}`;
  const a = await newRepo(e, "a");
  await git(e, a, "push", "-q", remote, "main");
  const store = await openTrunkStore(b, url);
  return { e, url, remote, a, store };
}

/**
 * A push from a repository that never saw the trunk, a fetch and a clone must all fail
 * with `re`, and the store must not change. (A repository that already read an object
 * keeps its verified copy, so damage done later is found by the next fresh reader.)
 */
async function assertRefused(
  e: Env,
  _a: string,
  remote: string,
  store: Store,
  re: RegExp,
  what: string,
) {
  const fresh = await newRepo(e, "fresh");
  await commitFile(e, fresh, `${crypto.randomUUID()}.txt`, "x\n");
  const before = await snapshot(store);
  assertOneLineError(
    await run(e, "git", ["push", remote, "main:refs/heads/other"], { cwd: fresh }),
    re,
    `${what} push`,
  );
  assertOneLineError(
    await run(e, "git", ["fetch", remote], { cwd: fresh }),
    re,
    `${what} fetch`,
  );
  assertOneLineError(
    await run(e, "git", ["clone", remote, "c"], { cwd: await Deno.makeTempDir() }),
    re,
    `${what} clone`,
  );
  assertEquals(await snapshot(store), before, `${what}: nothing written`);
}

const MAIN_1 = refEntryKey("refs/heads/main", 1);
const enc = new TextEncoder();
const dec = new TextDecoder();

for (const b of allBackends()) {
  Deno.test({
    name: `bad input ${b.name}: damaged trunk.json (not JSON, edited, newer format)`,
    ...opts,
    fn: async () => {
      const { e, remote, a, store } = await pushed(b);
      try {
        const good = await getBytes(store, TRUNK_JSON);
        const meta = JSON.parse(dec.decode(good!));
        assert(typeof meta.sum === "string", "trunk.json is sealed");

        await store.put(TRUNK_JSON, enc.encode(dec.decode(good!).slice(0, 30)));
        await assertRefused(e, a, remote, store, /trunk\.json is not valid JSON/, "truncated");

        await store.put(
          TRUNK_JSON,
          enc.encode(JSON.stringify({ ...meta, objectFormat: "sha256" })),
        );
        await assertRefused(
          e,
          a,
          remote,
          store,
          /trunk\.json does not match its seal .*run trunks check/,
          "edited",
        );

        const { sum: _sum, ...unsealed } = meta;
        await store.put(TRUNK_JSON, enc.encode(JSON.stringify({ ...unsealed, format: 99 })));
        await assertRefused(
          e,
          a,
          remote,
          store,
          new RegExp(
            `uses format 99, newer than this trunks .* understands \\(${FORMAT}\\); upgrade trunks`,
          ),
          "newer format",
        );

        // An older trunk.json without a seal is still read.
        await store.put(TRUNK_JSON, enc.encode(JSON.stringify(unsealed)));
        const fresh = await newRepo(e, "compat");
        await ok(e, "git", ["push", "-q", remote, "main:refs/heads/compat"], { cwd: fresh });
      } finally {
        await store.close();
      }
    },
  });

  Deno.test({
    name: `bad input ${b.name}: damaged ref entries (not JSON, edited oid, wrong seq) are named`,
    ...opts,
    fn: async () => {
      const { e, remote, a, store } = await pushed(b);
      try {
        const good = dec.decode((await getBytes(store, MAIN_1))!);
        const entry = JSON.parse(good);
        assert(typeof entry.sum === "string", "ref entries are sealed");

        await store.put(MAIN_1, enc.encode(good.slice(0, 20)));
        await assertRefused(
          e,
          a,
          remote,
          store,
          new RegExp(`ref entry ${MAIN_1} is not valid JSON`),
          "truncated entry",
        );

        // Still valid JSON, still a plausible oid: only the seal can tell.
        const forged = {
          ...entry,
          new: entry.new.replace(/^./, (c: string) => c === "a" ? "b" : "a"),
        };
        await store.put(MAIN_1, enc.encode(JSON.stringify(forged)));
        await assertRefused(
          e,
          a,
          remote,
          store,
          new RegExp(`ref entry ${MAIN_1} does not match its seal`),
          "edited entry",
        );

        await store.put(MAIN_1, enc.encode(JSON.stringify({ ...entry, seq: 7 })));
        await assertRefused(
          e,
          a,
          remote,
          store,
          new RegExp(`ref entry ${MAIN_1} does not describe that ref and seq`),
          "wrong seq",
        );

        // Entries written before seals existed are accepted.
        const { sum: _sum, ...unsealed } = entry;
        await store.put(MAIN_1, enc.encode(JSON.stringify(unsealed)));
        const fresh = await newRepo(e, "compat");
        await ok(e, "git", ["push", "-q", remote, "main:refs/heads/compat"], { cwd: fresh });
        assertMatch(await git(e, fresh, "ls-remote", remote), /refs\/heads\/main/);
      } finally {
        await store.close();
      }
    },
  });

  Deno.test({
    name:
      `bad input ${b.name}: a pack whose bytes do not match its name is named; fetcher unharmed`,
    ...opts,
    fn: async () => {
      const { e, remote, a, store } = await pushed(b);
      try {
        const bdir = `${await Deno.makeTempDir()}/b`;
        await ok(e, "git", ["clone", "-q", remote, bdir]);
        const before = await git(e, bdir, "rev-parse", "origin/main");
        const old = new Set((await store.list("segments/")).map((s) => s.key));
        await commitFile(e, a, "new.txt", "new\n");
        await git(e, a, "push", "-q", remote, "main");
        const victim = (await store.list("segments/")).map((s) => s.key).find((k) =>
          !old.has(k) && k.endsWith(".pack")
        )!;
        const bytes = (await getBytes(store, victim))!;
        bytes[bytes.length >> 1] ^= 0xff;
        await store.put(victim, bytes);
        const r = await run(e, "git", ["fetch", "origin"], { cwd: bdir });
        assertOneLineError(
          r,
          new RegExp(`segment ${victim.replace(".", "\\.")} on .* is corrupt: .*run trunks check`),
          "corrupt pack",
        );
        assertEquals(await git(e, bdir, "rev-parse", "origin/main"), before);
        await git(e, bdir, "fsck", "--strict", "--no-dangling");
        const leftovers = [...Deno.readDirSync(`${bdir}/.git/objects/pack`)].filter((f) =>
          f.name.startsWith("tmp_")
        );
        assertEquals(leftovers, []);
      } finally {
        await store.close();
      }
    },
  });
}

Deno.test({
  name: "bad input: a missing local store root is named as such, and nothing is created",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const a = await newRepo(e, "a");
    const gone = `${await Deno.makeTempDir()}/not-there`;
    const url = `trunks::local://${gone}/trunks/x.trunk`;
    const push = await run(e, "git", ["push", url, "main"], { cwd: a });
    assertOneLineError(
      push,
      /store path .*not-there does not exist; create it or fix the URL/,
      "push",
    );
    const clone = await run(e, "git", ["clone", url, "c"], { cwd: await Deno.makeTempDir() });
    assertOneLineError(clone, /store path .*not-there does not exist/, "clone");
    const ls = await run(e, "git", ["ls-remote", url], { cwd: a });
    assertOneLineError(ls, /store path .*not-there does not exist/, "ls-remote");
    assert(!(await Deno.stat(gone).then(() => true, () => false)), "root not created");
    // An existing root with no trunk yet: "no trunk", with what to do.
    const empty = await Deno.makeTempDir();
    const none = await run(e, "git", ["clone", `trunks::local://${empty}/trunks/none.trunk`, "x"], {
      cwd: await Deno.makeTempDir(),
    });
    assertOneLineError(none, /no trunk at .* \(no trunk\.json\); check the URL, or push/, "none");
  },
});

const minio = reliabilityBackends().find((b) => b.name === "minio");
if (minio) {
  Deno.test({
    name: "bad input minio: missing bucket and wrong credentials: one line, secret never shown",
    ...opts,
    fn: async () => {
      const e = await makeEnv(minio.env);
      const a = await newRepo(e, "a");
      const root = new URL(await minio.root());
      const nobucket = new URL(root);
      nobucket.hostname = "no-such-bucket-trunks";
      nobucket.pathname = "/trunks/x.trunk";
      const r1 = await run(e, "git", ["push", `trunks::${nobucket}`, "main"], { cwd: a });
      assertOneLineError(
        r1,
        /bucket 'no-such-bucket-trunks' does not exist at .*; create it/,
        "bucket",
      );

      const wrong = "WRONG-secret-1234567890";
      const url = new URL(root);
      url.pathname = `${url.pathname}/trunks/x.trunk`;
      const r2 = await run(e, "git", ["push", `trunks::${url}`, "main"], {
        cwd: a,
        env: { AWS_SECRET_ACCESS_KEY: wrong },
      });
      assertOneLineError(r2, /access|denied|credential|signature|secret/i, "wrong credentials");
      assert(!r2.stderr.includes(wrong), "the wrong secret is not echoed");
      assert(!r2.stderr.includes(minio.env.AWS_SECRET_ACCESS_KEY), "nor the right one");
    },
  });
}

Deno.test({
  name: "bad input: a large blob whose chunk is missing is named; the clone leaves nothing",
  ...opts,
  fn: async () => {
    const e = await makeEnv({ TRUNKS_LARGE_BLOB_THRESHOLD: "64k" });
    const root = await Deno.makeTempDir({ prefix: "trunks-store-" });
    const path = `${root}/trunks/big.trunk`;
    const remote = `trunks::local://${path}`;
    const a = await newRepo(e, "a");
    // Seeded, not random: random bytes leave a 3 MiB blob in one chunk (no cut point before
    // the 4 MiB maximum) a few times in a hundred, and then there is no second chunk to lose.
    const data = new Uint8Array(3 * 1024 * 1024);
    for (let i = 0, x = 0x9e3779b9; i < data.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = x & 0xff;
    }
    await Deno.writeFile(`${a}/big.bin`, data);
    await git(e, a, "add", "big.bin");
    await git(e, a, "commit", "-qm", "big");
    await git(e, a, "push", "-q", remote, "main");
    const chunks = [...Deno.readDirSync(`${path}/chunks`)].map((f) => f.name).sort();
    assert(chunks.length > 1, `the blob was chunked: ${chunks.length}`);
    const victim = `${path}/chunks/${chunks[1]}`;
    const saved = await Deno.readFile(victim);
    await Deno.remove(victim);

    const parent = await Deno.makeTempDir();
    const r = await run(e, "git", ["clone", remote, "c"], { cwd: parent });
    assertOneLineError(
      r,
      new RegExp(`chunk .*${chunks[1].slice(0, 12)}.* of blob [0-9a-f]{40} is missing`),
      "missing chunk",
    );
    assertEquals([...Deno.readDirSync(parent)], [], "git removed the half clone");

    // Put back, the same clone works and the blob is whole.
    await Deno.writeFile(victim, saved);
    await ok(e, "git", ["clone", "-q", remote, "c"], { cwd: parent });
    assertEquals(await Deno.readFile(`${parent}/c/big.bin`), data);
    await git(e, `${parent}/c`, "fsck", "--strict", "--no-dangling");
  },
});

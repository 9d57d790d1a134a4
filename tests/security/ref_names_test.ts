/**
 * Ref entries are written by whoever can write the store. A crafted ref name (newline,
 * space, control character, `..`, overlong) or an entry stored under another ref's key
 * must never reach git: readers skip it, naming the key, and git's `list` shows only
 * valid refs. The name rules agree with `git check-ref-format` itself.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { commitFile, type Env, git, makeEnv, newRepo, ok, run } from "../e2e/harness.ts";
import { openStore } from "../../src/storage/registry.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { badRefName } from "../../src/trunk/ref_format.ts";
import { parseEntry, readRefState, type RefEntry, UnsafeEntryError } from "../../src/trunk/refs.ts";
import { seal } from "../../src/trunk/seal.ts";
import { listSegments } from "../../src/trunk/segments.ts";
import { layout, refEntryKey } from "../keys.ts";
import type { Store } from "../../src/storage/store.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

const VALID = [
  "HEAD",
  "refs/heads/main",
  "refs/heads/feature/x-y_z",
  "refs/tags/v1.0.0",
  "refs/heads/ünïcode",
  "refs/remotes/origin/main",
  // A right-to-left mark only moves the neutral characters beside it: allowed.
  "refs/heads/\u05e2\u05d1\u200f-fix",
];

/** Names git takes that would change how the text around them is shown (ref_format.ts). */
const SPOOFING = [
  "refs/heads/review-\u202egnp.exe",
  "refs/heads/iso\u2066late\u2069",
  "refs/heads/c1-\u009b31m",
  "refs/heads/line\u2028refs/heads/main",
];

const CRAFTED = [
  "refs/heads/a\nrefs/heads/injected",
  "refs/heads/x y",
  "refs/heads/tab\there",
  "refs/heads/bell\u0007",
  "refs/heads/del\u007f",
  "refs/heads/../../etc",
  "refs/heads/a..b",
  "refs/heads/x.lock",
  "refs/heads/.hidden",
  "refs/heads/a@{1}",
  "refs/heads/a//b",
  "refs/heads/a:b",
  "refs/heads/a\\b",
  "refs/heads/star*",
  "refs/heads/end.",
  "refs/heads/end/",
  "main",
  `refs/heads/${"x".repeat(2000)}`,
  ...SPOOFING,
];

Deno.test("ref names: the rules agree with git check-ref-format", async () => {
  for (const name of [...VALID.filter((n) => n !== "HEAD"), ...CRAFTED]) {
    const r = await new Deno.Command("git", { args: ["check-ref-format", name] }).output();
    const ours = badRefName(name) === null;
    // git sets no length limit and prints what a terminal acts on; trunks refuses names
    // longer than 1024 bytes and those.
    const gits = r.code === 0 && name.length <= 1024 && !SPOOFING.includes(name);
    assertEquals(ours, gits, `${JSON.stringify(name)}: trunks ${ours}, git ${gits}`);
  }
  assertEquals(badRefName("HEAD"), null);
});

const ZERO = "0".repeat(40);
const OID = "1".repeat(40);

function entry(ref: string, seq = 1, extra: Partial<RefEntry> = {}): RefEntry {
  return seal({
    ref,
    seq,
    old: ZERO,
    new: OID,
    time: new Date().toISOString(),
    writer: "attacker",
    segments: [],
    ...extra,
  });
}

Deno.test("ref entries: crafted names, bad fields and entries under another ref's key are refused naming the key", () => {
  for (const ref of CRAFTED) {
    const key = refEntryKey(ref, 1);
    let err: unknown;
    try {
      parseEntry(JSON.stringify(entry(ref)), key, layout);
    } catch (e) {
      err = e;
    }
    assert(err instanceof UnsafeEntryError, `${JSON.stringify(ref)} was accepted`);
    assert(!(err as Error).message.includes("\n"), "one line");
    assert((err as Error).message.includes(key), "names the key");
  }
  const main = refEntryKey("refs/heads/main", 1);
  const bad: [string, Partial<RefEntry>][] = [
    ["symref", { ref: "HEAD", symref: "refs/heads/a\nb", new: ZERO }],
    ["segment", { segments: ["../../x"] }],
    ["writer", { writer: "evil\u001b[2J" }],
    ["count", { segments: Array(10_001).fill("a".repeat(64)) }],
  ];
  for (const [what, extra] of bad) {
    const e = entry(extra.ref ?? "refs/heads/main", 1, extra);
    const key = extra.ref === "HEAD" ? refEntryKey("HEAD", 1) : main;
    let err: unknown;
    try {
      parseEntry(JSON.stringify(e), key, layout);
    } catch (x) {
      err = x;
    }
    assert(err instanceof UnsafeEntryError, `${what} was accepted`);
  }
  // A long-name key (hashed) must be the encoding of the entry's ref.
  const hashed = layout.keyOf(`${"a".repeat(112)}==${"0".repeat(64)}`, 1);
  let err: unknown;
  try {
    parseEntry(JSON.stringify(entry("refs/heads/main")), hashed, layout);
  } catch (x) {
    err = x;
  }
  assert(err instanceof UnsafeEntryError);
  for (const ref of VALID.filter((r) => r !== "HEAD")) {
    assertEquals(parseEntry(JSON.stringify(entry(ref)), refEntryKey(ref, 1), layout).ref, ref);
  }
  // A lone surrogate (a JSON escape) encodes as U+FFFD does: under that name's key, the
  // entry would reach git as another name than its own.
  for (const ref of ["refs/heads/x\ud800", "refs/heads/\udc00y"]) {
    const key = refEntryKey(ref, 1);
    assertEquals(key, refEntryKey(ref.replace(/[\ud800-\udfff]/, "\ufffd"), 1));
    let err: unknown;
    try {
      parseEntry(JSON.stringify(entry(ref)), key, layout);
    } catch (x) {
      err = x;
    }
    assert(err instanceof UnsafeEntryError, `${JSON.stringify(ref)} was accepted`);
  }
});

Deno.test("ref entries: a field that passed in one entry vouches for no other value (a clone checks 20,000 alike)", () => {
  const main = refEntryKey("refs/heads/main", 1);
  const good = () => ({
    new: OID,
    segments: ["a".repeat(64)],
    writer: "w@h",
    trunk: "t",
    time: "2026-01-01T00:00:00Z",
  });
  const bad: [string, Partial<RefEntry>, typeof UnsafeEntryError | undefined][] = [
    ["a segment id", { segments: ["a".repeat(64), "a".repeat(63)] }, UnsafeEntryError],
    ["an uppercase segment id", { segments: ["A".repeat(64)] }, UnsafeEntryError],
    ["a writer", { writer: "w@h\n" }, UnsafeEntryError],
    ["a time", { time: "2026\u0000" }, UnsafeEntryError],
    ["a trunk id", { trunk: "t\u001b" }, UnsafeEntryError],
    ["a new oid", { new: OID.slice(1) }, undefined],
    ["an old oid", { old: `${ZERO.slice(1)}g` }, undefined],
    ["an oid in an array", { new: [OID] as unknown as string }, undefined],
  ];
  for (const [what, extra, kind] of bad) {
    // The good values pass first and again after, so each bad one follows a pass.
    parseEntry(JSON.stringify(entry("refs/heads/main", 1, good())), main, layout, true);
    let err: unknown;
    try {
      parseEntry(
        JSON.stringify(entry("refs/heads/main", 1, { ...good(), ...extra })),
        main,
        layout,
        true,
      );
    } catch (x) {
      err = x;
    }
    assert(err instanceof (kind ?? Error), `${what} was accepted (${err})`);
    if (!kind) assert(!(err instanceof UnsafeEntryError) && /does not describe/.test(String(err)));
    parseEntry(JSON.stringify(entry("refs/heads/main", 1, good())), main, layout, true);
  }
});

Deno.test("ref names: each rule names itself, whatever name passed before", () => {
  const cases: [string, RegExp][] = [
    ["refs/heads/a b", /control character or space/],
    ["refs/heads/a~b", /one of ~/],
    ["refs/heads/a..b", /contains \.\./],
    ["refs/heads/a@{b", /contains @\{/],
    ["refs/heads/a/", /ends with \/ or \./],
    ["refs/heads/a.", /ends with \/ or \./],
    ["refs/heads//a", /empty component/],
    ["refs/heads/.a", /starting with \./],
    ["refs/heads/a.lock/b", /ending in \.lock/],
    ["refs/heads/a\ud800", /lone surrogate/],
    [`refs/heads/${"\u00e9".repeat(600)}`, /longer than/],
    ...SPOOFING.map((n): [string, RegExp] => [n, /changes how text is shown/]),
  ];
  for (const [name, why] of cases) {
    assertEquals(badRefName("refs/heads/fine.lockx/a.b"), null);
    assertMatch(badRefName(name) ?? "accepted", why, JSON.stringify(name.slice(0, 40)));
  }
});

async function plant(store: Store, trunkId: string, segments: string[], oid: string) {
  for (const ref of CRAFTED) {
    const e = entry(ref, 1, { trunk: trunkId, new: oid, segments });
    await store.create(refEntryKey(ref, 1), new TextEncoder().encode(JSON.stringify(e)));
  }
  // An entry under a hashed long-name key that claims to be main, at a high seq.
  const fake = entry("refs/heads/main", 1, { trunk: trunkId, new: oid, segments });
  await store.create(
    layout.keyOf(`${"a".repeat(112)}==${"0".repeat(64)}`, 1),
    new TextEncoder().encode(JSON.stringify(fake)),
  );
}

/** A repository whose main is pushed to a new trunk on local disk, its remote `origin`. */
async function pushedLocal(): Promise<{ e: Env; url: string; repo: string }> {
  const e = await makeEnv();
  const root = await Deno.makeTempDir({ prefix: "trunks-store-" });
  const url = `local://${root}/trunks/app.trunk`;
  const repo = await newRepo(e);
  await git(e, repo, "remote", "add", "origin", `trunks::${url}`);
  await git(e, repo, "push", "-q", "origin", "main");
  return { e, url, repo };
}

Deno.test({
  name:
    "ref names: crafted entries in a trunk never reach git (ls-remote, clone, fetch show only valid refs)",
  ...opts,
  fn: async () => {
    const { e, url, repo } = await pushedLocal();
    const first = (await git(e, repo, "rev-parse", "HEAD")).trim();
    await commitFile(e, repo, "b.txt", "two\n");
    await git(e, repo, "push", "-q", "origin", "main");
    const head = (await git(e, repo, "rev-parse", "HEAD")).trim();

    const store = await openStore(url);
    try {
      const meta = (await readMeta(store))!;
      const segs = (await listSegments(store)).map((s) => s.id);
      await plant(store, meta.id, segs, first);
      // The library's reader skips them too.
      const state = await readRefState(store, new MemoryCache(), meta);
      assertEquals([...state.latest.keys()].sort(), ["HEAD", "refs/heads/main"]);
      assertEquals(state.latest.get("refs/heads/main")!.new, head);
    } finally {
      await store.close();
    }

    const ls = await run(e, "git", ["ls-remote", `trunks::${url}`], { cwd: repo });
    assertEquals(ls.code, 0, ls.stderr);
    assertEquals(ls.stdout, `${head}\trefs/heads/main\n${head}\tHEAD\n`);
    assertMatch(
      ls.stderr,
      new RegExp(`ref entry ${refEntryKey("refs/heads/a\nrefs/heads/injected", 1)} names ref`),
    );
    assertMatch(ls.stderr, /is stored under a key that is not its ref's/);

    const dir = `${await Deno.makeTempDir()}/clone`;
    const cl = await run(e, "git", ["clone", `trunks::${url}`, dir]);
    assertEquals(cl.code, 0, cl.stderr);
    const refs = await ok(e, "git", ["for-each-ref", "--format=%(refname) %(objectname)"], {
      cwd: dir,
    });
    assertEquals(
      refs,
      `refs/heads/main ${head}\nrefs/remotes/origin/HEAD ${head}\nrefs/remotes/origin/main ${head}\n`,
    );
    assert(!refs.includes("injected"));
    const f = await run(e, "git", ["fetch", "origin", "+refs/*:refs/remotes/all/*"], { cwd: dir });
    assertEquals(f.code, 0, f.stderr);
    const all = await ok(e, "git", ["for-each-ref", "--format=%(refname)", "refs/remotes/all"], {
      cwd: dir,
    });
    assertEquals(all, "refs/remotes/all/heads/main\n");
    // The trunk still takes pushes.
    await commitFile(e, repo, "c.txt", "three\n");
    await git(e, repo, "push", "-q", "origin", "main");
  },
});

Deno.test({
  name:
    "ref names: a push of a branch whose name would spoof git's output is refused, nothing written",
  ...opts,
  fn: async () => {
    const { e, url, repo } = await pushedLocal();
    const store = await openStore(url);
    try {
      const before = (await store.list("refs/")).map((k) => k.key);
      const spoof = "review-\u202egnp.exe";
      await git(e, repo, "branch", spoof);
      const r = await run(e, "git", ["push", `trunks::${url}`, spoof], { cwd: repo });
      assert(r.code !== 0, "the push was accepted");
      assertMatch(r.stderr, /invalid ref name: it contains a character that changes how text/);
      assertEquals((await store.list("refs/")).map((k) => k.key), before);
      // The other refs of the same push still go.
      await git(e, repo, "branch", "fine");
      const both = await run(e, "git", ["push", `trunks::${url}`, spoof, "fine"], { cwd: repo });
      assert(both.code !== 0);
      const ls = await ok(e, "git", ["ls-remote", `trunks::${url}`], { cwd: repo });
      assertMatch(ls, /refs\/heads\/fine\n/);
    } finally {
      await store.close();
    }
  },
});

Deno.test("ref names: the library refuses a branch name that would spoof git's output, as readers would", async () => {
  const { Trunk, TrunkError } = await import("../../mod.ts");
  await using t = await Trunk.open({
    url: `memory://names-${crypto.randomUUID()}/trunks/app.trunk`,
    create: true,
    writer: "t",
  });
  t.write("a.txt", "a\n");
  for (const name of SPOOFING) {
    const short = name.slice("refs/heads/".length);
    let err: unknown;
    try {
      await t.commit({ message: "spoof", branch: short });
    } catch (e) {
      err = e;
    }
    assert(err instanceof TrunkError, `${JSON.stringify(short)}: ${err}`);
    assertMatch(err.message, /is not a valid branch name: it contains a character that changes/);
  }
  assertEquals(await t.branches(), []);
});

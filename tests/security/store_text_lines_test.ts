/**
 * Lines other than a TrunkError's or a StoreError's message that quote what a store holds.
 * Whoever can write the store (or answer for it) chooses that text: nothing in it may drive
 * a terminal or forge a line (src/storage/plain_text.ts).
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { refLayout } from "../../src/trunk/layout.ts";
import { ensureMeta, readMeta } from "../../src/trunk/meta.ts";
import { type Member, MirroredStore } from "../../src/trunk/mirrors.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { StoreError } from "../../src/storage/store.ts";
import { resolvePgConfig } from "../../src/storage/postgres_config.ts";
import { resolveSftpConfig } from "../../src/storage/sftp_config.ts";
import { decodeMap } from "../../src/trunk/storage_map.ts";
import { syncMirror } from "../../src/trunk/sync.ts";
import { writeRefEntry } from "../../src/trunk/refs.ts";
import { member } from "../mirrors/harness.ts";
import { e2eBackends, git, makeEnv, newRepo, run, trunkUrl } from "../e2e/harness.ts";
import { refEntryKey } from "../keys.ts";
import { mapMirror } from "./map_entry.ts";

/** What a terminal acts on or breaks a line at (as src/storage/plain_text.ts escapes). */
const UNSAFE =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** An OSC window title, a C1 CSI, a right-to-left override and a forged line. */
const HOSTILE = "\x1b]0;owned\x07\u009b2J\u202e\u2028forged";

const enc = new TextEncoder();

Deno.test("a mirror whose listing shows a planted key is diverged in one safe line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "trunks-hostile-mirror-" });
  try {
    const p = member("primary", "primary");
    const meta = await ensureMeta(p.store, "sha1");
    await p.store.create(refEntryKey("refs/heads/main", 1), enc.encode(`{"seq":1}`));
    const url = `local://${dir}/trunks/m.trunk`;
    const m: Member = { name: "nas", role: "mirror", url, store: await openStore(url) };
    const cache = new MemoryCache();
    assertEquals((await syncMirror(p, m, cache, meta, { write: true })).state, "caught-up");
    // A file the mirror's owner put there: its name is listed as a key, as it is.
    const planted = refLayout(meta.format).keyOf(HOSTILE, 1);
    await Deno.writeFile(`${dir}/trunks/m.trunk/${planted}`, enc.encode("{}"));
    const r = await syncMirror(p, m, cache, meta, { write: false });
    assertEquals(r.state, "diverged");
    assert(!UNSAFE.test(r.detail!), JSON.stringify(r.detail));
    assert(r.detail!.includes("\\u{1b}]0;owned"), r.detail);
    await m.store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a storage-map entry whose URL or setting holds what a terminal acts on is left out, in a safe line", () => {
  const entry = (name: string, over: Record<string, unknown>) => mapMirror({ name, ...over });
  const bad = [
    // Shown by trunks status, storage show and approve, and the line naming a changed approval.
    entry("a", { settings: { region: `eu-west-1${HOSTILE}` } }),
    entry("b", { settings: { region: "eu\u0085west" } }),
    entry("c", { url: "s3://bucket/trunks/app\u202e.trunk?endpoint=http://127.0.0.1:9000" }),
    // Quoted by the line that names the entry left out.
    entry("d", { backend: `s3${HOSTILE}` }),
    entry("e", { settings: { [`region${HOSTILE}`]: "x" } }),
  ];
  const primary = { ...entry("primary", {}), role: "primary" };
  const bytes = enc.encode(JSON.stringify({ v: 1, seq: 2, storages: [primary, ...bad] }));
  const lines: string[] = [];
  const orig = console.error;
  console.error = (m: string) => lines.push(m);
  try {
    assertEquals(decodeMap(bytes, "storages/000000000002").storages.map((s) => s.name), [
      "primary",
    ]);
  } finally {
    console.error = orig;
  }
  assertEquals(lines.length, bad.length, lines.join("\n"));
  for (const l of lines) assert(!UNSAFE.test(l), JSON.stringify(l));
});

/** A line's own newline aside. */
const UNSAFE_IN_LINES =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029]/;

Deno.test({
  name: "local: trunks clone names the branch HEAD chose, escaped",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const local = e2eBackends().find((b) => b.name === "local")!;
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, `clone-${crypto.randomUUID()}`);
    // A name git and trunks accept (a right-to-left mark; the marks that reorder more are
    // refused), pushed first: the trunk's HEAD names it.
    const branch = "x\u200fforged";
    const a = await newRepo(e, "a");
    await git(e, a, "branch", "-m", "main", branch);
    await git(e, a, "remote", "add", "origin", `trunks::${url}`);
    await git(e, a, "push", "-q", "origin", branch);
    const parent = await Deno.makeTempDir({ prefix: "trunks-clone-head-" });
    const r = await run(e, "trunks", ["clone", url, "b"], { cwd: parent });
    assertEquals(r.code, 0, r.stderr);
    assert(r.stdout.includes("on branch x\\u{200f}forged"), r.stdout);
    assert(!UNSAFE_IN_LINES.test(r.stdout + r.stderr), JSON.stringify(r.stdout + r.stderr));
  },
});

Deno.test({
  name: "local: trunks check --repair --roll-back names the ref it moved back, escaped",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const local = e2eBackends().find((b) => b.name === "local")!;
    const e = await makeEnv(local.env);
    const url = await trunkUrl(local, `rollback-${crypto.randomUUID()}`);
    const ref = "refs/heads/r\u200fforged";
    const a = await newRepo(e, "a");
    await git(e, a, "remote", "add", "origin", `trunks::${url}`);
    await git(e, a, "push", "-q", "origin", `main:${ref}`);
    const oid = (await git(e, a, "rev-parse", "main")).trim();
    // Its next entry names a commit no segment holds: the check finds it dangling.
    const store = await openStore(url, local.settings);
    try {
      const meta = (await readMeta(store))!;
      const entry = {
        trunk: meta.id,
        ref,
        seq: 2,
        old: oid,
        new: "5".repeat(40),
        time: new Date().toISOString(),
        writer: "w",
        segments: [],
      };
      assert((await writeRefEntry(store, new MemoryCache(), meta, entry)).ok);
    } finally {
      await store.close();
    }
    const cwd = await Deno.makeTempDir({ prefix: "trunks-rollback-" });
    const r = await run(e, "trunks", ["check", url, "--repair", "--roll-back"], { cwd });
    assert(r.stderr.includes("moved refs/heads/r\\u{200f}forged"), r.stderr);
    assert(!UNSAFE_IN_LINES.test(r.stdout + r.stderr), JSON.stringify(r.stdout + r.stderr));
  },
});

Deno.test("a local storage's location, shown in notices, escapes what its path holds", async () => {
  const dir = await Deno.makeTempDir({ prefix: "trunks-hostile-path-" });
  try {
    // A path from a URL (a map's mirror approved by name): its %-escapes are decoded.
    const path = `${dir}/x${HOSTILE}/trunks/m.trunk`;
    await Deno.mkdir(path, { recursive: true });
    await Deno.writeTextFile(`${path}/trunk.json`, "{}");
    const down = new MemoryStore("memory://down");
    down.list = () => Promise.reject(new StoreError("connection refused", "unreachable"));
    const notes: string[] = [];
    const set = new MirroredStore([
      member("primary", "primary", down),
      { name: "nas", role: "mirror", url: "local://x", store: await openStore(fileUrl(path)) },
    ], { notice: (n) => notes.push(n) });
    assertEquals((await set.list("trunk.json")).length, 1);
    assertEquals(notes.length, 1);
    assert(notes[0].includes('reading from mirror "nas"'), notes[0]);
    assert(!UNSAFE.test(notes[0]), JSON.stringify(notes[0]));
    await set.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function fileUrl(path: string): string {
  return `local://${path.split("/").map(encodeURIComponent).join("/")}`;
}

Deno.test("a store's location escapes what a terminal acts on in the URL's decoded parts", async () => {
  const bad = "%1B%5D0;owned%07%C2%9B2J%E2%80%AE";
  const env = () => undefined;
  const locations = [
    resolvePgConfig(new URL(`postgres://u@h${bad}/db/trunks/a.trunk`), {}, env).location,
    resolvePgConfig(new URL(`postgres://u@h/db/trunks/a.trunk?host=/tmp/${bad}`), {}, env)
      .location,
    resolveSftpConfig(new URL(`sftp://u@h${bad}/srv/trunks/a.trunk`), { password: "p" }, env)
      .location,
    (await openStore(`local:///tmp/${bad}/trunks/a.trunk`)).location,
  ];
  for (const l of locations) {
    assert(!UNSAFE.test(l), JSON.stringify(l));
    assert(l.includes("\\u{1b}]0;owned"), l);
  }
});

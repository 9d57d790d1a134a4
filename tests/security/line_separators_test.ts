/**
 * U+2028 and U+2029 (line and paragraph separators) in what a store holds: some terminals
 * and most log viewers break a line at them, so a planted ref name or writer could forge a
 * line. A ref name holding one (or a C1 control, or a bidirectional override) is refused
 * by every reader (src/trunk/ref_format.ts); everything that prints store-provided text
 * escapes them as it escapes controls (src/storage/plain_text.ts): trunks log's text, the
 * line naming an entry readers skip, trunks check's report. --json keeps one valid document
 * with the same parsed value.
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { MemoryCache } from "../../src/trunk/cache.ts";
import { readMeta } from "../../src/trunk/meta.ts";
import { writeRefEntry } from "../../src/trunk/refs.ts";
import { escapeUnsafe, escapeUnsafeJson } from "../../src/storage/plain_text.ts";
import { e2eBackends, type Env, git, makeEnv, newRepo, run, trunkUrl } from "../e2e/harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const local = e2eBackends().find((b) => b.name === "local")!;

/** What breaks a line or drives a terminal (a line's own newline and tabs aside). */
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** A fresh trunk holding one push of main, and entries `plant` writes as any writer could. */
async function plantedTrunk(
  e: Env,
  name: string,
  plant: { ref: string; writer: string; new: string }[],
): Promise<string> {
  const url = await trunkUrl(local, name);
  const a = await newRepo(e, "a");
  await git(e, a, "remote", "add", "origin", `trunks::${url}`);
  await git(e, a, "push", "-q", "origin", "main");
  const store = await openStore(url, local.settings);
  try {
    const meta = (await readMeta(store))!;
    for (const p of plant) {
      const entry = {
        trunk: meta.id,
        ref: p.ref,
        seq: 1,
        old: "0".repeat(40),
        new: p.new,
        time: new Date().toISOString(),
        writer: p.writer,
        segments: [],
      };
      assert((await writeRefEntry(store, new MemoryCache(), meta, entry)).ok);
    }
  } finally {
    await store.close();
  }
  return url;
}

Deno.test({
  name: "local: trunks log escapes line separators in ref names, writers and skipped entries",
  ...opts,
  fn: async () => {
    const e = await makeEnv(local.env);
    // A writer as an older client recorded it, on a valid name.
    const ref = "refs/heads/x";
    const writer = "w\u2028forged  refs/heads/main  (none) -> 000000000000  root";
    const url = await plantedTrunk(e, "seps", [
      { ref, writer, new: "1".repeat(40) },
      // Names readers refuse, and say so on stderr: git accepts the first.
      { ref: "refs/heads/x\u2028forged-line\u2029y", writer: "w", new: "2".repeat(40) },
      { ref: "refs/heads/s\u2028forged~", writer: "w", new: "2".repeat(40) },
    ]);
    const text = await run(e, "trunks", ["log", "--trunk", url]);
    assertEquals(text.code, 0, text.stderr);
    assert(!UNSAFE.test(text.stdout), JSON.stringify(text.stdout));
    // main and HEAD once each, the planted ref once: nothing forged.
    assertEquals(text.stdout.trimEnd().split("\n").length, 3, text.stdout);
    assert(text.stdout.includes("w\\u{2028}forged"), text.stdout);
    assert(text.stderr.includes("x\\u{2028}forged-line\\u{2029}y"), text.stderr);
    assertEquals(text.stderr.match(/ref entry refs\/\S+~000000000001 names ref/g)?.length, 2);
    assert(!UNSAFE.test(text.stderr), JSON.stringify(text.stderr));

    const json = await run(e, "trunks", ["log", "--trunk", url, "--json"]);
    assertEquals(json.code, 0, json.stderr);
    assert(!UNSAFE.test(json.stdout), JSON.stringify(json.stdout));
    const log: { ref: string; writer: string }[] = JSON.parse(json.stdout);
    const planted = log.find((x) => x.ref === ref);
    assert(planted, "--json keeps the name as it is");
    assertEquals(planted.writer, writer);
  },
});

Deno.test({
  name: "local: trunks check escapes what a store-provided ref name holds, text and --json",
  ...opts,
  fn: async () => {
    const e = await makeEnv(local.env);
    // A C1 CSI, a line separator and a bidi override, all in a name git accepts and readers
    // refuse: check names its entry in a problem.
    const ref = "refs/heads/d\u009b2J\u2028problem-forged\u202eexe";
    const url = await plantedTrunk(e, "check", [{ ref, writer: "w", new: "3".repeat(40) }]);
    const text = await run(e, "trunks", ["check", url]);
    assertEquals(text.code, 1, text.stderr);
    assert(!UNSAFE.test(text.stdout), JSON.stringify(text.stdout));
    assert(!UNSAFE.test(text.stderr), JSON.stringify(text.stderr));
    assert(text.stdout.includes("d\\u{9b}2J\\u{2028}problem-forged"), text.stdout);

    const json = await run(e, "trunks", ["check", url, "--json"]);
    assertEquals(json.code, 1, json.stderr);
    assert(!UNSAFE.test(json.stdout), JSON.stringify(json.stdout));
    const report: { problems: { kind: string; message: string }[] } = JSON.parse(json.stdout);
    const bad = report.problems.find((p) => p.kind === "bad-ref-entry");
    assert(bad?.message.includes("d\\u{9b}2J\\u{2028}problem-forged"), JSON.stringify(report));
  },
});

Deno.test({
  name: "local: a line quoting a store-provided ref name reaches git's stderr escaped",
  ...opts,
  fn: async () => {
    const e = await makeEnv(local.env);
    // Readers refuse the name: the clone leaves it out, naming its entry.
    const ref = "refs/heads/f\u009b2J\u2028fatal-forged\u202eexe";
    const url = await plantedTrunk(e, "fetch", [{ ref, writer: "w", new: "4".repeat(40) }]);
    const dir = `${await Deno.makeTempDir({ prefix: "trunks-seps-" })}/clone`;
    const r = await run(e, "git", ["clone", "-q", `trunks::${url}`, dir]);
    assertEquals(r.code, 0, r.stderr);
    assert(r.stderr.includes("f\\u{9b}2J\\u{2028}fatal"), r.stderr);
    assert(!UNSAFE.test(r.stderr), JSON.stringify(r.stderr));
  },
});

Deno.test("plain text: line separators escaped; JSON stays the same document", () => {
  assertEquals(escapeUnsafe("a\u2028b\u2029c"), "a\\u{2028}b\\u{2029}c");
  const value = [{ ref: "refs/heads/a\u2028b\u2029c\u009b\u202e", n: 1 }];
  const out = escapeUnsafeJson(JSON.stringify(value, null, 2));
  assert(!UNSAFE.test(out), out);
  assertEquals(JSON.parse(out), value);
});

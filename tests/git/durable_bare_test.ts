/**
 * The bare repository the benchmarks push to for git at a trunk's durability: its
 * receive-pack flushes every ref it writes to disk, where a plain bare one flushes none
 * (git's own count, trace2's `fsync/hardware-flush`).
 */
import { assert, assertEquals } from "../assert.ts";
import { commitFile, makeEnv, newRepo, ok } from "../e2e/harness.ts";
import { initBareSyncingRefs } from "../../harness/durable_bare.ts";

/** Hardware flushes git reports over one push of `refs` (every process of it). */
async function pushFlushes(repo: string, dest: string, refs: string[]): Promise<number> {
  const e = await makeEnv();
  // A user's config asking for no flush at all: the repository's own settings outrank it.
  await Deno.writeTextFile(`${e.home}/.gitconfig`, "[core]\n\tfsyncMethod = writeout-only\n", {
    append: true,
  });
  const trace = await Deno.makeTempFile({ prefix: "trunks-trace2-" });
  try {
    await ok(e, "git", ["push", "-q", `file://${dest}`, ...refs], {
      cwd: repo,
      env: { GIT_TRACE2_EVENT: trace },
    });
    let flushes = 0;
    for (const line of (await Deno.readTextFile(trace)).split("\n")) {
      if (!line) continue;
      const ev = JSON.parse(line);
      if (ev.event === "data" && ev.key === "fsync/hardware-flush") flushes += Number(ev.value);
    }
    return flushes;
  } finally {
    await Deno.remove(trace);
  }
}

Deno.test("initBareSyncingRefs: a push into it flushes each ref it writes; a plain bare repo none", async () => {
  const e = await makeEnv();
  const repo = await newRepo(e);
  await commitFile(e, repo, "a.txt", "a\n");
  const refs = Array.from({ length: 5 }, (_, i) => `refs/heads/b${i}`);
  await ok(e, "git", ["update-ref", "--stdin"], {
    cwd: repo,
    stdin: refs.map((r) => `create ${r} HEAD\n`).join(""),
  });
  const plain = `${e.home}/plain.git`;
  await ok(e, "git", ["init", "-q", "--bare", plain]);
  const synced = `${e.home}/synced.git`;
  await initBareSyncingRefs(e, synced);

  assertEquals(await pushFlushes(repo, plain, refs), 0);
  const flushes = await pushFlushes(repo, synced, refs);
  assert(flushes >= refs.length, `${flushes} flushes for ${refs.length} refs`);
});

/**
 * Clone and fetch name what is missing or unreadable instead of git's generic errors,
 * and leave nothing half-written: a ref whose segment was deleted (its object is in no
 * segment), and a segment whose bytes match its name but are not a pack.
 */
import { assert, assertMatch } from "../assert.ts";
import { createHash } from "node:crypto";
import { openStore } from "../../src/storage/registry.ts";
import { listSegments } from "../../src/trunk/segments.ts";
import { segmentIdxKey, segmentPackKey } from "../../src/trunk/layout.ts";
import {
  commitFile,
  e2eBackends,
  git,
  makeEnv,
  newRepo,
  ok,
  run,
  trunkUrl,
} from "../e2e/harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function packLeftovers(gitDir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const f of Deno.readDir(`${gitDir}/objects/pack`)) {
    if (f.name.startsWith("tmp_")) out.push(f.name);
  }
  return out;
}

for (const backend of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))) {
  Deno.test({
    name: `fetch names ${backend.name}: a ref whose segment is gone, and a segment git cannot read`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const url = await trunkUrl(backend, "named");
      const a = await newRepo(e, "a");
      await git(e, a, "push", "-q", `trunks::${url}`, "main");
      const b = `${await Deno.makeTempDir()}/b`;
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, b]);
      const store = await openStore(url, backend.settings);
      try {
        // A second push's segment is deleted behind the trunk's back.
        const before = new Set((await listSegments(store)).map((s) => s.id));
        await commitFile(e, a, "two.txt", "two\n");
        await git(e, a, "push", "-q", `trunks::${url}`, "main:refs/heads/two");
        const tip = (await git(e, a, "rev-parse", "HEAD")).trim();
        const gone = (await listSegments(store)).find((s) => !before.has(s.id))!;
        await store.delete(segmentIdxKey(gone.id));
        await store.delete(segmentPackKey(gone.id));
        const fetched = await run(e, "git", ["fetch", "origin"], { cwd: b });
        assert(fetched.code !== 0, fetched.stderr);
        assertMatch(
          fetched.stderr,
          new RegExp(`refs/heads/two points at ${tip}, which no segment`),
        );
        assert(!/did not send all necessary objects/.test(fetched.stderr), fetched.stderr);
        assert((await packLeftovers(`${b}/.git`)).length === 0, "no half-written pack");

        // A "segment" whose bytes match its name but are not a pack.
        await git(e, a, "push", "-q", `trunks::${url}`, ":refs/heads/two");
        const junk = new TextEncoder().encode("this is not a git pack\n".repeat(10));
        const id = createHash("sha256").update(junk).digest("hex");
        await store.put(segmentPackKey(id), junk);
        await store.put(segmentIdxKey(id), junk);
        await commitFile(e, a, "three.txt", "three\n");
        await git(e, a, "push", "-q", `trunks::${url}`, "main");
        const again = await run(e, "git", ["fetch", "origin"], { cwd: b });
        assert(again.code !== 0, again.stderr);
        assertMatch(again.stderr, new RegExp(`segment segments/${id}\\.pack on .* is unreadable`));
        assert((await packLeftovers(`${b}/.git`)).length === 0, "no half-written pack");
        const clone = `${await Deno.makeTempDir()}/c`;
        const cloned = await run(e, "git", ["clone", `trunks::${url}`, clone]);
        assert(cloned.code !== 0, cloned.stderr);
        assertMatch(cloned.stderr, new RegExp(`segments/${id}\\.pack`));
      } finally {
        await store.close();
      }
    },
  });
}

/**
 * A clone through git of a trunk whose ref snapshot was damaged: an entry inside it moved
 * to another real commit with its own seal recomputed (the snapshot's seal not), or a
 * byte flipped. The snapshot is not used, git gets every ref's true value from the
 * entries' own keys, never the snapshot's edited one.
 */
import { assert, assertEquals } from "../assert.ts";
import { openStore } from "../../src/storage/registry.ts";
import { getBytes } from "../../src/storage/store.ts";
import { SNAPSHOT_PREFIX } from "../../src/trunk/layout.ts";
import { refEntryKey } from "../keys.ts";
import type { RefEntry } from "../../src/trunk/refs.ts";
import { seal } from "../../src/trunk/seal.ts";
import {
  commitFile,
  e2eBackends,
  git,
  makeEnv,
  newRepo,
  refList,
  run,
  trunkUrl,
} from "../e2e/harness.ts";

const local = e2eBackends().find((b) => b.name === "local")!;
const dec = new TextDecoder();

Deno.test({
  name: "a clone of a trunk whose snapshot was edited or damaged gets the true refs",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const e = await makeEnv({ ...local.env, TRUNKS_AUTO_MAINTENANCE: "wait" });
    const url = await trunkUrl(local, "snapclone");
    const a = await newRepo(e, "a");
    await commitFile(e, a, "f.txt", "one\n");
    const older = (await git(e, a, "rev-parse", "HEAD")).trim();
    await commitFile(e, a, "f.txt", "two\n");
    const refs = Array.from({ length: 60 }, (_, i) => `create refs/heads/b${i} HEAD`);
    await run(e, "git", ["update-ref", "--stdin"], { cwd: a, stdin: refs.join("\n") + "\n" });
    const push = await run(e, "git", ["push", "-q", `trunks::${url}`, "--all"], { cwd: a });
    assertEquals(push.code, 0, push.stderr);
    const truth = await refList(e, a);

    const store = await openStore(url, local.settings);
    try {
      const [snap] = await store.list(SNAPSHOT_PREFIX);
      assert(snap, "the push's maintenance wrote a snapshot");
      const raw = dec.decode((await getBytes(store, snap.key))!);
      const key = refEntryKey("refs/heads/b3", 1);
      const stored = dec.decode((await getBytes(store, key))!);
      const { sum: _, ...rest } = JSON.parse(stored) as RefEntry;
      // Another real commit, same size, its own seal right: only the snapshot's seal tells.
      const forged = JSON.stringify(seal({ ...rest, new: older }));
      assertEquals(forged.length, stored.length);
      const edited = raw.replace(JSON.stringify(stored), JSON.stringify(forged));
      assert(edited !== raw);
      // A digit of b3's new oid, as escaped inside the snapshot's text.
      const flipAt = raw.indexOf('\\"new\\":\\"', raw.indexOf(JSON.stringify(stored))) + 10;
      const flipped = raw.slice(0, flipAt) + (raw[flipAt] === "a" ? "b" : "a") +
        raw.slice(flipAt + 1);

      for (const [what, text] of [["edited", edited], ["flipped", flipped]]) {
        await store.delete(snap.key);
        assert(await store.create(snap.key, new TextEncoder().encode(text)));
        const dir = `${await Deno.makeTempDir()}/c`;
        const clone = await run(e, "git", ["clone", "-q", "--mirror", `trunks::${url}`, dir]);
        assertEquals(clone.code, 0, `${what}: ${clone.stderr}`);
        assertEquals(await refList(e, dir), truth, `${what}: the clone's refs`);
        assert(!(await git(e, dir, "rev-parse", "refs/heads/b3")).startsWith(older), what);
      }
    } finally {
      await store.close();
    }
  },
});

/**
 * A trunk after many small pushes, built fast: for each commit of `src`'s main, the
 * segment a push of that one commit writes (`pack-objects --revs <c> ^<parent>`) and its
 * ref entry, in-process instead of one `git push` per commit. Shared by the 1,000-push
 * test (tests/gc/thousand_test.ts) and bench/gc.ts.
 */
import { MemoryCache } from "../src/trunk/cache.ts";
import { LEASE_ENV } from "../src/trunk/lease.ts";
import type { RefEntry } from "../src/trunk/refs.ts";
import { sha256File } from "../src/trunk/segments.ts";
import { Trunk } from "../src/trunk/trunk.ts";
import { openStore } from "../src/storage/registry.ts";
import { type Env, git } from "./env.ts";

export async function simulatePushes(
  e: Env,
  src: string,
  url: string,
  settings: Record<string, string>,
): Promise<number> {
  const commits = (await git(e, src, "rev-list", "--reverse", "--first-parent", "main")).trim()
    .split("\n");
  const store = await openStore(url, settings);
  const lease = e.env[LEASE_ENV];
  const trunk = await Trunk.openOrCreate(store, new MemoryCache(), "many-pushes", "sha1", {
    leaseSeconds: lease === undefined ? undefined : Number(lease),
  });
  const tmp = await Deno.makeTempDir({ prefix: "trunks-many-" });
  let base: RefEntry | null = null;
  try {
    for (let i = 0; i < commits.length; i++) {
      const input = i === 0 ? `${commits[0]}\n` : `${commits[i]}\n^${commits[i - 1]}\n`;
      const child = new Deno.Command("git", {
        args: ["pack-objects", "-q", "--revs", `${tmp}/p`],
        cwd: src,
        env: e.env,
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(input));
      await w.close();
      const out = await child.output();
      if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
      const hash = new TextDecoder().decode(out.stdout).trim();
      const pack = `${tmp}/p-${hash}.pack`;
      const id = await sha256File(pack);
      await trunk.putSegment(id, pack, `${tmp}/p-${hash}.idx`);
      const r = await trunk.updateRef({
        ref: "refs/heads/main",
        new: commits[i],
        base,
        segments: [id],
      });
      if (!r.ok) throw new Error(`ref update ${i} lost a race nobody runs`);
      base = r.entry;
      await Deno.remove(pack);
      await Deno.remove(`${tmp}/p-${hash}.idx`);
    }
    await trunk.updateRef({
      ref: "HEAD",
      new: "0".repeat(40),
      symref: "refs/heads/main",
      base: null,
      segments: [],
    });
  } finally {
    await store.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return commits.length;
}

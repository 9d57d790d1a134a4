/**
 * Start-up stays fast only while main.ts reaches no npm package through static imports:
 * backend SDKs (S3, Azure, GCS, Postgres, SFTP) load through the registry's lazy
 * `import()`, so `trunks --version` and the remote helper on a local trunk never parse them.
 * This walks `deno info --json main.ts`, following static imports only.
 */
import { fileURLToPath } from "node:url";
import { assertEquals } from "../assert.ts";

const ROOT_URL = new URL("../../", import.meta.url).href;

/** npm packages that may load at start-up (none so far); add one only with a measurement. */
const ALLOWED_AT_STARTUP = new Set<string>();

interface InfoModule {
  specifier: string;
  dependencies?: { specifier: string; code?: { specifier?: string }; isDynamic?: boolean }[];
}

function packageName(npmSpecifier: string): string {
  const m = /^npm:\/?(@[^/]+\/[^@/]+|[^@/]+)/.exec(npmSpecifier);
  return m ? m[1] : npmSpecifier;
}

/** Chains from `root` to each npm package it reaches through static imports. */
function staticNpmImports(root: string): Promise<string[]> {
  return staticChains(
    root,
    (spec) => spec.startsWith("npm:") && !ALLOWED_AT_STARTUP.has(packageName(spec)),
  );
}

/** Chains from `root` to each module `bad` names that it reaches through static imports. */
async function staticChains(root: string, bad: (spec: string) => boolean): Promise<string[]> {
  const main = fileURLToPath(new URL(root, import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", main],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: InfoModule[];
    redirects: Record<string, string>;
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const parent = new Map<string, string>();
  const queue = [...info.roots];
  const seen = new Set(queue);
  const violations: string[] = [];
  while (queue.length) {
    const spec = queue.shift()!;
    if (bad(spec)) {
      const chain = [spec];
      for (let p = parent.get(spec); p; p = parent.get(p)) chain.unshift(p);
      violations.push(chain.join(" -> ").replaceAll(ROOT_URL, ""));
      continue;
    }
    if (spec.startsWith("npm:")) continue;
    for (const dep of bySpecifier.get(spec)?.dependencies ?? []) {
      // Dynamic imports load on use; type-only imports (no `code`) are erased.
      if (dep.isDynamic || !dep.code?.specifier) continue;
      const next = info.redirects[dep.code.specifier] ?? dep.code.specifier;
      if (seen.has(next)) continue;
      seen.add(next);
      parent.set(next, spec);
      queue.push(next);
    }
  }
  return violations;
}

Deno.test("main.ts loads no npm package at start-up (SDKs are lazy imports)", async () => {
  assertEquals(
    await staticNpmImports("../../main.ts"),
    [],
    "statically imported npm packages slow every start-up",
  );
});

Deno.test("opening an S3 store loads no SDK: the light client serves the hot operations", async () => {
  // The AWS SDK loads through s3_sdk.ts's lazy import, only for what s3_light.ts leaves to it.
  assertEquals(await staticNpmImports("../../src/storage/open_s3.ts"), []);
});

/**
 * Node built-ins Deno loads slowly (measured on Deno 2.9: node:process ~20 ms of CPU,
 * node:crypto ~18, node:zlib ~24, each pulling part of Deno's node layer), and git starts
 * the helper for every fetch and push.
 */
const SLOW_BUILTINS = ["node:crypto", "node:zlib", "node:process", "node:timers"];

Deno.test("the helper's start (main.ts) loads no slow node built-in and no trunk code", async () => {
  // `capabilities` is answered from main.ts's static imports alone.
  assertEquals(
    await staticChains(
      "../../main.ts",
      (s) => SLOW_BUILTINS.includes(s) || s.startsWith(`${ROOT_URL}src/trunk/trunk.ts`),
    ),
    [],
  );
});

/**
 * node:path costs a process ~10-15 ms to load (measured on Deno 2.9, before the listing
 * went out); the per-user config and a linked work tree's `.git` file load it on use.
 */
const SLOW_ON_LIST = [...SLOW_BUILTINS, "node:path"];

Deno.test("an up-to-date fetch's `list` loads no slow node built-in (node:path included)", async () => {
  // What helper.ts imports for `list` (git rev-parse, the store, the trunk, HEAD) and the
  // S3 store it opens: hashing and inflating load on first use, when something new
  // arrives; node:path only for a `trunks://NAME` URL or a linked work tree.
  for (
    const root of ["local/paths.ts", "helper/resolve.ts", "trunk/head.ts", "storage/open_s3.ts"]
  ) {
    assertEquals(await staticChains(`../../src/${root}`, (s) => SLOW_ON_LIST.includes(s)), []);
  }
});

Deno.test("an up-to-date fetch's LIST waits on no trunk code: it loads while the LIST is out", async () => {
  // resolve.ts opens the store and sends the listing of refs/; the trunk's code (trunk.ts
  // and what it imports) is needed only for the answer, and loads during the round trip.
  assertEquals(
    await staticChains(
      "../../src/helper/resolve.ts",
      (s) => s.startsWith(`${ROOT_URL}src/trunk/trunk.ts`),
    ),
    [],
  );
});

Deno.test("an up-to-date fetch's LIST waits on no mirror, approval or cache code either", async () => {
  // What resolveStorages does once the LIST is out (the storage map's merge and its
  // approvals) and what only mirrors or a repository-less ls-remote need load then: the
  // helper sent its LIST ~1-2 ms later with them in resolve.ts's static graph.
  const later = [
    "local/map_trust.ts",
    "local/approvals.ts",
    "trunk/mirror_trust.ts",
    "trunk/mirrors.ts",
    "trunk/cache.ts",
  ].map((m) => `${ROOT_URL}src/${m}`);
  assertEquals(
    await staticChains("../../src/helper/resolve.ts", (s) => later.includes(s)),
    [],
  );
});

Deno.test("a clone's modules load no slow node built-in: hashing and inflating load on use", async () => {
  // What a clone of a small trunk runs: the store, ref entries, segments, joining their
  // packs. Its hashes go through WebCrypto (src/pack/hash.ts); node:crypto and node:zlib
  // load on first use (tests/e2e/clone_light_test.ts pins that a clone never does).
  for (
    const root of [
      "helper/fetch.ts",
      "trunk/fetch.ts",
      "trunk/segment_copies.ts",
      "git/pack.ts",
      "storage/local.ts",
    ]
  ) {
    assertEquals(await staticChains(`../../src/${root}`, (s) => SLOW_BUILTINS.includes(s)), []);
  }
});

Deno.test("a clone's fetch code waits on no large-file or lost-segment code", async () => {
  // Every clone imports helper/fetch.ts before its plan starts (a pure-CPU import on the
  // critical path); writing large files' pack and naming a damaged trunk's lost segments
  // load only when a fetch needs them.
  const later = ["trunk/large_blobs.ts", "trunk/lost_segments.ts", "pack/blob_pack.ts"].map((m) =>
    `${ROOT_URL}src/${m}`
  );
  assertEquals(await staticChains("../../src/helper/fetch.ts", (s) => later.includes(s)), []);
});

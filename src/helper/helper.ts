/**
 * git-remote-trunks: git's remote-helper protocol (gitremote-helpers(7)) over a trunk.
 * Capabilities: option, list, list for-push, fetch, push, object-format, check-connectivity.
 *
 * Git starts this process for every fetch and push, so its start is paid each time: what
 * a command needs is imported when that command comes (`capabilities` alone loads this
 * file, io.ts and timer.ts; an up-to-date fetch never loads the fetch or push code).
 */
import { formatBytes, LineReader, progressMeter, say, writeOut } from "./io.ts";
import type { RemoteContext } from "./resolve.ts";
import type { PushSpec } from "./push.ts";
import type { RefState } from "../trunk/refs.ts";
import type { ListedRefs, Trunk, WriteState } from "../trunk/trunk.ts";
import type { EarlyPlanListings } from "../trunk/plan_listing.ts";
import { TrunkError } from "../trunk/errors.ts";
import type { HelperOptions } from "./options.ts";
import { loopTurn } from "../storage/timer.ts";

export async function runHelper(args: string[]): Promise<number> {
  const [remoteName, url] = args;
  if (!remoteName) {
    say(
      "usage: git-remote-trunks <remote> [<url>] (git runs this; use trunks::<url> as a git remote URL)",
    );
    return 2;
  }
  const opts: HelperOptions = {
    verbosity: 1,
    progress: false,
    dryRun: false,
    force: false,
    cas: new Map(),
  };
  const lines = new LineReader(Deno.stdin);
  let listing: WriteState | undefined;
  // `list for-push` to a location with no trunk yet: its listing of refs/, for the push that
  // creates the trunk (Trunk.createdState).
  let beforeCreate: ListedRefs | undefined;
  // A fetch's `list` holds its large cache writes until the fetch has answered (cache.ts).
  let releaseCache: (() => void) | undefined;
  let ctx: RemoteContext | undefined;
  // A clone's fetch, begun while git reads the listing (helper/fetch.ts prefetchClone).
  let prefetched: Promise<PrefetchedClone | null> | undefined;
  // A push starts with `list for-push`: then the storage map is read fresh from the trunk.
  // Nothing of this loads earlier, while git sends its options: git waits for each answer,
  // so loading then only moved the same CPU before `list` (tried: the listing left no
  // sooner, 24 alternated pairs).
  const context = async (forPush = false) => {
    if (ctx) return ctx;
    // Where the repository's database is: from GIT_DIR, which git sets for its helpers (no
    // process); else `git rev-parse`, started by this small module before the code that
    // opens the store loads, so that it runs meanwhile.
    const located = (await import("../local/paths.ts")).locateLocalDb();
    located.catch(() => {});
    const { resolveRemote } = await import("./resolve.ts");
    return ctx ??= await resolveRemote(url ?? remoteName, remoteName, {
      forPush,
      onProgress: progressMeter(opts.progress),
      located,
      // A push's code loads while its listings are out (the process has nothing else to
      // do then): before, it held the first request back by ~40 ms; after git's `push`, it
      // would hold the push.
      whileListing: forPush ? loadPushCode : undefined,
    });
  };
  try {
    for (;;) {
      const line = await lines.next();
      if (line === null || line === "") return 0;
      const [cmd, ...rest] = line.split(" ");
      switch (cmd) {
        case "capabilities":
          await writeOut(
            "option\nfetch\npush\npush-options\nobject-format\ncheck-connectivity\n\n",
          );
          break;
        case "option":
          await writeOut(await setOption(opts, rest[0], rest.slice(1).join(" ")) + "\n");
          break;
        case "list": {
          const forPush = rest[0] === "for-push";
          const c = await context(forPush);
          // The listing of refs went out as the store opened, beside trunk.json's read on a
          // first fetch and the storage map's on a push (one round trip).
          let early = c.takeRefsListing();
          // Its request is on its socket (resolveStorages let the loop turn): the trunk's
          // code loads now, while the listing is out.
          const trunk = forPush ? await c.trunkForPush() : await c.trunk();
          const readAt = early?.at ?? Date.now();
          const readMono = early?.mono ?? performance.now();
          if (!forPush) releaseCache ??= c.cache.holdWrites?.();
          // Matching the listing then reads nothing more (the answer's code is loaded too).
          if (trunk && early) whileOut(early.entries, () => trunk.readAhead());
          // A fresh clone's plan listed beside the refs (plan_listing.ts): its prefetch starts
          // now, while the refs' pages are still coming, not after them.
          const planListings = forPush ? undefined : await c.takePlanListings();
          if (planListings && trunk && c.gitDir) {
            prefetched ??= startPrefetch(trunk, c.gitDir, opts, planListings);
          }
          // A fresh clone from local disk lists its refs once its prefetch's index-pack runs:
          // the listing answers within the call, and would hold the pack back instead.
          const later = forPush ? undefined : c.takeRefsLater();
          if (later) {
            await (await prefetched)?.prefetch.underway;
            await (await import("../trunk/faults.ts")).faultDelay("clone:before-refs");
            early = later();
          }
          const entries = await early?.entries;
          // Otherwise started once the refs are listed: its plan lists the segments after them.
          if (!forPush && trunk && c.gitDir) prefetched ??= startPrefetch(trunk, c.gitDir, opts);
          // A clone's fetch waits on the prefetch's index-pack; git's reading of the listing
          // does not: the listing is made and answered once index-pack runs.
          await (await prefetched)?.prefetch.underway;
          const listed = trunk ? await trunk.refState(entries) : undefined;
          // The push that follows builds on this listing (and reads its refs' entries again).
          listing = forPush && listed ? { state: listed, readAt, readMono } : undefined;
          beforeCreate = forPush && !trunk && entries ? { entries, readAt, readMono } : undefined;
          // Asked for by `option object-format`: git learns the hash (a sha256 clone).
          const format = !opts.objectFormat ? null : trunk?.objectFormat ??
            (forPush
              ? await (await import("../git/repo.ts")).objectFormat(c.gitDir ?? undefined)
              : null);
          await writeOut(
            (format ? `:object-format ${format}\n` : "") + await formatList(listed, trunk),
          );
          break;
        }
        case "fetch": {
          const wants = [rest.join(" ")];
          for (;;) {
            const more = lines.buffered() ?? await lines.next();
            if (more === null || more === "") break;
            if (more.startsWith("fetch ")) wants.push(more.slice(6));
          }
          const c = await context();
          const trunk = await c.trunk();
          const { fetchRefs } = await import("./fetch.ts");
          const { requireGitDir } = await import("./resolve.ts");
          const early = await prefetched;
          prefetched = undefined;
          const { report: got, lock, connected } = await fetchRefs(
            trunk,
            requireGitDir(c),
            wants.map((w) => {
              const [oid, ref] = w.split(" ");
              return { oid, ref: ref ?? oid };
            }),
            opts,
            early ?? undefined,
          );
          if (opts.verbosity > 1 || (opts.progress && got.segments > 0)) {
            say(`trunks: fetched ${got.segments} segment(s), ${formatBytes(got.bytes)}`);
          }
          // The pack's keep, for git to remove once the refs are written; then whether
          // git may skip walking what the pack holds (gitremote-helpers(7)).
          await writeOut(
            (lock ? `lock ${lock}\n` : "") + (connected ? "connectivity-ok\n" : "") + "\n",
          );
          // git now writes the refs: the cache rows are written meanwhile.
          releaseCache?.();
          releaseCache = undefined;
          break;
        }
        case "push": {
          const specs: PushSpec[] = [parsePushSpec(rest.join(" "))];
          for (;;) {
            const more = await lines.next();
            if (more === null || more === "") break;
            if (more.startsWith("push ")) specs.push(parsePushSpec(more.slice(5)));
          }
          const c = await context();
          const [{ describeSkipped }, { mirrorsPolicyFromEnv }] = await Promise.all([
            import("../trunk/mirrors.ts"),
            import("../trunk/mirrors_policy.ts"),
          ]);
          const { pushRefs } = await import("./push.ts");
          const skip = opts.mirrors === "skip" || mirrorsPolicyFromEnv() === "skip";
          const skipped = skip ? c.skipMirrors() : [];
          const results = await pushRefs(c, specs, opts, listing, beforeCreate);
          listing = undefined;
          beforeCreate = undefined;
          if (skipped.length && !opts.dryRun && results.some((r) => !r.error)) {
            say(`trunks: ${describeSkipped(skipped)}`);
          }
          await writeOut(
            results.map((r) => r.error ? `error ${r.ref} ${r.error}\n` : `ok ${r.ref}\n`).join("") +
              "\n",
          );
          break;
        }
        default:
          say(`trunks: unknown remote-helper command ${JSON.stringify(cmd)}`);
          return 1;
      }
    }
  } catch (e) {
    const { describeError } = await import("../trunk/describe_error.ts");
    say(`fatal: trunks: ${describeError(e)}`);
    return 128;
  } finally {
    await (await prefetched)?.prefetch.discard();
    await ctx?.close();
    (await import("../storage/counting.ts")).reportRequestCounts(`helper`);
  }
}

/**
 * `work` run while `pending` (a request) is still out, after the event loop has waited
 * once: a request handed to `fetch` is written to its socket only when the loop next
 * waits, so work started at once would hold it back. Not run if `pending` settled first:
 * the work only reads ahead what the answer needs. Its failure is left to that reading.
 */
function whileOut(pending: Promise<unknown>, work: () => void): void {
  let settled = false;
  pending.then(() => settled = true, () => settled = true);
  loopTurn().then(() => {
    if (settled) return;
    import("../trunk/head.ts").catch(() => {});
    try {
      work();
    } catch {
      // read again, and reported, where the answer reads it
    }
  });
}

/**
 * Called once the listings are on their sockets (resolveStorages lets the loop turn for
 * them first: modules evaluated before held them back 12-30 ms). A failure to load is the
 * push's to report, when it imports the same modules.
 */
function loadPushCode(): void {
  import("./push.ts").catch(() => {});
  import("./mirror_push.ts").catch(() => {});
}

type PrefetchedClone = Awaited<ReturnType<typeof import("./fetch.ts").prefetchClone>>;

/** A clone's prefetch, if this is one; its failure is the fetch's to find and say. */
async function startPrefetch(
  trunk: Trunk,
  gitDir: string,
  opts: HelperOptions,
  listed?: EarlyPlanListings,
): Promise<PrefetchedClone | null> {
  try {
    // Never once the repository has ingested a segment from the trunk: a later fetch
    // may well be up to date (and it never loads the fetch code).
    if (trunk.ingested().size > 0) return null;
    // Nor in a repository holding objects from elsewhere (a clone of a GitHub mirror whose
    // fetches are up to date ingest nothing): one readdir says so, before a process or
    // the fetch code, which held every such listing back ~20-50 ms.
    const { emptyRepoFormat, holdsNoObjects, objectsGitDir } = await import("../git/repo.ts");
    if (!await holdsNoObjects(objectsGitDir(gitDir))) return null;
    // Its process runs while the fetch code loads (~5 ms of each).
    const format = emptyRepoFormat(gitDir);
    format.catch(() => {});
    return await (await import("./fetch.ts")).prefetchClone(trunk, gitDir, opts, format, listed);
  } catch {
    return null;
  }
}

async function setOption(opts: HelperOptions, name: string, value: string): Promise<string> {
  switch (name) {
    case "verbosity":
      opts.verbosity = Number(value) || 0;
      return "ok";
    case "progress":
      opts.progress = value === "true";
      return "ok";
    case "dry-run":
      opts.dryRun = value === "true";
      return "ok";
    case "force":
      opts.force = value === "true";
      return "ok";
    case "cas": {
      // <ref>:<expected oid>; an empty expectation means "must not exist".
      const i = value.lastIndexOf(":");
      if (i < 0) return "error cas needs <ref>:<oid>";
      opts.cas.set(value.slice(0, i), value.slice(i + 1));
      return "ok";
    }
    case "object-format":
      // `true` (or bare): the list answers with `:object-format`. An algorithm: git
      // wants to talk in it; a trunk in the other format refuses at push or fetch.
      if (!["", "true", "sha1", "sha256"].includes(value)) {
        return `error unknown object format ${value}`;
      }
      opts.objectFormat = true;
      return "ok";
    case "push-option": {
      // `git push -o mirrors=skip`; any other push option means nothing to a trunk.
      const [key, ...v] = value.split("=");
      const { MIRRORS_PUSH_OPTION, parseMirrorsPolicy } = await import(
        "../trunk/mirrors_policy.ts"
      );
      if (key !== MIRRORS_PUSH_OPTION) {
        say(`trunks: unknown push option ${JSON.stringify(value)} (trunks knows mirrors=skip)`);
        return `error unknown push option ${value}`;
      }
      try {
        opts.mirrors = parseMirrorsPolicy(v.join("="), `-o ${MIRRORS_PUSH_OPTION}`);
      } catch (e) {
        say(`trunks: ${(e as Error).message}`);
        return `error ${(e as Error).message}`;
      }
      return "ok";
    }
    case "check-connectivity":
      opts.checkConnectivity = value === "true";
      return "ok";
    case "followtags":
    case "cloning":
    case "update-shallow":
    case "family":
      return "ok";
    default:
      // depth, deepen, filter, atomic...: not for a trunk.
      return "unsupported";
  }
}

function parsePushSpec(spec: string): PushSpec {
  const force = spec.startsWith("+");
  const body = force ? spec.slice(1) : spec;
  const i = body.lastIndexOf(":");
  if (i < 0) {
    throw new TrunkError(`malformed push refspec ${JSON.stringify(spec)} from git`, "bad-input");
  }
  return { src: body.slice(0, i), dst: body.slice(i + 1), force };
}

async function formatList(state: RefState | undefined, trunk: Trunk | null): Promise<string> {
  if (!state || !trunk) return "\n";
  // Loaded by now: the trunk was opened.
  const [{ isDeleted }, { headTarget }] = await Promise.all([
    import("../trunk/refs.ts"),
    import("../trunk/head.ts"),
  ]);
  // The live refs' names in one pass over the state, no copy of it (20,000 refs: a map
  // and two arrays less). Sorted by the built-in string order (UTF-16 code units, what `<`
  // compares): at 20,000 refs a comparator called from JavaScript took about twice as long.
  const names: string[] = [];
  for (const [ref, e] of state.latest) if (ref !== "HEAD" && !isDeleted(e)) names.push(ref);
  names.sort();
  let out = "";
  for (const ref of names) out += `${state.latest.get(ref)!.new} ${ref}\n`;
  const head = headTarget(state);
  if (head) out += `@${head} HEAD\n`;
  return out + "\n";
}

/**
 * Every temp dir a benchmark, git or a trunks process makes lands under one directory that
 * is removed when the benchmark ends: runs used to leave gigabytes of repositories in /tmp,
 * and a full disk later made MinIO refuse every write. Imported first by every bench entry
 * point (child processes inherit TMPDIR); `TRUNKS_BENCH_KEEP_TMP=1` keeps it for a look.
 */
const root = Deno.makeTempDirSync({ prefix: "trunks-bench-run-" });
Deno.env.set("TMPDIR", root);

let removed = false;
function remove(): void {
  if (removed || Deno.env.get("TRUNKS_BENCH_KEEP_TMP") === "1") return;
  removed = true;
  try {
    Deno.removeSync(root, { recursive: true });
  } catch {
    // Already gone, or a child still writing: nothing more a benchmark can do.
  }
}

// `unload` covers a normal end and Deno.exit; an uncaught error and a signal do not fire it.
globalThis.addEventListener("unload", remove);
globalThis.addEventListener("error", remove);
globalThis.addEventListener("unhandledrejection", remove);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    remove();
    Deno.exit(130);
  });
}

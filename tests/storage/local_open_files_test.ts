/**
 * Hostile review of 07b0b8b: each local create in flight holds its written temp file open
 * until it gets one of the process's fsync slots, so a process holds up to
 * `createParallelism` temp files per push. Two pushes at once in one process (the library
 * pushing two trunks on local disk, each through push.ts's mapLimit at createParallelism)
 * must still fit under `ulimit -n 1024`, the limit the store's own comments and the
 * benchmark hold it to: with 512 in flight per push, 2 x 512 temps exceed it (EMFILE).
 */
import { assertEquals } from "../assert.ts";

const child = `
import { openStore } from ${
  JSON.stringify(new URL("../../src/storage/registry.ts", import.meta.url).href)
};
import { mapLimit } from ${
  JSON.stringify(new URL("../../src/trunk/pool.ts", import.meta.url).href)
};
const root = Deno.args[0];
const runs = [0, 1].map(async (s) => {
  await Deno.mkdir(root + "/t" + s);
  const store = await openStore("file://" + root + "/t" + s);
  const keys = [...Array(3000).keys()];
  await mapLimit(keys, store.capabilities.createParallelism ?? 1, (i) =>
    store.create("refs/heads/b" + i, new TextEncoder().encode("entry " + i)));
});
try {
  await Promise.all(runs);
  console.log("ok");
} catch (e) {
  console.log(String((e as Error).message).split("\\n")[0]);
}
`;

Deno.test("local store: two pushes of 3,000 refs at once in one process fit in ulimit -n 1024", async () => {
  const root = await Deno.makeTempDir();
  try {
    const script = `${root}/child.ts`;
    await Deno.writeTextFile(script, child);
    const out = await new Deno.Command("bash", {
      args: ["-c", `ulimit -n 1024 && exec "${Deno.execPath()}" run -A "${script}" "${root}"`],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assertEquals(new TextDecoder().decode(out.stdout).trim(), "ok");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

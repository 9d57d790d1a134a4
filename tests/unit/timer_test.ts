/**
 * armTimer (src/storage/timer.ts) stands in for setTimeout under every store deadline:
 * it must fire after its time, never once cancelled, and a cancelled one must not hold a
 * process open (a 120 s store deadline would then delay every command's exit).
 */
import { armTimer } from "../../src/storage/timer.ts";
import { assert, assertEquals } from "../assert.ts";

Deno.test("armTimer fires once after its time; cancelled, never", async () => {
  let cancelledFired = 0;
  const cancel = armTimer(20, () => cancelledFired++);
  cancel();
  const t0 = performance.now();
  let fired = 0;
  await new Promise<void>((resolve) =>
    armTimer(60, () => {
      fired++;
      resolve();
    })
  );
  const took = performance.now() - t0;
  assert(took >= 55, `fired after ${took} ms, armed for 60`);
  await new Promise<void>((resolve) => armTimer(40, () => resolve()));
  assertEquals([fired, cancelledFired], [1, 0]);
});

Deno.test("armTimer takes what setTimeout takes: NaN and negatives are 0 ms, huge waits cap", async () => {
  for (const ms of [NaN, -5, 0]) {
    await new Promise<void>((resolve) => armTimer(ms, () => resolve()));
  }
  armTimer(Infinity, () => {})();
  armTimer(2 ** 40, () => {})();
});

Deno.test("a cancelled armTimer does not keep the process alive", async () => {
  const code = `import { armTimer } from ${
    JSON.stringify(new URL("../../src/storage/timer.ts", import.meta.url).href)
  }; armTimer(30000, () => console.log("fired"))(); console.log("done");`;
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const took = performance.now() - t0;
  assertEquals(new TextDecoder().decode(out.stdout), "done\n");
  assert(took < 15000, `the process lived ${took} ms after its only timer was cancelled`);
});

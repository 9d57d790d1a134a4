/**
 * armTimer (src/storage/timer.ts) stands in for setTimeout under every store deadline:
 * it must fire after its time, never once cancelled, and a cancelled one must not hold a
 * process open (a 120 s store deadline would then delay every command's exit).
 */
import { armTimer } from "../../src/storage/timer.ts";
import { assert, assertEquals } from "../assert.ts";

Deno.test("armTimer fires once after its time; cancelled, never (both kinds)", async () => {
  // Past the first 64 timers of a process, armTimer is setTimeout: the same checks apply.
  for (let round = 0; round < 2; round++) await firesOnce();
  for (let i = 0; i < 64; i++) armTimer(1, () => {})();
  for (let round = 0; round < 2; round++) await firesOnce();
});

async function firesOnce(): Promise<void> {
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
}

Deno.test("armTimer takes what setTimeout takes: NaN and negatives are 0 ms, huge waits cap", async () => {
  for (const ms of [NaN, -5, 0]) {
    await new Promise<void>((resolve) => armTimer(ms, () => resolve()));
  }
  armTimer(Infinity, () => {})();
  armTimer(2 ** 40, () => {})();
});

Deno.test("a cancelled armTimer does not keep the process alive, first timers or later", async () => {
  // The first 64 are signal-based, the rest setTimeout: 200 cover both.
  const code = `import { armTimer } from ${
    JSON.stringify(new URL("../../src/storage/timer.ts", import.meta.url).href)
  }; for (let i = 0; i < 200; i++) armTimer(30000, () => console.log("fired"))();
  let n = 0; await new Promise((r) => armTimer(10, () => r(n++)));
  console.log("done", n);`;
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const took = performance.now() - t0;
  assertEquals(new TextDecoder().decode(out.stdout), "done 1\n");
  assert(took < 15000, `the process lived ${took} ms after its only timer was cancelled`);
});

/**
 * Launchers run trunks from source with DENO_RUN_ARGS (src/helper/self.ts): a dynamic
 * import's modules load when the import runs, not before main.ts starts. Observed on
 * the wire: a script whose one dynamic import (of a module on a local HTTP server) never
 * runs must not fetch that module; Deno's default walks it at start.
 */
import { assertEquals } from "../assert.ts";
import { DENO_RUN_ARGS } from "../../src/helper/self.ts";

Deno.test("DENO_RUN_ARGS: a dynamic import that never runs is never loaded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "trunks-lazy-" });
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    requests.push(new URL(req.url).pathname);
    return new Response("export const never = true;\n", {
      headers: { "content-type": "application/typescript" },
    });
  });
  try {
    const script = `${dir}/lazy.ts`;
    await Deno.writeTextFile(
      script,
      `if (Deno.args[0] === "load") await import("http://127.0.0.1:${server.addr.port}/never.ts");\n` +
        `console.log("started");\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [...DENO_RUN_ARGS, script],
      // A cache of its own: nothing of the module is cached from an earlier run.
      env: { DENO_DIR: `${dir}/deno` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    assertEquals(out.code, 0, dec.decode(out.stderr));
    assertEquals(dec.decode(out.stdout), "started\n");
    assertEquals(requests, []);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

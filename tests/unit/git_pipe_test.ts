/** A long batch through git() (more output than a pipe holds) completes: no deadlock. */
import { assertEquals } from "../assert.ts";
import { git } from "../../src/git/run.ts";

Deno.test("git(): 30,000 lines in and out of cat-file --batch-check", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await git(["init", "-q", dir]);
    const blob = (await git(["hash-object", "-w", "--stdin"], { cwd: dir, stdin: "x\n" }))
      .stdout;
    const oid = new TextDecoder().decode(blob).trim();
    const res = await git(["cat-file", "--batch-check"], {
      cwd: dir,
      stdin: `${oid}\n`.repeat(30_000),
    });
    assertEquals(new TextDecoder().decode(res.stdout).trim().split("\n").length, 30_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

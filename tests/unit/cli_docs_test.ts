/**
 * docs/cli.md says it describes every command: every command `trunks --help` lists (and
 * every `trunks storage` sub-command) has a section there and a line in its synopsis,
 * every section names a real command, and each storage sub-command's heading is its
 * usage line, flag for flag. README links only pages inside the repository.
 */
import { assert, assertEquals } from "../assert.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

async function trunks(...args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `${ROOT}main.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

/** `  name   summary` lines of a help overview. */
function listed(help: string): string[] {
  return [...help.matchAll(/^ {2}([a-z][a-z-]*) {2,}\S/gm)].map((m) => m[1]);
}

const doc = await Deno.readTextFile(`${ROOT}docs/cli.md`);
const headings = [...doc.matchAll(/^##+ (.*)$/gm)].map((m) => m[1]);
const synopsis = /```\n(trunks {2,}[\s\S]*?)```/.exec(doc)?.[1] ?? "";
const commandNames = listed(await trunks("--help"));
const storageSubs = listed(await trunks("help", "storage"));

Deno.test("cli docs: trunks --help lists the commands it should (sync, check among them)", () => {
  assert(commandNames.length >= 10, commandNames.join(","));
  assert(commandNames.includes("check"));
  assert(storageSubs.includes("sync"), storageSubs.join(","));
});

Deno.test("cli docs: every command in trunks --help has a section and a synopsis line in docs/cli.md", () => {
  assert(synopsis, "docs/cli.md lost its synopsis block");
  for (const name of commandNames) {
    const form = name === "version" ? "trunks --version" : `trunks ${name}`;
    const re = new RegExp("`" + form.replace(/[-]/g, "\\-") + "(?=[ `])");
    assert(headings.some((h) => re.test(h)), `docs/cli.md has no section for ${form}`);
    assert(
      new RegExp(`(^|[ |])${name}([ |\\n]|$)`, "m").test(synopsis) ||
        (name === "version" && synopsis.includes("--version")),
      `the synopsis in docs/cli.md does not list ${name}`,
    );
  }
});

Deno.test("cli docs: every storage sub-command's section heading is its usage line", async () => {
  const line = /^trunks storage (?:[a-z]+\|)+[a-z]+$/m.exec(synopsis)?.[0] ?? "";
  assertEquals(
    line.replace("trunks storage ", "").split("|").sort(),
    [...storageSubs].sort(),
    "synopsis line for trunks storage",
  );
  for (const sub of storageSubs) {
    const usage = (await trunks("help", "storage", sub)).split("\n")[0].replace(/^usage: /, "");
    assert(
      headings.includes("`" + usage + "`"),
      `docs/cli.md has no heading \`${usage}\` (the usage of storage ${sub})`,
    );
  }
});

Deno.test("cli docs: every section names a command trunks knows", () => {
  const known = new Set([...commandNames, "--version"]);
  for (const h of headings) {
    for (const m of h.matchAll(/`trunks(?: ([a-z-]+))?/g)) {
      if (!m[1]) continue; // `trunks` alone: the shell
      assert(known.has(m[1]), `docs/cli.md documents trunks ${m[1]}, which trunks --help lacks`);
    }
    for (const m of h.matchAll(/`trunks storage ([a-z]+)/g)) {
      assert(storageSubs.includes(m[1]), `docs/cli.md documents storage ${m[1]}`);
    }
  }
});

Deno.test("docs: README and docs/ link only pages inside the repository", async () => {
  const pages = [`${ROOT}README.md`];
  const walk = async (dir: string) => {
    for await (const f of Deno.readDir(dir)) {
      if (f.isDirectory) await walk(`${dir}/${f.name}`);
      else if (f.name.endsWith(".md")) pages.push(`${dir}/${f.name}`);
    }
  };
  await walk(`${ROOT}docs`);
  for (const page of pages) {
    const text = await Deno.readTextFile(page);
    const dir = page.slice(0, page.lastIndexOf("/") + 1);
    for (const m of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      const target = m[1];
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      const abs = new URL(target, `file://${dir}`).pathname;
      assert(abs.startsWith(ROOT), `${page} links outside the repository: ${target}`);
      const exists = await Deno.stat(abs).then(() => true, () => false);
      assert(exists, `${page} links to a missing page: ${target}`);
    }
  }
});

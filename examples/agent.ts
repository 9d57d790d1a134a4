/**
 * Two agents hand work over through a trunk, with no git binary anywhere.
 *
 * The first agent (a short-lived sandbox) saves its work on a branch and exits; the
 * second, on another machine, opens the same trunk, picks the work up from the branch,
 * finishes it and pushes. A human sees both commits with plain git:
 * `git clone trunks::<url>` and `git log agent/<task>`.
 *
 *   deno run -A examples/agent.ts local:///tmp/store/trunks/demo.trunk [task-id]
 *   deno run -A examples/agent.ts "s3://bucket/trunks/demo.trunk?endpoint=http://127.0.0.1:9000"
 *
 * Credentials come from the storage's usual variables (AWS_ACCESS_KEY_ID, ...), or pass
 * `settings` to `Trunk.open`.
 */
import { ConflictError, Trunk } from "../mod.ts";

const [url, task = "42"] = Deno.args;
if (!url) {
  console.error("usage: deno run -A examples/agent.ts <trunk URL> [task-id]");
  Deno.exit(2);
}
const branch = `agent/${task}`;

/** Agent one: reads the project, writes a plan and a first draft, saves it on a branch. */
async function firstAgent(): Promise<string> {
  await using trunk = await Trunk.open({ url, create: true, writer: `agent-1 (task ${task})` });
  await trunk.pull();
  const base = await trunk.head();
  const readme = base && (await trunk.exists("README.md"))
    ? await trunk.readText("README.md")
    : "(empty project)\n";
  trunk.write(
    `work/${task}/plan.md`,
    `# Task ${task}\n\nBased on ${base ?? "nothing"}; README starts with:\n\n> ${
      readme.split("\n")[0]
    }\n\n- [x] read the project\n- [ ] write the summary\n`,
  );
  trunk.write(`work/${task}/draft.txt`, "Summary: (to be finished)\n");
  const c = await trunk.commit({ message: `agent-1: plan for task ${task}`, branch });
  await trunk.push();
  console.log(`agent-1 saved ${c.oid.slice(0, 12)} on ${branch}`);
  return c.oid;
}

/** Agent two: a fresh process that knows only the URL and the task. */
async function secondAgent(): Promise<string> {
  await using trunk = await Trunk.open({ url, writer: `agent-2 (task ${task})` });
  await trunk.pull();
  if (!(await trunk.branches()).includes(branch)) throw new Error(`no ${branch} to pick up`);
  const plan = await trunk.readText(`work/${task}/plan.md`, { ref: branch });
  const last = (await trunk.log({ ref: branch, limit: 1 }))[0];
  console.log(`agent-2 picked up ${branch} at ${last.oid.slice(0, 12)}: "${last.message.trim()}"`);
  trunk.write(`work/${task}/plan.md`, plan.replace("- [ ] write", "- [x] write"));
  trunk.write(`work/${task}/draft.txt`, "Summary: done, see plan.md.\n");
  await trunk.commit({ message: `agent-2: finish task ${task}`, branch });
  // Another agent may have pushed meanwhile: pull rebases our commit, then push again.
  for (let attempt = 1;; attempt++) {
    try {
      const [pushed] = await trunk.push();
      console.log(`agent-2 pushed ${pushed.oid.slice(0, 12)} on ${branch}`);
      return pushed.oid;
    } catch (e) {
      if (!(e instanceof ConflictError) || attempt === 3) throw e;
      await trunk.pull();
    }
  }
}

await firstAgent();
const done = await secondAgent();
console.log(JSON.stringify({ branch, head: done }));

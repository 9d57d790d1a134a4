/**
 * Imports point down only, and never in a circle (DESIGN.md "Layers"):
 *
 *   main.ts -> cli -> helper, sdk -> local -> trunk -> pack/git, storage      (mod.ts -> sdk, ...)
 *
 * The graph is what Deno itself resolves (`deno info --json`, static, dynamic and type-only
 * imports alike) from main.ts, mod.ts and every module of src/, harness/, bench/, scripts/ and
 * examples/. A failure prints the offending edge or the cycle, file by file.
 */
import { assertEquals } from "../assert.ts";

const ROOT = new URL("../..", import.meta.url);
const ROOT_PATH = decodeURIComponent(ROOT.pathname);

/** Which part of the product a file belongs to; the order of the DESIGN.md layers. */
type Layer = "entry" | "cli" | "helper" | "sdk" | "local" | "trunk" | "pack" | "storage";

/** Folders under src/ and the layer each one is. A new folder must be placed here. */
const SRC_LAYERS: Record<string, Layer> = {
  cli: "cli",
  helper: "helper",
  sdk: "sdk",
  local: "local",
  trunk: "trunk",
  pack: "pack",
  git: "pack",
  storage: "storage",
};

/**
 * What each layer may import besides itself. The CLI program hosts the remote-helper mode
 * (main.ts dispatches to it), so cli sits above helper; the local database implements the
 * engine's cache interface, so local sits above trunk.
 */
const MAY_IMPORT: Record<Layer, Layer[]> = {
  entry: ["cli", "helper", "sdk", "local", "trunk", "pack", "storage"],
  cli: ["helper", "sdk", "local", "trunk", "pack", "storage"],
  helper: ["local", "trunk", "pack", "storage"],
  sdk: ["local", "trunk", "pack", "storage"],
  local: ["trunk", "pack", "storage"],
  trunk: ["pack", "storage"],
  pack: [],
  storage: [],
};

/**
 * Edges another helper of this round is rewriting, left out of the cycle check until that
 * work lands, and only these exact edges. Remove an entry as soon as its edge is gone.
 */
const KNOWN_EDGES: { from: string; to: string; owner: string }[] = [];

/** Folders of tooling that tests and benchmarks share: none of them may import tests/. */
const TOOLING = ["harness", "bench", "scripts", "examples"];

type Edge = [from: string, to: string];

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(`${ROOT_PATH}/${dir}`)) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory) out.push(...await tsFiles(rel));
      else if (e.isFile && e.name.endsWith(".ts")) out.push(rel);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

/** Every edge between files of this checkout, as repository-relative paths. */
async function importGraph(): Promise<Edge[]> {
  const files = [
    "main.ts",
    "mod.ts",
    ...(await Promise.all(["src", ...TOOLING].map(tsFiles))).flat(),
  ];
  // One synthetic root importing them all: one `deno info` for the whole graph.
  const tmp = await Deno.makeTempDir({ prefix: "trunks-graph-" });
  try {
    const root = `${tmp}/all.ts`;
    await Deno.writeTextFile(
      root,
      files.map((f) => `import ${JSON.stringify(new URL(f, ROOT).href)};\n`).join(""),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", `${ROOT_PATH}/deno.json`, root],
      cwd: ROOT_PATH,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    if (!out.success) throw new Error(`deno info failed: ${dec.decode(out.stderr)}`);
    const info = JSON.parse(dec.decode(out.stdout)) as {
      modules: {
        specifier: string;
        dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
      }[];
    };
    const rel = (s: string) =>
      s.startsWith(ROOT.href) ? decodeURIComponent(s.slice(ROOT.href.length)) : null;
    const edges = new Map<string, Edge>();
    for (const m of info.modules) {
      const from = rel(m.specifier);
      if (!from) continue;
      for (const d of m.dependencies ?? []) {
        for (const target of [d.code?.specifier, d.type?.specifier]) {
          const to = target ? rel(target) : null;
          if (to && to !== from) edges.set(`${from}\0${to}`, [from, to]);
        }
      }
    }
    return [...edges.values()];
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** The layer of a product file, or why it has none. */
function layerOf(path: string): { layer: Layer } | { why: string } {
  if (path === "main.ts" || path === "mod.ts") return { layer: "entry" };
  const [top, dir] = path.split("/");
  if (top !== "src") return { why: `${top}/ is not part of the product` };
  const layer = SRC_LAYERS[dir];
  return layer ? { layer } : { why: `src/${dir}/ has no layer: place it in SRC_LAYERS` };
}

const isKnown = ([from, to]: Edge) => KNOWN_EDGES.some((k) => k.from === from && k.to === to);

const graph = importGraph();

Deno.test("product imports point down the layers only", async () => {
  const bad: string[] = [];
  for (const [from, to] of await graph) {
    const isProduct = (p: string) => p === "main.ts" || p === "mod.ts" || p.startsWith("src/");
    if (!isProduct(from)) continue;
    const a = layerOf(from), b = layerOf(to);
    if ("why" in a) bad.push(`${from}: ${a.why}`);
    else if ("why" in b) bad.push(`${from} -> ${to}: ${b.why}`);
    else if (a.layer !== b.layer && !MAY_IMPORT[a.layer].includes(b.layer)) {
      bad.push(`${from} -> ${to}: ${a.layer} may not import ${b.layer}`);
    }
  }
  assertEquals(bad, [], `upward imports:\n  ${bad.join("\n  ")}`);
});

Deno.test("benchmarks, scripts, examples and the shared harness never import tests/", async () => {
  const bad = (await graph)
    .filter(([from, to]) => TOOLING.includes(from.split("/")[0]) && to.startsWith("tests/"))
    .map(([from, to]) => `${from} -> ${to}`);
  assertEquals(bad, [], `imports of tests/:\n  ${bad.join("\n  ")}`);
});

Deno.test("no import cycles (apart from the listed edges being rewritten)", async () => {
  const edges = (await graph).filter((e) => !isKnown(e));
  const cycles = findCycles(edges).map((c) => c.join(" -> "));
  assertEquals(cycles, [], `import cycles:\n  ${cycles.join("\n  ")}`);
});

Deno.test("the cycle finder finds a cycle and names it", () => {
  assertEquals(findCycles([["a", "b"], ["b", "c"], ["c", "a"], ["c", "d"]]), [[
    "a",
    "b",
    "c",
    "a",
  ]]);
  assertEquals(findCycles([["a", "b"], ["b", "c"], ["a", "c"]]), []);
});

/**
 * One cycle per strongly connected component (Tarjan), written as a closed path of files
 * starting at the component's first file in sort order.
 */
export function findCycles(edges: Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const [a, b] of edges) {
    if (!next.has(a)) next.set(a, []);
    if (!next.has(b)) next.set(b, []);
    next.get(a)!.push(b);
  }
  for (const l of next.values()) l.sort();
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>(), comps: string[][] = [];
  let counter = 0;
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) comps.push(comp.sort());
    }
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  return comps.sort((a, b) => a[0] < b[0] ? -1 : 1).map((comp) => {
    // The shortest way from the first file back to itself, inside the component.
    const inComp = new Set(comp), start = comp[0];
    const prev = new Map<string, string>();
    const queue = [start];
    while (queue.length) {
      const v = queue.shift()!;
      for (const w of next.get(v)!) {
        if (!inComp.has(w) || prev.has(w)) continue;
        prev.set(w, v);
        if (w === start) queue.length = 0;
        else queue.push(w);
      }
    }
    const back: string[] = [];
    for (let v = prev.get(start)!; v !== start; v = prev.get(v)!) back.push(v);
    return [start, ...back.reverse(), start];
  });
}

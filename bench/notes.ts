/**
 * What a reader needs to judge the figures: when, on what machine, under what load, with
 * which versions. The machine is shared, so load is sampled at the start and the end of
 * every scenario and reported beside the results.
 */

export interface Load {
  at: string;
  /** 1, 5 and 15 minute load averages. */
  loadavg: [number, number, number];
  /** Processes runnable right now (from /proc/loadavg). */
  running: number;
}

export async function sampleLoad(): Promise<Load> {
  const raw = (await Deno.readTextFile("/proc/loadavg").catch(() => "0 0 0 0/0")).split(" ");
  return {
    at: new Date().toISOString(),
    loadavg: [Number(raw[0]), Number(raw[1]), Number(raw[2])],
    running: Number(raw[3]?.split("/")[0] ?? 0),
  };
}

export interface Machine {
  date: string;
  cpu: string;
  cores: number;
  memGiB: number;
  kernel: string;
  deno: string;
  git: string;
  minio: string;
}

async function out(cmd: string, args: string[]): Promise<string> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return new TextDecoder().decode(r.stdout).trim();
  } catch {
    return "?";
  }
}

export async function machine(minioVersion = "?"): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? 0);
  return {
    date: new Date().toISOString(),
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "?",
    cores: navigator.hardwareConcurrency,
    memGiB: Math.round(memKb / 1024 / 1024),
    kernel: await out("uname", ["-r"]),
    deno: Deno.version.deno,
    git: (await out("git", ["--version"])).replace(/^git version /, ""),
    minio: minioVersion,
  };
}

export function loadLine(a: Load, b: Load): string {
  const f = (l: Load) => l.loadavg.map((x) => x.toFixed(1)).join("/");
  return `load (1/5/15 min) ${f(a)} at start, ${f(b)} at end`;
}

export function machineMarkdown(m: Machine, versions: Record<string, string>): string {
  return [
    `- date: ${m.date}`,
    `- machine: ${m.cores} cores (${m.cpu}), ${m.memGiB} GiB, Linux ${m.kernel}; shared with other ` +
    `engineers' test runs (load below)`,
    `- deno ${m.deno}, git ${m.git}, MinIO ${m.minio}`,
    ...Object.entries(versions).map(([k, v]) => `- ${k}: ${v}`),
  ].join("\n");
}

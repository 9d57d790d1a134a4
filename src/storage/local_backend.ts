/** The `local://` and `file://` backend: its declaration (see backend.ts). */
import { type BackendSpec, requiredFlag } from "./backend.ts";

function absolutePath(p: string): string {
  if (p === "~" || p.startsWith("~/")) p = `${Deno.env.get("HOME") ?? ""}${p.slice(1)}`;
  if (!p.startsWith("/") && !/^[A-Za-z]:[\\/]/.test(p)) p = `${Deno.cwd()}/${p}`;
  return p.replace(/\\/g, "/").replace(/\/+$/, "") || "/";
}

export const localBackend: BackendSpec = {
  schemes: ["local", "file"],
  description: "local disk or a mounted file share (NFS, SMB)",
  settings: [{ key: "path", help: "directory of the storage root (storage add creates it)" }],
  rootUrl: (f) => `local://${encodeURI(absolutePath(requiredFlag(f, "path", "local")))}`,
  ensureRoot: async (rootUrl) => {
    const u = new URL(rootUrl);
    if (u.host && u.host !== "localhost") return;
    let path = decodeURIComponent(u.pathname);
    if (Deno.build.os === "windows" && /^\/[A-Za-z]:/.test(path)) path = path.slice(1);
    await Deno.mkdir(path, { recursive: true });
  },
  load: async () => (await import("./open_local.ts")).openLocal,
};

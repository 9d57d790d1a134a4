/** The `gcs://` (`gs://`) backend: its declaration (see backend.ts). */
import { type BackendSpec, requiredFlag } from "./backend.ts";

export const gcsBackend: BackendSpec = {
  schemes: ["gcs", "gs"],
  description: "Google Cloud Storage (and fake-gcs-server)",
  settings: [
    { key: "bucket", help: "bucket name (must exist)" },
    { key: "prefix", help: "path inside the bucket" },
    { key: "endpoint", help: "JSON API URL (emulators, private endpoints)" },
    {
      key: "credentials-file",
      secret: true,
      help: "service-account or authorized-user JSON key file (kept on this machine only)",
    },
  ],
  rootUrl: (f) => {
    const prefix = (f.prefix ?? "").replace(/^\/+|\/+$/g, "");
    const u = new URL(`gcs://${requiredFlag(f, "bucket", "gcs")}/${prefix}`);
    if (f.endpoint) u.searchParams.set("endpoint", f.endpoint);
    return u.toString().replace(/\/(\?|$)/, "$1");
  },
  load: async () => (await import("./gcs.ts")).openGcs,
};

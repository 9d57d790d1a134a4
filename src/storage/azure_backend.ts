/** The `azure://` backend: its declaration (see backend.ts). */
import { type BackendSpec, requiredFlag } from "./backend.ts";

export const azureBackend: BackendSpec = {
  schemes: ["azure"],
  description: "Azure Blob Storage (and Azurite)",
  settings: [
    { key: "account", help: "storage account name" },
    { key: "container", help: "blob container (must exist)" },
    { key: "prefix", help: "path inside the container" },
    { key: "endpoint", help: "blob service URL (emulators, sovereign clouds)" },
    { key: "connection-string", secret: true, help: "connection string from the portal" },
    { key: "account-key", secret: true, help: "storage account key" },
    { key: "sas-token", secret: true, help: "shared access signature" },
  ],
  rootUrl: (f) => {
    const account = f.account ??
      /(?:^|;)\s*AccountName=([^;]+)/i.exec(f["connection-string"] ?? "")?.[1];
    if (!account) throw new Error("--backend azure needs --account");
    const prefix = (f.prefix ?? "").replace(/^\/+|\/+$/g, "");
    const u = new URL(
      `azure://${account.toLowerCase()}/${requiredFlag(f, "container", "azure")}/${prefix}`,
    );
    if (f.endpoint) u.searchParams.set("endpoint", f.endpoint);
    return u.toString().replace(/\/(\?|$)/, "$1");
  },
  load: async () => (await import("./azure.ts")).openAzure,
};

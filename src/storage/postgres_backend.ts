/** The `postgres://` backend: its declaration (see backend.ts). */
import {
  type BackendSpec,
  hostPort,
  pathSegments,
  requiredFlag,
  urlWithoutPassword,
} from "./backend.ts";

// Shared by every machine using the storage, so in the URL; certificate and key files are
// paths on this machine and stay in its local settings.
const PG_QUERY = ["schema", "sslmode"];
export const postgresBackend: BackendSpec = {
  schemes: ["postgres", "postgresql"],
  description: "PostgreSQL (tables created on first use)",
  settings: [
    {
      key: "url",
      help: "postgres://user@host:port/database[/path] (a password in it is kept locally)",
    },
    { key: "host", help: "server host name, or a Unix socket directory" },
    { key: "port", help: "server port (default 5432)" },
    { key: "user", help: "database user (default PGUSER, then the OS user)" },
    { key: "database", help: "database name (must exist)" },
    { key: "path", help: "path inside the database, to keep several roots apart (optional)" },
    { key: "schema", help: "schema for the trunks tables (default public)" },
    { key: "sslmode", help: "disable, allow, prefer (default), require, verify-ca, verify-full" },
    { key: "sslrootcert", help: "CA certificate file for verify-ca / verify-full" },
    { key: "sslcert", help: "client certificate file" },
    { key: "sslkey", help: "client private key file" },
    {
      key: "password",
      secret: true,
      help: "password (else PGPASSWORD or ~/.pgpass); kept in the local database only",
    },
  ],
  rootUrl: (f) => {
    let u: URL;
    if (f.url) {
      u = urlWithoutPassword(f, ["postgres", "postgresql"]);
    } else {
      const host = requiredFlag(f, "host", "postgres");
      const db = requiredFlag(f, "database", "postgres");
      const socket = host.startsWith("/");
      u = new URL(`postgres://${socket ? "" : hostPort(host, f.port)}/`);
      if (f.user) u.username = encodeURIComponent(f.user);
      const rest = pathSegments(f.path);
      u.pathname = `/${encodeURIComponent(db)}${rest ? `/${rest}` : ""}`;
      if (socket) u.searchParams.set("host", host);
      if (socket && f.port) u.searchParams.set("port", f.port);
    }
    for (const k of PG_QUERY) if (f[k]) u.searchParams.set(k, f[k]!);
    return u.toString().replace(/%2F/gi, "/").replace(/\/(\?|$)/, "$1");
  },
  load: async () => (await import("./postgres.ts")).openPostgres,
};

/** The `sftp://` backend: its declaration (see backend.ts). */
import {
  type BackendSpec,
  hostPort,
  pathSegments,
  requiredFlag,
  urlWithoutPassword,
} from "./backend.ts";

export const sftpBackend: BackendSpec = {
  schemes: ["sftp"],
  description: "SFTP server (OpenSSH and others)",
  settings: [
    { key: "url", help: "sftp://user@host:port/path (a password in it is kept locally)" },
    { key: "host", help: "server host name" },
    { key: "port", help: "server port (default 22)" },
    { key: "user", help: "login user (default: the local user)" },
    {
      key: "path",
      help: "directory of the storage root on the server (must exist; ~/dir for home)",
    },
    { key: "key-file", help: "private key file (default: ssh-agent, then ~/.ssh/id_*)" },
    { key: "key-passphrase", secret: true, help: "passphrase of --key-file" },
    { key: "password", secret: true, help: "login password; kept in the local database only" },
    { key: "known-hosts", help: "known_hosts file (default ~/.ssh/known_hosts)" },
    {
      key: "host-key",
      help: "accept this host key fingerprint (SHA256:...) even if known_hosts lacks it",
    },
  ],
  rootUrl: (f) => {
    let u: URL;
    if (f.url) {
      u = urlWithoutPassword(f, ["sftp"]);
    } else {
      const host = requiredFlag(f, "host", "sftp");
      const path = requiredFlag(f, "path", "sftp");
      u = new URL(`sftp://${hostPort(host, f.port)}/`);
      if (f.user) u.username = encodeURIComponent(f.user);
      const home = path === "~" || path.startsWith("~/");
      const rest = pathSegments(home ? path.slice(1) : path);
      u.pathname = home ? `/~${rest ? `/${rest}` : ""}` : `/${rest}`;
    }
    return u.toString().replace(/\/$/, "");
  },
  load: async () => (await import("./sftp.ts")).openSftp,
};

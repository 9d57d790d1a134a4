/**
 * Host key verification as OpenSSH's `StrictHostKeyChecking yes`: the server's key must
 * be in a known_hosts file (plain or hashed entries, `[host]:port`, wildcards,
 * negations, `@revoked`), or be the fingerprint the user accepted explicitly. Anything
 * else is refused with the fingerprint shown. Never trust on first use.
 */
import { createHash, createHmac } from "node:crypto";
import { Buffer } from "node:buffer";

export interface KnownKey {
  file: string;
  line: number;
  type: string;
  key: Uint8Array;
  revoked: boolean;
}

/** `SHA256:<base64 without padding>`, as `ssh-keygen -l` prints it. */
export function fingerprint(key: Uint8Array): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

/** The name known_hosts uses for a host: `host`, or `[host]:port` off port 22. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${
      pattern.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")
        .replace(/\[/g, "\\[").replace(/\]/g, "\\]")
    }$`,
    "i",
  );
  return re.test(name);
}

function hashedMatch(entry: string, name: string): boolean {
  const [, magic, salt, hash] = entry.split("|");
  if (magic !== "1" || !salt || !hash) return false;
  const mac = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
  return mac === hash;
}

/** Does a known_hosts host field (comma-separated patterns) name this host? */
export function hostFieldMatches(field: string, names: string[]): boolean {
  if (field.startsWith("|")) return names.some((n) => hashedMatch(field, n));
  let matched = false;
  for (const raw of field.split(",")) {
    const negated = raw.startsWith("!");
    const pattern = negated ? raw.slice(1) : raw;
    if (names.some((n) => globMatch(pattern, n))) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** Keys listed for `host:port` in the given known_hosts texts. */
export function knownKeysFor(
  files: { path: string; text: string }[],
  host: string,
  port: number,
): KnownKey[] {
  const names = [knownHostName(host, port)];
  const out: KnownKey[] = [];
  for (const f of files) {
    f.text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith("#")) return;
      const fields = line.split(/\s+/);
      let marker = "";
      if (fields[0].startsWith("@")) marker = fields.shift()!;
      if (marker === "@cert-authority" || fields.length < 3) return;
      if (!hostFieldMatches(fields[0], names)) return;
      let key: Uint8Array;
      try {
        key = new Uint8Array(Buffer.from(fields[2], "base64"));
      } catch {
        return;
      }
      out.push({ file: f.path, line: i + 1, type: fields[1], key, revoked: marker === "@revoked" });
    });
  }
  return out;
}

/** The key type inside an SSH wire-format public key blob (`ssh-ed25519`, ...). */
export function keyType(blob: Uint8Array): string {
  if (blob.byteLength < 4) return "unknown";
  const len = new DataView(blob.buffer, blob.byteOffset, blob.byteLength).getUint32(0);
  return new TextDecoder().decode(blob.subarray(4, 4 + len));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
}

export type HostKeyVerdict =
  | { ok: true }
  | { ok: false; reason: "unknown" | "changed" | "revoked"; message: string };

/**
 * Accept `offered` for host:port if a non-revoked known_hosts entry has it or its
 * fingerprint is in `accepted` (the user's explicit `--host-key`, which also accepts a
 * key that differs from known_hosts; a revoked key never). The refusal message shows
 * the fingerprint and what to do.
 */
export function verifyHostKey(
  offered: Uint8Array,
  host: string,
  port: number,
  known: KnownKey[],
  accepted: string[],
  searched: string[],
): HostKeyVerdict {
  const fp = fingerprint(offered);
  const type = keyType(offered);
  const name = knownHostName(host, port);
  const revoked = known.find((k) => k.revoked && sameBytes(k.key, offered));
  if (revoked) {
    return {
      ok: false,
      reason: "revoked",
      message: `sftp: the host key of ${name} (${type} ${fp}) is marked @revoked in ` +
        `${revoked.file}:${revoked.line}; refusing to connect`,
    };
  }
  if (known.some((k) => !k.revoked && sameBytes(k.key, offered))) return { ok: true };
  if (accepted.includes(fp)) return { ok: true };
  const others = known.filter((k) => !k.revoked);
  if (others.length > 0) {
    const where = others.map((k) => `${k.file}:${k.line}`).join(", ");
    return {
      ok: false,
      reason: "changed",
      message: `sftp: HOST KEY CHANGED for ${name}: the server offered ${type} ${fp}, ` +
        `but ${where} lists a different key. This may be an attack; if the change is ` +
        `expected, remove the old entry (ssh-keygen -R '${name}') and add the new one, ` +
        `or accept this key explicitly with --host-key ${fp}`,
    };
  }
  return {
    ok: false,
    reason: "unknown",
    message:
      `sftp: the host key of ${name} is not known (${type} ${fp}; searched ${
        searched.join(", ") || "no known_hosts file"
      }). Check the fingerprint with the server's admin, then add it ` +
      `(ssh-keyscan -p ${port} ${host} >> ~/.ssh/known_hosts) or pass --host-key ${fp}`,
  };
}

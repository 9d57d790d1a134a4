/**
 * The SFTP backend beyond the shared contract: known_hosts verification (hashed,
 * ports, wildcards, revoked; changed and unknown keys refused with the fingerprint),
 * login by key, password and ssh-agent, errors without secrets, create races across
 * connections, temp files, and a connection dropped under a store.
 */
import { openSftpWith, type SftpStore } from "../../src/storage/sftp.ts";
import { resolveSftpConfig } from "../../src/storage/sftp_config.ts";
import { fingerprint, knownKeysFor, verifyHostKey } from "../../src/storage/sftp_hosts.ts";
import { backendSpec, type Settings } from "../../src/storage/registry.ts";
import { getBytes, type Store, StoreError } from "../../src/storage/store.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { serverEnv } from "../servers.ts";

const noEnv = (_: string): string | undefined => undefined;
const envOf = (vars: Record<string, string>) => (n: string): string | undefined => vars[n];
const url = (s: string) => new URL(s);
const opts = { sanitizeOps: false, sanitizeResources: false };
const enc = new TextEncoder();

async function sh(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** A fresh ed25519 key pair (optionally with a passphrase): [private path, public line]. */
async function keygen(dir: string, name: string, passphrase = ""): Promise<[string, string]> {
  const path = `${dir}/${name}`;
  await sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", name, "-f", path]);
  return [path, (await Deno.readTextFile(`${path}.pub`)).trim()];
}

const blobOf = (pubLine: string) =>
  Uint8Array.from(atob(pubLine.split(/\s+/)[1]), (c) => c.charCodeAt(0));

Deno.test("sftp host keys: fingerprint as ssh-keygen prints it; plain, [host]:port, wildcard, negated, hashed, revoked", async () => {
  const dir = await Deno.makeTempDir();
  const [priv, pub] = await keygen(dir, "host");
  const [, other] = await keygen(dir, "other");
  const printed = (await sh("ssh-keygen", ["-lf", `${priv}.pub`])).split(" ")[1];
  assertEquals(fingerprint(blobOf(pub)), printed);

  const [type, b64] = pub.split(" ");
  const file = (text: string) => [{ path: "kh", text }];
  const keysFor = (text: string, host: string, port: number) =>
    knownKeysFor(file(text), host, port).filter((k) => !k.revoked).length;
  assertEquals(keysFor(`host.example ${type} ${b64}`, "host.example", 22), 1);
  assertEquals(keysFor(`host.example ${type} ${b64}`, "host.example", 2222), 0);
  assertEquals(keysFor(`[host.example]:2222 ${type} ${b64}`, "host.example", 2222), 1);
  assertEquals(keysFor(`a,*.example ${type} ${b64}`, "h.example", 22), 1);
  assertEquals(keysFor(`*.example,!bad.example ${type} ${b64}`, "bad.example", 22), 0);
  assertEquals(keysFor(`@cert-authority *.example ${type} ${b64}`, "h.example", 22), 0);

  // Hashed by OpenSSH itself.
  const kh = `${dir}/known_hosts`;
  await Deno.writeTextFile(kh, `[10.1.2.3]:2200 ${type} ${b64}\nplain.example ${other}\n`);
  await sh("ssh-keygen", ["-H", "-f", kh]);
  const hashed = await Deno.readTextFile(kh);
  assert(hashed.startsWith("|1|"), hashed);
  assertEquals(keysFor(hashed, "10.1.2.3", 2200), 1);
  assertEquals(keysFor(hashed, "10.1.2.3", 22), 0);

  const known = knownKeysFor(file(`[10.1.2.3]:2200 ${type} ${b64}`), "10.1.2.3", 2200);
  assert(verifyHostKey(blobOf(pub), "10.1.2.3", 2200, known, [], ["kh"]).ok);
  const changed = verifyHostKey(blobOf(other), "10.1.2.3", 2200, known, [], ["kh"]);
  assert(!changed.ok && changed.reason === "changed");
  assertStringIncludes(changed.message, fingerprint(blobOf(other)));
  assertStringIncludes(changed.message, "kh:1");
  assertStringIncludes(changed.message, `--host-key ${fingerprint(blobOf(other))}`);
  // The user's explicit --host-key accepts that exact key, even over a known_hosts entry.
  assert(
    verifyHostKey(blobOf(other), "10.1.2.3", 2200, known, [fingerprint(blobOf(other))], []).ok,
  );
  const unknown = verifyHostKey(blobOf(pub), "new.example", 22, [], [], ["kh"]);
  assert(!unknown.ok && unknown.reason === "unknown");
  assertStringIncludes(unknown.message, `--host-key ${printed}`);
  assert(verifyHostKey(blobOf(pub), "new.example", 22, [], [printed], []).ok);
  const revoked = knownKeysFor(file(`@revoked * ${type} ${b64}`), "any", 22);
  const v = verifyHostKey(blobOf(pub), "any", 22, revoked, [printed], []);
  assert(!v.ok && v.reason === "revoked");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sftp config: URL, home paths, auth order, env fallbacks, key file problems", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/.ssh`);
  const [defaultKey] = await keygen(`${dir}/.ssh`, "id_ed25519");
  const [locked] = await keygen(dir, "locked", "correct horse");

  const c = resolveSftpConfig(url("sftp://alice:pw@files.example:2222/srv/store"), {}, noEnv);
  assertEquals([c.host, c.port, c.user, c.path, c.home], [
    "files.example",
    2222,
    "alice",
    "/srv/store",
    false,
  ]);
  assertEquals(c.authTried, ["password"]);
  assertEquals(c.location, "sftp://alice@files.example:2222/srv/store");
  const h = resolveSftpConfig(url("sftp://bob@h/~/repos"), {}, noEnv);
  assertEquals([h.home, h.path, h.location], [true, "repos", "sftp://bob@h/~/repos"]);

  const env = envOf({ HOME: dir, SSH_AUTH_SOCK: "/tmp/agent.sock", USER: "me" });
  const d = resolveSftpConfig(url("sftp://h/srv"), {}, env);
  assertEquals(d.user, "me");
  assertEquals(d.authTried, ["ssh-agent", `key ${defaultKey}`]);
  assertEquals(d.knownHostsFiles[0], `${dir}/.ssh/known_hosts`);
  // An explicit key file comes first and replaces the default identities.
  const k = resolveSftpConfig(url("sftp://u@h/srv"), {
    "key-file": locked,
    "key-passphrase": "correct horse",
    password: "pw",
  }, env);
  assertEquals(k.authTried, [`key ${locked}`, "ssh-agent", "password"]);
  // Bare remotes take settings from the environment.
  const e = resolveSftpConfig(
    url("sftp://u@h/srv"),
    {},
    envOf({
      TRUNKS_SFTP_KEY_FILE: locked,
      TRUNKS_SFTP_KEY_PASSPHRASE: "correct horse",
      TRUNKS_SFTP_KNOWN_HOSTS: "/kh",
      TRUNKS_SFTP_HOST_KEY: "SHA256:abc",
      SSHPASS: "envpw",
    }),
  );
  assertEquals(e.authTried, [`key ${locked}`, "password"]);
  assertEquals([e.knownHostsFiles, e.acceptedFingerprints], [["/kh"], ["SHA256:abc"]]);

  for (
    const [settings, part] of [
      [{ "key-file": locked }, "is encrypted: pass --key-passphrase"],
      [{ "key-file": locked, "key-passphrase": "wrong" }, "wrong --key-passphrase"],
      [{ "key-file": `${dir}/nope` }, "does not exist"],
    ] as [Settings, string][]
  ) {
    let err: unknown;
    try {
      resolveSftpConfig(url("sftp://u@h/srv"), settings, noEnv);
    } catch (x) {
      err = x;
    }
    assert(err instanceof StoreError, part);
    assertStringIncludes(err.message, part);
    assert(!err.message.includes("correct horse"));
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sftp storage add flags: rootUrl builds the URL and keeps the password out of it", () => {
  const spec = backendSpec("sftp")!;
  const secret = spec.settings.filter((s) => s.secret).map((s) => s.key).sort();
  assertEquals(secret, ["key-passphrase", "password"]);
  assertEquals(
    spec.rootUrl({ host: "files.example", port: "2222", user: "bob", path: "/srv/git store" }),
    "sftp://bob@files.example:2222/srv/git%20store",
  );
  assertEquals(spec.rootUrl({ host: "h", path: "~/repos" }), "sftp://h/~/repos");
  const flags: Settings = { url: "sftp://bob:pa%3Ass@h/srv" };
  assertEquals(spec.rootUrl(flags), "sftp://bob@h/srv");
  assertEquals(flags.password, "pa:ss");
  let err: unknown;
  try {
    spec.rootUrl({ host: "h" });
  } catch (e) {
    err = e;
  }
  assertStringIncludes(String(err), "--path");
});

// --- against the real server --------------------------------------------------------

const env = serverEnv("sshd", [
  "TRUNKS_TEST_SFTP_URL",
  "TRUNKS_TEST_SFTP_KEY",
  "TRUNKS_TEST_SFTP_KNOWN_HOSTS",
]);
// Only an sshd started as root can check passwords (scripts/servers/sshd.sh says so).
const sshPassword = Deno.env.get("TRUNKS_TEST_SFTP_PASSWORD");
const ignore = env === null;
const base = () => url(env!.TRUNKS_TEST_SFTP_URL);
const freshUrl = (root = env!.TRUNKS_TEST_SFTP_URL) =>
  url(`${root}/trunks/t-${crypto.randomUUID()}.trunk`);
const keySettings = (): Settings => ({
  "key-file": env!.TRUNKS_TEST_SFTP_KEY,
  "known-hosts": env!.TRUNKS_TEST_SFTP_KNOWN_HOSTS,
});

async function withStore<T>(
  u: URL,
  settings: Settings,
  fn: (s: Store) => Promise<T>,
  e = noEnv,
): Promise<T> {
  const s = await openSftpWith(u, settings, e);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/** The test server's host key, from the known_hosts the server script wrote. */
async function serverKey(): Promise<{ line: string; fp: string }> {
  const line = (await Deno.readTextFile(env!.TRUNKS_TEST_SFTP_KNOWN_HOSTS)).trim();
  const key = line.split(/\s+/).slice(1).join(" ");
  return { line, fp: fingerprint(blobOf(key)) };
}

Deno.test({
  name: "sftp host key: changed or unknown is refused with the fingerprint; hashed entries and " +
    "an accepted fingerprint connect",
  ignore,
  ...opts,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const { line, fp } = await serverKey();
    const hostField = line.split(/\s+/)[0];
    const [, impostor] = await keygen(dir, "impostor");
    const kh = `${dir}/known_hosts`;
    const settings = { "key-file": env!.TRUNKS_TEST_SFTP_KEY, "known-hosts": kh };

    await Deno.writeTextFile(kh, `${hostField} ${impostor}\n`);
    let err = await assertRejects(
      () => withStore(freshUrl(), settings, (s) => s.list("")),
      StoreError,
      "HOST KEY CHANGED",
    );
    assertEquals((err as StoreError).code, "access-denied");
    assertStringIncludes(err.message, fp);
    // The explicit --host-key accepts the key the error showed.
    assertEquals(
      await withStore(freshUrl(), { ...settings, "host-key": fp }, (s) => s.list("")),
      [],
    );

    await Deno.writeTextFile(kh, "");
    err = await assertRejects(
      () => withStore(freshUrl(), settings, (s) => s.list("")),
      StoreError,
      "is not known",
    );
    assertStringIncludes(err.message, `--host-key ${fp}`);
    assertEquals(
      await withStore(freshUrl(), { ...settings, "host-key": fp }, (s) => s.list("")),
      [],
    );

    await Deno.writeTextFile(kh, `${line}\n`);
    await sh("ssh-keygen", ["-H", "-f", kh]);
    assertEquals(await withStore(freshUrl(), settings, (s) => s.list("")), []);
    await Deno.remove(dir, { recursive: true });
  },
});

async function passwordLogin(pw: string, kh: string, noKeys: (n: string) => string | undefined) {
  assert(
    await withStore(
      freshUrl(),
      { password: pw, "known-hosts": kh },
      (s) => s.create("a", enc.encode("x")),
      noKeys,
    ),
  );
  const wrong = "not-the-password-42";
  const err = await assertRejects(
    () => withStore(freshUrl(), { password: wrong, "known-hosts": kh }, (s) => s.list(""), noKeys),
    StoreError,
    "authentication failed",
  );
  assertEquals((err as StoreError).code, "access-denied");
  assertStringIncludes(err.message, "tried: password");
  assert(!err.message.includes(wrong) && !String(err.stack).includes(wrong));
}

Deno.test({
  name: "sftp login: password, ssh-agent; a wrong password is refused without showing it",
  ignore,
  ...opts,
  fn: async () => {
    const kh = env!.TRUNKS_TEST_SFTP_KNOWN_HOSTS;
    const noKeys = envOf({ HOME: "/nonexistent" });
    if (sshPassword === undefined) {
      console.error("sshd runs unprivileged: password login is not checked");
    } else {
      await passwordLogin(sshPassword, kh, noKeys);
    }

    // ssh-agent holding the test key: the store finds it through SSH_AUTH_SOCK alone.
    const dir = await Deno.makeTempDir();
    const sock = `${dir}/agent.sock`;
    const agent = new Deno.Command("ssh-agent", { args: ["-D", "-a", sock], stdout: "null" })
      .spawn();
    try {
      for (let i = 0; i < 50; i++) {
        if (await Deno.stat(sock).then(() => true, () => false)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await sh("ssh-add", ["-q", env!.TRUNKS_TEST_SFTP_KEY], { SSH_AUTH_SOCK: sock });
      assertEquals(
        await withStore(
          freshUrl(),
          { "known-hosts": kh },
          (s) => s.list(""),
          envOf({ SSH_AUTH_SOCK: sock, HOME: "/nonexistent" }),
        ),
        [],
      );
    } finally {
      agent.kill();
      await agent.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "sftp: missing root, permission denied, home-relative paths, unreachable port",
  ignore,
  ...opts,
  fn: async () => {
    const b = base();
    const missing = url(`sftp://${b.username}@${b.host}/no/such/root/trunks/x.trunk`);
    let err = await assertRejects(
      () => withStore(missing, keySettings(), (s) => s.put("a", enc.encode("x"))),
      StoreError,
      "/no/such/root does not exist",
    );
    assertEquals((err as StoreError).code, "not-found-root");

    const readOnly = url(`sftp://${b.username}@${b.host}/etc/trunks/x.trunk`);
    err = await assertRejects(
      () => withStore(readOnly, keySettings(), (s) => s.put("a", enc.encode("x"))),
      StoreError,
      "permission denied",
    );
    assertEquals((err as StoreError).code, "access-denied");

    // `/~/` is the login's home directory (which exists: it is the storage root here).
    const home = url(`sftp://${b.username}@${b.host}/~/trunks/t-${crypto.randomUUID()}.trunk`);
    await withStore(home, keySettings(), async (s) => {
      assert(await s.create("refs/r/1", enc.encode("home")));
      assertEquals((await s.list("refs/")).map((e) => e.key), ["refs/r/1"]);
      await s.delete("refs/r/1");
    });

    const closed = Number(b.port) === 1 ? 2 : Number(b.port) - 1;
    err = await assertRejects(
      () =>
        withStore(
          url(`sftp://${b.username}@127.0.0.1:${closed}/x`),
          keySettings(),
          (s) => s.list(""),
        ),
      StoreError,
      "cannot reach",
    );
    assertEquals((err as StoreError).code, "unreachable");
  },
});

Deno.test({
  name: "sftp create: 8 stores on their own connections race for one key, one wins; " +
    "temp files are never listed and are swept when stale",
  ignore,
  ...opts,
  fn: async () => {
    const u = freshUrl();
    const stores = await Promise.all(
      Array.from({ length: 8 }, () => openSftpWith(u, keySettings(), noEnv)),
    );
    try {
      for (let round = 0; round < 3; round++) {
        const key = `refs/main/${round}`;
        const results = await Promise.all(
          stores.map((s, i) => s.create(key, enc.encode(`writer-${i}`))),
        );
        const winners = results.flatMap((ok, i) => ok ? [i] : []);
        assertEquals(winners.length, 1, `round ${round}: winners ${winners}`);
        assertEquals(
          new TextDecoder().decode((await getBytes(stores[0], key))!),
          `writer-${winners[0]}`,
        );
      }
      const s = stores[0] as SftpStore;
      // A writer that died mid-upload leaves a temp file: never listed, swept once stale.
      await s.put("refs/.tmp-dead-writer", enc.encode("partial"));
      assertEquals((await s.list("refs/")).map((e) => e.key), [
        "refs/main/0",
        "refs/main/1",
        "refs/main/2",
      ]);
      assertEquals(await s.sweepStale(3600_000), 0);
      await new Promise((r) => setTimeout(r, 1100));
      assertEquals(await s.sweepStale(1000), 1);
      assertEquals((await s.list("refs/")).length, 3);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  },
});

/** A TCP relay to the sshd whose connections the test can cut. */
function relay(target: number): { port: number; cut: () => void; close: () => void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: "127.0.0.1", port: target });
      open.add(client);
      open.add(server);
      const pipe = (a: Deno.Conn, b: Deno.Conn) =>
        a.readable.pipeTo(b.writable).catch(() => {}).finally(() => {
          open.delete(a);
          try {
            b.close();
          } catch { /* closed */ }
        });
      pipe(client, server);
      pipe(server, client);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    cut: () => {
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      open.clear();
    },
    close: () => listener.close(),
  };
}

Deno.test({
  name: "sftp: a dropped connection is reopened for the next operation; a large streamed put " +
    "round-trips with ranges",
  ignore,
  ...opts,
  fn: async () => {
    const b = base();
    const r = relay(Number(b.port));
    const dir = await Deno.makeTempDir();
    try {
      const { line } = await serverKey();
      const kh = `${dir}/known_hosts`;
      await Deno.writeTextFile(kh, line.replace(/^\S+/, `[127.0.0.1]:${r.port}`) + "\n");
      const u = url(
        `sftp://${b.username}@127.0.0.1:${r.port}${b.pathname}/trunks/t-${crypto.randomUUID()}.trunk`,
      );
      await withStore(
        u,
        { "key-file": env!.TRUNKS_TEST_SFTP_KEY, "known-hosts": kh },
        async (s) => {
          const size = 24 * 1024 * 1024 + 99;
          const data = new Uint8Array(size);
          for (let i = 0; i < size; i += 997) data[i] = i % 256;
          let at = 0;
          await s.put(
            "segments/big.pack",
            new ReadableStream({
              pull(c) {
                if (at >= size) return c.close();
                c.enqueue(data.slice(at, at + 300_000));
                at += 300_000;
              },
            }),
          );
          const range = await getBytes(s, "segments/big.pack", {
            offset: 5_000_000,
            length: 3_000_000,
          });
          assertEquals(range, data.slice(5_000_000, 8_000_000));

          r.cut();
          await new Promise((res) => setTimeout(res, 100));
          // Reads and lists retry on a new connection.
          assertEquals((await s.list("segments/")).map((e) => [e.key, e.size]), [[
            "segments/big.pack",
            size,
          ]]);
          r.cut();
          await new Promise((res) => setTimeout(res, 100));
          assert(await s.create("refs/x/1", enc.encode("one")));
          assertEquals(await s.create("refs/x/1", enc.encode("two")), false);
          assertEquals(new TextDecoder().decode((await getBytes(s, "refs/x/1"))!), "one");
        },
      );
    } finally {
      r.cut();
      r.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// A store writer swaps the trunk's segments directory on the server for a symlink to a
// directory the SFTP user can write: puts and deletes refuse to follow it (as the local
// store does), and nothing lands or vanishes there.
Deno.test({
  name: "sftp: writes and deletes never follow a symlink on the server out of the trunk",
  ignore,
  ...opts,
  fn: async () => {
    const u = freshUrl();
    const trunkDir = decodeURIComponent(u.pathname);
    const outside = `${decodeURIComponent(base().pathname)}/outside-${crypto.randomUUID()}`;
    await Deno.mkdir(outside);
    await Deno.chmod(outside, 0o777);
    const victim = `${"a".repeat(64)}.pack`;
    await Deno.writeFile(`${outside}/${victim}`, new Uint8Array([7]));
    await Deno.chmod(`${outside}/${victim}`, 0o666);
    try {
      await withStore(u, keySettings(), async (s) => {
        await s.put("trunk.json", enc.encode("{}"));
        await Deno.symlink(outside, `${trunkDir}/segments`);
        const put = await assertRejects(
          () => s.put(`segments/${"b".repeat(64)}.pack`, enc.encode("x")),
          StoreError,
        );
        assertStringIncludes(put.message, "leads outside");
        assert(!put.message.includes("\n"), "one line");
        await assertRejects(() => s.create(`segments/${"c".repeat(64)}.idx`, enc.encode("x")));
        await assertRejects(() => s.delete(`segments/${victim}`), StoreError);
        // Inside the trunk, writes and deletes still work.
        await s.put("refs/x/000000000001", enc.encode("y"));
        await s.delete("refs/x/000000000001");
      });
      const left = (await Array.fromAsync(Deno.readDir(outside))).map((e) => e.name);
      assertEquals(left, [victim], `outside holds ${left}`);
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  },
});

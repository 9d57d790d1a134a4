/**
 * Named storages without a server: URL aliases, `trunks://NAME/REPO` parsing and
 * precedence (this repository's storage over the per-user config), the per-user config
 * file (where it lives, written whole with 0600, never a secret), and the credential
 * advice the CLI and the helper share.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { expandStoreUrl } from "../../src/storage/url_alias.ts";
import {
  canonicalStoreUrl,
  parseStoreUrl,
  redactUrl,
  secretsInUrl,
} from "../../src/storage/registry.ts";
import { parseNamedUrl, resolveNamedUrl } from "../../src/local/named_url.ts";
import {
  readUserConfig,
  secretIn,
  type UserConfig,
  userConfigDir,
  writeUserConfig,
} from "../../src/local/user_config.ts";
import { LocalDb } from "../../src/local/db.ts";
import { insertStorage } from "../../src/local/storages.ts";
import { accessWords, credentialAdvice } from "../../src/trunk/credential_hint.ts";
import { withAccessAdvice } from "../../src/storage/advised.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { StoreError } from "../../src/storage/store.ts";

function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

Deno.test("aliases: minio:// is s3:// with the endpoint in the URL; nfs:// and smb:// are local paths", () => {
  assertEquals(
    expandStoreUrl("minio://127.0.0.1:9000/bucket/team/code"),
    "s3://bucket/team/code?endpoint=http://127.0.0.1:9000",
  );
  assertEquals(
    expandStoreUrl("minio+https://minio.example.com/bucket?region=eu-1"),
    "s3://bucket?endpoint=https://minio.example.com&region=eu-1",
  );
  assertEquals(expandStoreUrl("nfs:///mnt/share/trunks"), "local:///mnt/share/trunks");
  assertEquals(expandStoreUrl("smb:///Volumes/team/trunks"), "local:///Volumes/team/trunks");
  assertEquals(expandStoreUrl("nfs://localhost/mnt/x"), "local://localhost/mnt/x");
  // Everything else passes unchanged.
  for (const u of ["s3://b?endpoint=http://h:9", "local:///srv", "azure://acct/c", "x"]) {
    assertEquals(expandStoreUrl(u), u);
  }
  // The registry knows them: an alias opens like its backend's URL.
  assertEquals(parseStoreUrl("minio://h:9000/b").protocol, "s3:");
  assertEquals(canonicalStoreUrl("nfs:///mnt/s"), "local:///mnt/s");
});

Deno.test("aliases: what they cannot mean is refused in one line, saying what to do", () => {
  assertMatch(message(() => expandStoreUrl("nfs://filer/export/trunks")), /does not mount/);
  assertMatch(
    message(() => expandStoreUrl("smb://nas/team")),
    /mount -t cifs \/\/nas\/SHARE .*smb:\/\/\/mnt\/share/,
  );
  assertMatch(message(() => expandStoreUrl("minio://u:pw@h:9000/b")), /no user or password/);
  assert(!message(() => expandStoreUrl("minio://u:pw@h:9000/b")).includes("pw"));
  assertMatch(message(() => expandStoreUrl("minio://h:9000")), /names no bucket/);
  assertMatch(
    message(() => expandStoreUrl("minio://h:9000/b?endpoint=http://x")),
    /HOST:PORT, not \?endpoint=/,
  );
  assertEquals(message(() => canonicalStoreUrl("nfs://filer/x")).split("\n").length, 1);
});

Deno.test("trunks://NAME/REPO: parsed strictly", () => {
  assertEquals(parseNamedUrl("trunks://primary/myrepo"), { name: "primary", repo: "myrepo" });
  assertEquals(parseNamedUrl("trunks://primary/myrepo.trunk/"), {
    name: "primary",
    repo: "myrepo",
  });
  assertEquals(parseNamedUrl("trunks://p/caf%C3%A9").repo, "café");
  assertMatch(message(() => parseNamedUrl("trunks://primary/a/b")), /path separator/);
  assertMatch(message(() => parseNamedUrl("trunks://primary/..")), /'\.\.'/);
  assertMatch(message(() => parseNamedUrl("trunks://primary/x?endpoint=e")), /not in a query/);
  assertMatch(message(() => parseNamedUrl("trunks://9bad/x")), /not a storage name/);
  assertMatch(message(() => parseNamedUrl("trunks://primary")), /trunks:\/\/NAME\/REPO/);
});

Deno.test("per-user config: TRUNKS_CONFIG_DIR, then an absolute XDG_CONFIG_HOME, then ~/.config", () => {
  const env = (vars: Record<string, string>) => (k: string) => vars[k];
  assertEquals(userConfigDir(env({ TRUNKS_CONFIG_DIR: "/t", XDG_CONFIG_HOME: "/x" })), "/t");
  assertEquals(userConfigDir(env({ XDG_CONFIG_HOME: "/x", HOME: "/h" })), "/x/trunks");
  // A relative XDG_CONFIG_HOME is invalid by the spec and ignored.
  assertEquals(userConfigDir(env({ XDG_CONFIG_HOME: "rel", HOME: "/h" })), "/h/.config/trunks");
  assertEquals(userConfigDir(env({ HOME: "/h" })), "/h/.config/trunks");
});

async function tempConfig(): Promise<{ dir: string; cfg: UserConfig }> {
  const dir = await Deno.makeTempDir({ prefix: "trunks-cfg-" });
  return { dir, cfg: { path: `${dir}/sub/config.json`, storages: [] } };
}

Deno.test("per-user config: written whole, owner-only, read back; no temporary file stays", async () => {
  const { dir, cfg } = await tempConfig();
  try {
    assertEquals(readUserConfig(cfg.path).storages, []);
    const entry = {
      name: "shared",
      backend: "s3",
      url: "s3://b?endpoint=http://h:9000",
      settings: { "path-style": "true" },
      added: "2026-01-01T00:00:00.000Z",
    };
    writeUserConfig({ ...cfg, storages: [entry] });
    assertEquals(readUserConfig(cfg.path).storages, [entry]);
    if (Deno.build.os !== "windows") {
      assertEquals((await Deno.stat(cfg.path)).mode! & 0o777, 0o600);
    }
    const names = [...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name);
    assertEquals(names, ["config.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("per-user config: a secret is never written, and a file holding one is refused", async () => {
  const { dir, cfg } = await tempConfig();
  try {
    const base = { name: "s", backend: "s3", url: "s3://b", settings: {}, added: "" };
    assertMatch(
      message(() =>
        writeUserConfig({ ...cfg, storages: [{ ...base, settings: { "secret-key": "SEKRIT" } }] })
      ),
      /refusing to write --secret-key/,
    );
    assertMatch(
      message(() =>
        writeUserConfig({ ...cfg, storages: [{ ...base, url: "sftp://u:SEKRIT@h/p" }] })
      ),
      /a password in its URL/,
    );
    assertEquals(await Deno.stat(cfg.path).then(() => true, () => false), false);
    // Edited by hand: refused with the file named, the value never echoed.
    await Deno.mkdir(`${dir}/sub`, { recursive: true });
    await Deno.writeTextFile(
      cfg.path,
      JSON.stringify({ storages: { s: { ...base, url: "s3://b?secret-key=SEKRIT" } } }),
    );
    const m = message(() => readUserConfig(cfg.path));
    assertMatch(m, /takes no secrets/);
    assert(m.includes(cfg.path) && !m.includes("SEKRIT"), m);
    await Deno.writeTextFile(cfg.path, "{not json");
    assertMatch(message(() => readUserConfig(cfg.path)), /is not valid JSON/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("trunks://NAME/REPO: this repository's storage outranks the per-user one; unknown names fail in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "trunks-named-" });
  const db = new LocalDb(`${dir}/db.trunk`);
  try {
    const cfg: UserConfig = {
      path: `${dir}/config.json`,
      storages: [{
        name: "shared",
        backend: "s3",
        url: "s3://bucket/team?endpoint=http://10.0.0.1:9000",
        settings: { "path-style": "true" },
        added: "",
      }, { name: "other", backend: "local", url: "local:///srv/other", settings: {}, added: "" }],
    };
    const g = resolveNamedUrl("trunks://SHARED/app", db, cfg);
    assertEquals(g.url, "s3://bucket/team/trunks/app.trunk?endpoint=http://10.0.0.1:9000");
    assertEquals([g.source, g.name, g.settings["path-style"]], [
      "per-user config",
      "shared",
      "true",
    ]);
    insertStorage(db, {
      name: "shared",
      role: "primary",
      url: "local:///srv/mine/trunks/work.trunk",
      backend: "local",
      settings: {},
      secrets: {},
    });
    const l = resolveNamedUrl("trunks://shared/app", db, cfg);
    assertEquals([l.source, l.url], ["repository", "local:///srv/mine/trunks/app.trunk"]);
    // Outside a repository (git clone), only the per-user config counts.
    assertEquals(resolveNamedUrl("trunks://shared/app", null, cfg).source, "per-user config");
    const m = message(() => resolveNamedUrl("trunks://nowhere/app", db, cfg));
    assertEquals(
      m,
      `trunks://nowhere/app: no storage named nowhere in this repository or in the per-user config (${cfg.path}); add it with: trunks storage add --global nowhere URL`,
    );
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("credential advice: the storage's own variables, whether any is set, or why none apply", () => {
  const none = credentialAdvice({ envName: "backup", backend: "s3" }, () => undefined);
  assertMatch(none, /storage backup reads its own TRUNKS_STORAGE_BACKUP_ACCESS_KEY, /);
  assertMatch(none, /none of them set here/);
  const set = credentialAdvice(
    { envName: "backup", backend: "s3" },
    (n) => n === "TRUNKS_STORAGE_BACKUP_ACCESS_KEY" ? "x" : undefined,
  );
  assertMatch(set, /set here: TRUNKS_STORAGE_BACKUP_ACCESS_KEY\)/);
  assertMatch(
    credentialAdvice({ envName: null, backend: "s3" }),
    /used as given, so only the provider's variables apply/,
  );
  assertEquals(credentialAdvice({ envName: "disk", backend: "local" }), "");
  assertEquals(accessWords("s3: no credentials found; ..."), "got no credentials");
  assertEquals(accessWords("s3: the access key is not known"), "refused the credentials");
});

Deno.test("credential advice: appended once to a refusal, never to other errors", async () => {
  class Refusing extends MemoryStore {
    override list(): never {
      throw new StoreError("s3: access denied", "access-denied");
    }
    override put(): never {
      throw new StoreError("s3: cannot reach", "unreachable");
    }
  }
  const advice = "; storage b reads its own X";
  const s = withAccessAdvice(withAccessAdvice(new Refusing("mem:"), advice), advice);
  const e = await assertRejects(() => s.list(""), StoreError);
  assertEquals((e as StoreError).message, `s3: access denied${advice}`);
  assertEquals((e as StoreError).code, "access-denied");
  const u = await assertRejects(() => s.put("k", new Uint8Array()), StoreError);
  assertEquals((u as StoreError).message, "s3: cannot reach");
});

Deno.test("trunks://NAME/REPO: a REPO that sanitizing would change is refused, so two names never share a trunk", () => {
  for (
    const repo of [
      "a b",
      "a:b",
      "a|b",
      "a*b",
      "a?b",
      'a"b',
      "a<b",
      "a>b",
      "-x",
      "x-",
      "e\u0301",
      "x".repeat(201),
      "é".repeat(101),
    ]
  ) {
    const url = `trunks://s1/${encodeURIComponent(repo)}`;
    assertMatch(message(() => parseNamedUrl(url)), /repository name .*use letters/);
  }
  assertMatch(message(() => parseNamedUrl("trunks://s1/x.trunk.trunk")), /not a usable/);
  // What is accepted is kept as given, up to the one limit of 200 bytes.
  for (const repo of ["a-b", "a_b.c", "x".repeat(200), "é".repeat(100), "日本"]) {
    assertEquals(parseNamedUrl(`trunks://s1/${encodeURIComponent(repo)}`).repo, repo);
  }
  assertEquals(parseNamedUrl("trunks://s1/x.trunk").repo, "x");
});

Deno.test("a password inside a URL-valued setting (endpoint=) is masked when shown and refused by the per-user config", () => {
  for (
    const url of [
      "s3://b?endpoint=http://u:SEKRIT%40127.0.0.1:9&region=us-east-1",
      "s3://b?region=us-east-1&endpoint=http://u:SEKRIT@127.0.0.1:9",
      "s3://b?endpoint=http%3A%2F%2Fu%3ASE%40KRIT%40h%3A9",
    ]
  ) {
    const shown = redactUrl(url);
    assert(!shown.includes("SEKRIT") && !shown.includes("KRIT"), shown);
    assertMatch(shown, /endpoint=http:\/\/u:\*\*\*@/);
    assertEquals(secretsInUrl(new URL(url)), ["a password in endpoint="]);
    assertMatch(secretIn({ url, settings: {} }) ?? "", /a password in endpoint=/);
  }
  // What carries no secret is shown exactly as given.
  const clean = "s3://b/p?endpoint=http://127.0.0.1:9&region=us-east-1";
  assertEquals(redactUrl(clean), clean);
  assertEquals(secretsInUrl(new URL(clean)), []);
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/config.json`;
  Deno.writeTextFileSync(
    path,
    JSON.stringify({
      storages: { s4: { backend: "s3", url: "s3://b?endpoint=http://u:SEKRIT@h:9" } },
    }),
  );
  const why = message(() => readUserConfig(path));
  assertMatch(why, /a password in endpoint=/);
  assert(!why.includes("SEKRIT"), why);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("per-user config: writers at once (separate processes) all land; the lock serializes read-modify-write", async () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/config.json`;
  const mod = new URL("../../src/local/user_config.ts", import.meta.url).href;
  const writer = (i: number) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { updateUserConfig } from ${JSON.stringify(mod)};
        updateUserConfig((cfg) => {
          // Hold the config between read and write long enough for the others to collide.
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
          const s = { name: "par${i}", backend: "local", url: "local:///tmp/x", settings: {}, added: "" };
          return { ...cfg, storages: [...cfg.storages, s] };
        }, ${JSON.stringify(path)});`,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
  const outs = await Promise.all([1, 2, 3, 4].map(writer));
  for (const o of outs) assert(o.success, new TextDecoder().decode(o.stderr));
  const names = readUserConfig(path).storages.map((s) => s.name).sort();
  assertEquals(names, ["par1", "par2", "par3", "par4"]);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("per-user config: a file or directory others can write is refused (chmod 600/700); a symlinked config is written through", () => {
  if (Deno.build.os === "windows") return;
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/config.json`;
  const entry = { name: "s1", backend: "local", url: "local:///tmp/x", settings: {}, added: "" };
  writeUserConfig({ path, storages: [entry] });
  Deno.chmodSync(path, 0o666);
  assertMatch(message(() => readUserConfig(path)), /writable by group or others .*chmod 600 /);
  Deno.chmodSync(path, 0o600);
  Deno.chmodSync(dir, 0o777);
  assertMatch(message(() => readUserConfig(path)), /writable by group or others .*chmod 700 /);
  Deno.chmodSync(dir, 0o700);
  assertEquals(readUserConfig(path).storages.length, 1);

  // dotfiles: config.json -> ../dotfiles/trunks.json stays a link, and the target changes.
  const dots = Deno.makeTempDirSync();
  Deno.renameSync(path, `${dots}/trunks.json`);
  Deno.symlinkSync(`${dots}/trunks.json`, path);
  writeUserConfig({ path, storages: [entry, { ...entry, name: "s2" }] });
  assert(Deno.lstatSync(path).isSymlink, "the link was replaced by a file");
  assertEquals(readUserConfig(`${dots}/trunks.json`).storages.map((s) => s.name), ["s1", "s2"]);
  assertEquals([...Deno.readDirSync(dots)].length, 1, "a temporary file was left behind");
  Deno.removeSync(dir, { recursive: true });
  Deno.removeSync(dots, { recursive: true });
});

Deno.test("per-user config and names: malformed shapes, case twins, minio .., a missing REPO, a relative TRUNKS_CONFIG_DIR", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/config.json`;
  for (const text of ["[]", "null", "3", '"x"']) {
    Deno.writeTextFileSync(path, text);
    assertMatch(message(() => readUserConfig(path)), /expected a JSON object/);
  }
  const s = { backend: "local", url: "local:///tmp/x" };
  Deno.writeTextFileSync(path, JSON.stringify({ storages: { s1: s, S1: s } }));
  assertMatch(message(() => readUserConfig(path)), /s1 and S1 differ only by case/);
  Deno.removeSync(dir, { recursive: true });

  assertMatch(message(() => expandStoreUrl("minio://h:9000/b/../c")), /"\.\." path segment/);
  assertMatch(message(() => expandStoreUrl("minio://h:9000/b/%2e%2e/c")), /path segment/);
  for (const u of ["trunks://s1", "trunks://s1/"]) {
    assertEquals(
      message(() => parseNamedUrl(u)),
      `${u}: trunks://NAME/REPO needs a repository name`,
    );
  }
  assertMatch(
    message(() => userConfigDir((k) => k === "TRUNKS_CONFIG_DIR" ? "rel/dir" : undefined)),
    /TRUNKS_CONFIG_DIR=rel\/dir is a relative path; give an absolute one/,
  );
  assertEquals(userConfigDir((k) => k === "TRUNKS_CONFIG_DIR" ? "/abs/d" : undefined), "/abs/d");
});

Deno.test("named URL mistakes are shown with any password or secret parameter masked", () => {
  const secret = "SEKRET-0123456789";
  for (
    const url of [
      `trunks://primary/repo?secret-key=${secret}`,
      `trunks://u:${secret}@primary/repo`,
      `trunks://primary?token=${secret}`,
    ]
  ) {
    let message = "";
    try {
      parseNamedUrl(url);
    } catch (e) {
      message = (e as Error).message;
    }
    assert(message !== "", `${url} was accepted`);
    assert(!message.includes(secret), message);
  }
});

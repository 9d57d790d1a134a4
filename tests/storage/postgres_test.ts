/**
 * The Postgres backend beyond the shared contract: where settings come from, errors
 * that name the problem without the password, large values in parts with bounded
 * memory, create races across connections, and a server dropping connections mid-put.
 */
import { withProcessEnv } from "../../harness/process_env.ts";
import pg from "pg";
import { openPostgresWith, type PostgresStore } from "../../src/storage/postgres.ts";
import { pgpassLookup, resolvePgConfig } from "../../src/storage/postgres_config.ts";
import { pgError } from "../../src/storage/postgres_errors.ts";
import { backendSpec, openStore, type Settings } from "../../src/storage/registry.ts";
import { getBytes, type Store, StoreError } from "../../src/storage/store.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { serverEnv } from "../servers.ts";
import { makeCerts } from "./test_certs.ts";

const noEnv = (_: string): string | undefined => undefined;
const envOf = (vars: Record<string, string>) => (n: string): string | undefined => vars[n];
const url = (s: string) => new URL(s);
const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("postgres URL: host, port, user, database, key prefix, display form", () => {
  const c = resolvePgConfig(
    url("postgres://alice:pw@db.example:6543/repos/team/trunks/x.trunk?sslmode=require"),
    {},
    noEnv,
  );
  assertEquals([c.host, c.port, c.user, c.database], ["db.example", 6543, "alice", "repos"]);
  assertEquals(c.prefix, "team/trunks/x.trunk/");
  assertEquals(c.sslmode, "require");
  assertEquals(c.schema, "public");
  assertEquals(c.location, "postgres://alice@db.example:6543/repos/team/trunks/x.trunk");
  assertEquals(resolvePgConfig(url("postgresql://h/db"), {}, noEnv).prefix, "");
  const sock = resolvePgConfig(url("postgres:///db?host=/var/run/postgresql"), {}, noEnv);
  assertEquals(sock.host, "/var/run/postgresql");
});

Deno.test("postgres defaults follow libpq: PGHOST, PGPORT, PGUSER, PGSSLMODE, then built-ins", () => {
  const env = envOf({ PGHOST: "envhost", PGPORT: "7777", PGUSER: "envuser", PGSSLMODE: "disable" });
  const c = resolvePgConfig(url("postgres:///db"), {}, env);
  assertEquals([c.host, c.port, c.user, c.sslmode], ["envhost", 7777, "envuser", "disable"]);
  const d = resolvePgConfig(url("postgres:///db"), {}, envOf({ USER: "me" }));
  assertEquals([d.host, d.port, d.user, d.sslmode], ["localhost", 5432, "me", "prefer"]);
  // The URL wins over the environment.
  assertEquals(resolvePgConfig(url("postgres://u@h:1/db"), {}, env).port, 1);
});

Deno.test("postgres password: --password, then the URL, then PGPASSWORD, then the password file", async () => {
  const dir = await Deno.makeTempDir();
  const pgpass = `${dir}/pgpass`;
  await Deno.writeTextFile(
    pgpass,
    "# comment\nother:*:*:*:nope\nh:5432:db:u:from\\:file\\\\x\n*:*:*:u:wild\n",
  );
  await Deno.chmod(pgpass, 0o600);
  const env = envOf({ PGPASSWORD: "from-env", PGPASSFILE: pgpass });
  const pw = (u: string, s: Settings, e = env) => {
    const c = resolvePgConfig(url(u), s, e);
    return [c.password, c.passwordSource];
  };
  assertEquals(pw("postgres://u:inurl@h/db", { password: "flag" })[0], "flag");
  assertEquals(pw("postgres://u:inurl@h/db", {}), ["inurl", "the URL"]);
  assertEquals(pw("postgres://u@h/db", {}), ["from-env", "PGPASSWORD"]);
  const fileOnly = envOf({ PGPASSFILE: pgpass });
  assertEquals(pw("postgres://u@h/db", {}, fileOnly), ["from:file\\x", pgpass]);
  assertEquals(pw("postgres://u@h:9/other", {}, fileOnly)[0], "wild");
  assertEquals(pw("postgres://v@h/db", {}, fileOnly), [undefined, "none"]);
  // Like libpq, a password file others can read is ignored.
  await Deno.chmod(pgpass, 0o644);
  assertEquals(
    pgpassLookup(pgpass, { host: "h", port: 5432, database: "db", user: "u" }),
    undefined,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("postgres errors: a message quoting the password shows it neither in the error nor in its cause", () => {
  const pw = "pg-SECRET-password-42";
  const c = resolvePgConfig(new URL("postgres://u@h/db"), { password: pw }, () => undefined);
  for (const code of ["XX000", "28000", ""]) {
    const raw = Object.assign(new Error(`proxy refused: password=${pw}`), { code });
    const e = pgError(raw, c, "read", "k");
    assert(!Deno.inspect(e).includes(pw), Deno.inspect(e));
  }
});

/**
 * A fake server that refuses TLS and asks every client for its password in clear text;
 * `text` collects what the clients answered.
 */
function askCleartext(listener: Deno.Listener): { text: string } {
  const received = { text: "" };
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(8192);
        let n = await conn.read(buf);
        // An SSLRequest (8 bytes, code 80877103): no TLS here.
        if (n === 8 && new DataView(buf.buffer).getInt32(4) === 80877103) {
          await conn.write(new TextEncoder().encode("N"));
          n = await conn.read(buf);
        }
        // AuthenticationCleartextPassword, then whatever the client answers.
        await conn.write(new Uint8Array([82, 0, 0, 0, 8, 0, 0, 0, 3]));
        n = await conn.read(buf);
        received.text += new TextDecoder().decode(buf.subarray(0, n ?? 0));
        conn.close();
      })().catch(() => {});
    }
  })().catch(() => {});
  return received;
}

Deno.test({
  name:
    "postgres: over a Unix socket (no wire) a server asking for the password in clear text gets it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const pw = "pg-SOCKET-password-42";
    const dir = await Deno.makeTempDir();
    const listener = Deno.listen({ transport: "unix", path: `${dir}/.s.PGSQL.5432` });
    const received = askCleartext(listener);
    try {
      const store = await openStore(`postgres:///db?host=${dir}`, { password: pw });
      try {
        const err = await assertRejects(() => store.get("x"), StoreError);
        assertStringIncludes(received.text, pw, (err as Error).message);
      } finally {
        await store.close();
      }
    } finally {
      listener.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "postgres: a server asking for the password in clear text without TLS never gets it " +
    "(sslmode=prefer, the default, falls back to plain TCP for anyone who says no TLS)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const pw = "pg-CLEARTEXT-password-42";
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const received = askCleartext(listener);
    try {
      const port = (listener.addr as Deno.NetAddr).port;
      const errors: StoreError[] = [];
      for (const q of ["", "?sslmode=prefer", "?sslmode=disable"]) {
        const store = await openStore(`postgres://u@127.0.0.1:${port}/db${q}`, { password: pw });
        try {
          errors.push(await assertRejects(() => store.get("x"), StoreError) as StoreError);
        } finally {
          await store.close();
        }
      }
      assert(!received.text.includes(pw), "the password went over plain TCP");
      for (const err of errors) {
        assertStringIncludes(err.message, "clear text");
        assertEquals(err.code, "access-denied");
      }
    } finally {
      listener.close();
    }
  },
});

Deno.test("postgres URL mistakes are one-line errors naming the fix", () => {
  for (
    const [u, part] of [
      ["postgres://h/db?password=x", "--password"],
      ["postgres://h/db?sslmod=require", 'unknown URL parameter "sslmod"'],
      ["postgres://h/db?sslmode=maybe", "sslmode=maybe"],
      ["postgres://h/db?schema=a;drop", "schema"],
      ["postgres://h", "names no database"],
    ]
  ) {
    let err: unknown;
    try {
      resolvePgConfig(url(u), {}, noEnv);
    } catch (e) {
      err = e;
    }
    assert(err instanceof StoreError, u);
    assertStringIncludes(err.message, part);
  }
});

Deno.test("postgres storage add flags: rootUrl builds the URL and keeps the password out of it", () => {
  const spec = backendSpec("postgres")!;
  assert(spec.settings.find((s) => s.key === "password")?.secret);
  assertEquals(
    spec.rootUrl({
      host: "db.example",
      port: "6543",
      user: "bob",
      database: "repos",
      path: "team",
    }),
    "postgres://bob@db.example:6543/repos/team",
  );
  assertEquals(
    spec.rootUrl({ host: "/run/pg", database: "repos", sslmode: "disable" }),
    "postgres:///repos?host=/run/pg&sslmode=disable",
  );
  const flags: Settings = { url: "postgresql://bob:s3cr%40t@h:5432/repos?sslmode=require" };
  const root = spec.rootUrl(flags);
  assertEquals(root, "postgresql://bob@h:5432/repos?sslmode=require");
  assertEquals(flags.password, "s3cr@t");
  // An explicit --password wins over one in the URL; the URL loses it either way.
  const both: Settings = { url: "postgres://bob:old@h/repos", password: "new" };
  assertEquals(spec.rootUrl(both), "postgres://bob@h/repos");
  assertEquals(both.password, "new");
  let err: unknown;
  try {
    spec.rootUrl({ host: "h" });
  } catch (e) {
    err = e;
  }
  assertStringIncludes(String(err), "--database");
});

// --- against the real server --------------------------------------------------------

const env = serverEnv("postgres", ["TRUNKS_TEST_PG_URL", "TRUNKS_TEST_PG_PASSWORD"]);
const ignore = env === null;
const PASSWORD = env?.TRUNKS_TEST_PG_PASSWORD ?? "";
const fresh = (extra = "") =>
  url(`${env!.TRUNKS_TEST_PG_URL}/pgtest-${crypto.randomUUID()}/trunks/t.trunk${extra}`);

async function admin<T>(fn: (c: InstanceType<typeof pg.Client>) => Promise<T>): Promise<T> {
  const u = new URL(env!.TRUNKS_TEST_PG_URL);
  const client = new pg.Client({
    host: u.hostname,
    port: Number(u.port),
    user: u.username,
    database: u.pathname.slice(1),
    password: PASSWORD,
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function withStore<T>(
  u: URL,
  settings: Settings,
  fn: (s: Store) => Promise<T>,
  partSize?: number,
): Promise<T> {
  const s = await openPostgresWith(u, settings, noEnv, { partSize });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

Deno.test({
  name:
    "postgres errors: wrong or missing password, missing database, unreachable; no secret shown",
  ignore,
  ...opts,
  fn: async () => {
    const wrong = "definitely-wrong-pw-123";
    let err = await assertRejects(
      () => withStore(fresh(), { password: wrong }, (s) => s.list("")),
      StoreError,
      "authentication failed",
    );
    assertEquals((err as StoreError).code, "access-denied");
    assertStringIncludes(err.message, "--password");
    assert(!err.message.includes(wrong), err.message);
    assert(!String((err as Error).stack).includes(wrong));

    err = await assertRejects(
      () => withStore(fresh(), {}, (s) => s.get("x")),
      StoreError,
      "no password was given",
    );
    assertStringIncludes(err.message, "PGPASSWORD");

    const u = new URL(env!.TRUNKS_TEST_PG_URL);
    err = await assertRejects(
      () =>
        withStore(
          url(`postgres://${u.username}@${u.host}/no_such_db_here`),
          { password: PASSWORD },
          (s) => s.get("x"),
        ),
      StoreError,
      'database "no_such_db_here" does not exist',
    );
    assertEquals((err as StoreError).code, "not-found-root");

    // A port nobody listens on (the server's own port, minus one, is free in practice).
    const closed = Number(u.port) === 1 ? 2 : Number(u.port) - 1;
    err = await assertRejects(
      () =>
        withStore(url(`postgres://x@127.0.0.1:${closed}/db`), { password: "p" }, (s) => s.get("x")),
      StoreError,
      "cannot reach",
    );
    assertEquals((err as StoreError).code, "unreachable");
  },
});

/**
 * A stand-in server without TLS: answers the SSL request with "N", then refuses the
 * plain-text login with a password error (so the client's second try is visible).
 */
function noTlsServer(): { port: number; close: () => void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const head = new Uint8Array(8);
        for (;;) {
          let got = 0;
          while (got < 8) {
            const n = await conn.read(head.subarray(got));
            if (n === null) return conn.close();
            got += n;
          }
          const view = new DataView(head.buffer);
          const len = view.getInt32(0);
          if (view.getInt32(4) === 80877103) {
            await conn.write(new TextEncoder().encode("N"));
            continue;
          }
          const rest = new Uint8Array(len - 8);
          for (let at = 0; at < rest.byteLength;) {
            const n = await conn.read(rest.subarray(at));
            if (n === null) return conn.close();
            at += n;
          }
          const fields = new TextEncoder().encode(
            'SFATAL\0C28P01\0Mpassword authentication failed for user "x"\0\0',
          );
          const msg = new Uint8Array(5 + fields.byteLength);
          msg[0] = 0x45; // 'E'
          new DataView(msg.buffer).setInt32(1, 4 + fields.byteLength);
          msg.set(fields, 5);
          await conn.write(msg);
          return conn.close();
        }
      })().catch(() => {});
    }
  })().catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close() };
}

Deno.test({
  name: "postgres sslmode: prefer falls back to plain text on a server without TLS; " +
    "require refuses it",
  ...opts,
  fn: async () => {
    const server = noTlsServer();
    try {
      const at = `postgres://x@127.0.0.1:${server.port}/db`;
      // The plain-text retry reached the login: the error is the server's password refusal.
      await assertRejects(
        () => withStore(url(at), { password: "p" }, (s) => s.get("k")),
        StoreError,
        "authentication failed",
      );
      await assertRejects(
        () => withStore(url(`${at}?sslmode=require`), { password: "p" }, (s) => s.get("k")),
        StoreError,
        "does not accept TLS but sslmode=require",
      );
    } finally {
      server.close();
    }
  },
});

Deno.test({
  name: "postgres TLS against the real server: prefer and verify-full encrypt, disable does not, " +
    "an unknown CA is refused",
  ignore: ignore || !Deno.env.get("TRUNKS_TEST_PG_CA"),
  ...opts,
  fn: async () => {
    const ca = Deno.env.get("TRUNKS_TEST_PG_CA")!;
    const usesTls = async (query: string, settings: Settings = {}) => {
      const app = `trunks-tls-${crypto.randomUUID().slice(0, 8)}`;
      const sep = query ? "&" : "";
      return await withStore(
        fresh(`?application_name=${app}${sep}${query}`),
        { password: PASSWORD, ...settings },
        async (s) => {
          await s.list("");
          // The pool keeps the connection open: ask the server how it is encrypted.
          return await admin(async (c) =>
            (await c.query(
              `SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                WHERE a.application_name = $1`,
              [app],
            )).rows.map((r: { ssl: boolean }) => r.ssl)
          );
        },
      );
    };
    assertEquals(await usesTls(""), [true]);
    assertEquals(await usesTls("sslmode=disable"), [false]);
    assertEquals(await usesTls("sslmode=verify-full", { sslrootcert: ca }), [true]);
    const err = await assertRejects(
      () => usesTls("sslmode=verify-full", { sslrootcert: `${Deno.execPath()}.nope` }),
      StoreError,
      "sslrootcert",
    );
    assertStringIncludes(err.message, "cannot read");
    // A CA of its own, which signed nothing the server shows.
    const dir = await makeCerts();
    const otherCa = `${dir}/ca.crt`;
    await assertRejects(
      () => usesTls("sslmode=verify-full", { sslrootcert: otherCa }),
      StoreError,
      "certificate",
    );
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "postgres: a user without CREATE on the schema gets the GRANT to ask for",
  ignore,
  ...opts,
  fn: async () => {
    const role = `trunks_limited_${crypto.randomUUID().slice(0, 8)}`;
    const schema = `limited_${crypto.randomUUID().slice(0, 8)}`;
    await admin(async (c) => {
      await c.query(`CREATE ROLE ${role} LOGIN PASSWORD 'limited-pw'`);
      await c.query(`CREATE SCHEMA ${schema}`);
      await c.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
    });
    try {
      const u = new URL(env!.TRUNKS_TEST_PG_URL);
      const err = await assertRejects(
        () =>
          withStore(
            url(`postgres://${role}@${u.host}${u.pathname}/x?schema=${schema}`),
            { password: "limited-pw" },
            (s) => s.put("a", new Uint8Array(1)),
          ),
        StoreError,
        `GRANT CREATE ON SCHEMA "${schema}"`,
      );
      assertEquals((err as StoreError).code, "access-denied");
    } finally {
      await admin(async (c) => {
        await c.query(`DROP SCHEMA ${schema} CASCADE`);
        await c.query(`DROP ROLE ${role}`);
      });
    }
  },
});

Deno.test({
  name: "postgres large values: streamed in parts with bounded memory, ranges across parts, " +
    "overwrite and delete leave no parts behind",
  ignore,
  ...opts,
  fn: async () => {
    const partSize = 1024 * 1024;
    const total = 96 * partSize + 777;
    const u = fresh("?schema=trunks_large");
    await withStore(u, { password: PASSWORD }, async (s) => {
      // Generated on the fly; every 8 MiB the producer checks how far it is ahead of what
      // the database holds: a put that gathered the value first would be ahead by all of it.
      const stored = () =>
        admin(async (c) =>
          Number(
            (await c.query(
              `SELECT coalesce(sum(length(data)), 0) AS n FROM trunks_large.trunks_parts p
                WHERE NOT EXISTS (SELECT 1 FROM trunks_large.trunks_objects o WHERE o.upload = p.upload)`,
            )).rows[0].n,
          )
        );
      let made = 0;
      let maxAhead = 0;
      let checks = 0;
      const stream = new ReadableStream<Uint8Array>({
        async pull(c) {
          if (made >= total) return c.close();
          if (made % (8 * partSize) === 0 && made > 0) {
            maxAhead = Math.max(maxAhead, made - await stored());
            checks++;
          }
          const n = Math.min(256 * 1024, total - made);
          const chunk = new Uint8Array(n);
          for (let i = 0; i < n; i++) chunk[i] = (made + i) % 251;
          made += n;
          c.enqueue(chunk);
        },
      });
      await s.put("segments/big.pack", stream);
      // In flight (3 parts), the part being filled, and the stream's queue. A database that
      // keeps up exactly (0 ahead at a part boundary) is fine; the bound is what matters.
      assert(checks >= 10, `the producer checked only ${checks} times`);
      assert(maxAhead <= 6 * partSize, `producer was ${maxAhead} bytes ahead`);

      const [entry] = await s.list("segments/");
      assertEquals(entry.size, total);
      // A range spanning three parts, and one at the very end.
      const at = 5 * partSize - 10;
      const mid = await getBytes(s, "segments/big.pack", { offset: at, length: 2 * partSize + 20 });
      assertEquals(mid!.byteLength, 2 * partSize + 20);
      for (let i = 0; i < mid!.byteLength; i += 4099) assertEquals(mid![i], (at + i) % 251);
      const tail = await getBytes(s, "segments/big.pack", { offset: total - 5 });
      assertEquals([...tail!], [0, 1, 2, 3, 4].map((i) => (total - 5 + i) % 251));
      // Streaming the whole value reads one part at a time.
      let seen = 0;
      for await (const chunk of (await s.get("segments/big.pack"))!) {
        assertEquals(chunk[0], seen % 251);
        seen += chunk.byteLength;
      }
      assertEquals(seen, total);

      const parts = () =>
        admin(async (c) =>
          Number(
            (await c.query(
              `SELECT count(*) AS n FROM trunks_large.trunks_parts p
                WHERE NOT EXISTS (SELECT 1 FROM trunks_large.trunks_objects o WHERE o.upload = p.upload)`,
            )).rows[0].n,
          )
        );
      // Overwriting drops the old parts in the same transaction; nothing is orphaned.
      await s.put("segments/big.pack", new Uint8Array(3 * partSize + 1).fill(9));
      assertEquals((await getBytes(s, "segments/big.pack"))!.byteLength, 3 * partSize + 1);
      assertEquals(await parts(), 0);
      await s.delete("segments/big.pack");
      assertEquals(await s.get("segments/big.pack"), null);
      assertEquals(await parts(), 0);
    }, partSize);
  },
});

Deno.test({
  name: "postgres create: 12 stores on their own connections race for one key, one wins; " +
    "large losers leave no parts",
  ignore,
  ...opts,
  fn: async () => {
    const u = fresh("?schema=trunks_race");
    const stores = await Promise.all(
      Array.from(
        { length: 12 },
        () => openPostgresWith(u, { password: PASSWORD }, noEnv, { partSize: 64 * 1024 }),
      ),
    );
    try {
      for (const size of [40, 300 * 1024]) {
        const key = `refs/main/${size}`;
        const results = await Promise.all(
          stores.map((s, i) => s.create(key, new Uint8Array(size).fill(i + 1))),
        );
        const winners = results.flatMap((ok, i) => ok ? [i] : []);
        assertEquals(winners.length, 1, `size ${size}: winners ${winners}`);
        const stored = await getBytes(stores[0], key);
        assertEquals(stored, new Uint8Array(size).fill(winners[0] + 1));
      }
      const orphans = await admin(async (c) =>
        Number(
          (await c.query(
            `SELECT count(*) AS n FROM trunks_race.trunks_parts p
              WHERE NOT EXISTS (SELECT 1 FROM trunks_race.trunks_objects o WHERE o.upload = p.upload)`,
          )).rows[0].n,
        )
      );
      assertEquals(orphans, 0);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  },
});

Deno.test({
  name: "postgres: server terminating connections mid-put leaves nothing half-visible; " +
    "sweepStale removes parts of dead writers",
  ignore,
  ...opts,
  fn: async () => {
    const app = `trunks-kill-${crypto.randomUUID().slice(0, 8)}`;
    const u = fresh(`?schema=trunks_kill&application_name=${app}`);
    const partSize = 64 * 1024;
    const total = 200 * partSize;
    const s = await openPostgresWith(u, { password: PASSWORD }, noEnv, {
      partSize,
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    try {
      await s.list("");
      let sent = 0;
      let killed = false;
      const stream = new ReadableStream<Uint8Array>({
        async pull(c) {
          if (sent >= total) return c.close();
          if (!killed && sent >= total / 2) {
            killed = true;
            await admin((a) =>
              a.query(
                `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`,
                [app],
              )
            );
          }
          sent += partSize;
          c.enqueue(new Uint8Array(partSize).fill(7));
        },
      });
      const outcome = await s.put("segments/cut.pack", stream).then(() => "ok", (e) => e);
      assert(killed);
      if (outcome === "ok") {
        assertEquals((await getBytes(s, "segments/cut.pack"))!.byteLength, total);
      } else {
        assert(outcome instanceof StoreError, String(outcome));
        assertEquals(await s.get("segments/cut.pack"), null);
        assertEquals((await s.list("segments/")).length, 0);
      }
      // A writer that died without cleaning up: its parts are swept once old enough.
      await admin((a) =>
        a.query(
          `INSERT INTO trunks_kill.trunks_parts (upload, n, data, created)
             VALUES (gen_random_uuid(), 0, '\\x00', now() - interval '2 days')`,
        )
      );
      assert((await (s as PostgresStore).sweepStale(24 * 3600_000)) >= 1);
      assertEquals(await (s as PostgresStore).sweepStale(24 * 3600_000), 0);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "postgres: PGPASSWORD and ~/.pgpass work through openStore, as libpq users expect",
  ignore,
  ...opts,
  fn: async () => {
    const home = await Deno.makeTempDir();
    const u = new URL(env!.TRUNKS_TEST_PG_URL);
    await Deno.writeTextFile(
      `${home}/.pgpass`,
      `127.0.0.1:${u.port}:*:${u.username}:${PASSWORD}\n`,
    );
    await Deno.chmod(`${home}/.pgpass`, 0o600);
    const viaFile = await openPostgresWith(fresh(), {}, envOf({ HOME: home }));
    try {
      assertEquals(await viaFile.list(""), []);
    } finally {
      await viaFile.close();
      await Deno.remove(home, { recursive: true });
    }
    await withProcessEnv({ PGPASSWORD: PASSWORD }, async () => {
      const s = await openStore(fresh().toString());
      assert(await s.create("a", new Uint8Array([1])));
      await s.close();
    });
  },
});

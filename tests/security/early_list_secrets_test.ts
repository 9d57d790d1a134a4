/**
 * Hostile, kept as regression tests: an early listing (reverted in 0ea145c) opened the
 * URL's storage with no saved settings before the repository's database was read. A
 * storage the user saved with its own credentials or endpoint must never see a request
 * signed with someone else's (the default AWS identity in the environment), nor a request
 * go to the endpoint it does not use.
 */
import { assert, assertEquals } from "../assert.ts";
import { git, makeEnv, run } from "../../harness/env.ts";
import { LocalDb } from "../../src/local/db.ts";
import { insertStorage } from "../../src/local/storages.ts";

Deno.test("a fetch signs no request with the default AWS identity for a storage saved with its own keys", async () => {
  const server = fakeS3();
  try {
    const url = `s3://bkt/t/app.trunk?endpoint=${server.origin}&path-style=true&region=us-east-1`;
    const { e, dir } = await repoWithSavedStorage(url, {}, {
      // The user's default identity, for their other work.
      AWS_SESSION_TOKEN: "default-session-token",
      // The saved storage's own keys.
      TRUNKS_STORAGE_VAULT_ACCESS_KEY: "AKIAVAULTIDENTITY",
      TRUNKS_STORAGE_VAULT_SECRET_KEY: "vault-secret",
    });
    await run(e, "git", ["fetch", "-q", "origin"], { cwd: dir });
    assert(server.signers.length > 0, "the storage was read");
    assertEquals(
      server.tokens.filter((t) => t === "default-session-token"),
      [],
      "the default session token was sent",
    );
    assertEquals(
      server.signers.filter((c) => c !== "AKIAVAULTIDENTITY"),
      [],
      `requests to the saved storage signed with other keys (all seen: ${
        server.signers.join(", ")
      })`,
    );
  } finally {
    await server.stop();
  }
});

/** An S3 endpoint with an empty bucket (or one that accepts and never answers), recording who asks. */
function fakeS3(opts: { hang?: boolean } = {}) {
  const seen: string[] = [];
  const signers: string[] = [];
  const tokens: string[] = [];
  const ac = new AbortController();
  const held: (() => void)[] = [];
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", signal: ac.signal, onListen() {} },
    (req) => {
      seen.push(`${req.method} ${new URL(req.url).search}`);
      signers.push(
        /Credential=([^/]+)/.exec(req.headers.get("authorization") ?? "")?.[1] ?? "(unsigned)",
      );
      tokens.push(req.headers.get("x-amz-security-token") ?? "");
      if (opts.hang) {
        return new Promise<Response>((r) => held.push(() => r(new Response("", { status: 503 }))));
      }
      if (req.method === "GET" && new URL(req.url).searchParams.get("list-type") === "2") {
        return new Response(
          `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bkt</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`,
          { headers: { "content-type": "application/xml" } },
        );
      }
      return new Response(
        `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>`,
        { status: 404, headers: { "content-type": "application/xml" } },
      );
    },
  );
  return {
    seen,
    signers,
    tokens,
    origin: `http://127.0.0.1:${server.addr.port}`,
    async stop() {
      for (const h of held) h();
      ac.abort();
      await server.finished;
    },
  };
}

/** A repository whose remote is `url`, with that URL saved as storage "vault" with `settings`. */
async function repoWithSavedStorage(url: string, settings: Record<string, string>, env = {}) {
  const e = await makeEnv({
    AWS_ACCESS_KEY_ID: "AKIADEFAULTIDENTITY",
    AWS_SECRET_ACCESS_KEY: "default-secret",
    AWS_REGION: "us-east-1",
    ...env,
  });
  const dir = await Deno.makeTempDir({ prefix: "hostile-early-" });
  await git(e, dir, "init", "-q");
  await git(e, dir, "remote", "add", "origin", `trunks::${url}`);
  const db = new LocalDb(`${dir}/.git/trunks.sqlite`);
  try {
    insertStorage(db, {
      name: "vault",
      role: "primary",
      url,
      backend: "s3",
      settings,
      secrets: {},
    });
  } finally {
    db.close();
  }
  return { e, dir };
}

Deno.test("a fetch sends nothing to the URL's endpoint when the saved storage routes to another", async () => {
  const decoy = fakeS3();
  const real = fakeS3();
  try {
    const url = `s3://bkt/t/app.trunk?endpoint=${decoy.origin}&path-style=true&region=us-east-1`;
    // `trunks storage add`/an edited row: this storage is served from `real`, not the URL's host.
    const { e, dir } = await repoWithSavedStorage(url, { endpoint: real.origin });
    await run(e, "git", ["fetch", "-q", "origin"], { cwd: dir });
    assertEquals(decoy.seen, [], "requests sent to the endpoint the saved storage does not use");
  } finally {
    await decoy.stop();
    await real.stop();
  }
});

Deno.test("a fetch signs no request with the default AWS identity for a storage saved with its keys in the database", async () => {
  const server = fakeS3();
  const signers: string[] = [];
  try {
    const url = `s3://bkt/t/app.trunk?endpoint=${server.origin}&path-style=true&region=us-east-1`;
    // `trunks storage add ... --access-key --secret-key`: the keys saved with the storage.
    const { e, dir } = await repoWithSavedStorage(url, {});
    const db = new LocalDb(`${dir}/.git/trunks.sqlite`);
    try {
      db.db.prepare(`UPDATE storages SET secrets = ? WHERE name = 'vault'`).run(
        JSON.stringify({ "access-key": "AKIAVAULTIDENTITY", "secret-key": "vault-secret" }),
      );
    } finally {
      db.close();
    }
    await run(e, "git", ["fetch", "-q", "origin"], { cwd: dir });
    signers.push(...server.signers);
    assert(signers.length > 0, "the storage was read");
    assertEquals(
      signers.filter((c) => c !== "AKIAVAULTIDENTITY"),
      [],
      `requests signed with other keys (all: ${signers.join(", ")})`,
    );
  } finally {
    await server.stop();
  }
});

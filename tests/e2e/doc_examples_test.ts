/**
 * The backend pages' examples run as written, so a doc example that breaks fails CI.
 *
 * A fenced block whose info string is `sh doc-test` is runnable: every such block of a
 * page runs, in order, as one `bash -euo pipefail` script, with real git and trunks, in
 * a fresh HOME and a fresh directory holding `myrepo` (a git repository with one commit).
 * The variables a page says the reader sets (`$S3_ENDPOINT`, `$AZURE_STORAGE_KEY`, ...)
 * come from the test servers. `myrepo` becomes a fresh name per run, so two pages (or
 * two runs) on one server never share a trunk. Pages of backends without a test server
 * (R2, Tigris, B2, Wasabi, Spaces) mark no block runnable; this test checks that too.
 */
import { assert, assertEquals } from "../assert.ts";
import { e2eBackends, makeEnv, newRepo, serverEnv } from "./harness.ts";
import { backendSpec } from "../../src/storage/registry.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const DOCS = `${ROOT}docs/backends`;

/** The runnable blocks of a page, in order. */
export function runnableBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh doc-test\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

type Vars = Record<string, string>;

/** The variables each page's examples use, from the servers `scripts/test.sh` started. */
const pages: Record<string, () => Promise<Vars | null>> = {
  local: () => Promise.resolve({}),
  s3: minioVars,
  minio: minioVars,
  azure: async () => {
    const a = serverEnv("azurite", [
      "TRUNKS_TEST_AZURITE_ENDPOINT",
      "TRUNKS_TEST_AZURITE_ACCOUNT",
      "TRUNKS_TEST_AZURITE_KEY",
      "TRUNKS_TEST_AZURITE_CONTAINER",
    ]);
    if (!a) return null;
    return await Promise.resolve({
      AZURE_STORAGE_ACCOUNT: a.TRUNKS_TEST_AZURITE_ACCOUNT,
      AZURE_STORAGE_KEY: a.TRUNKS_TEST_AZURITE_KEY,
      AZURE_CONTAINER: a.TRUNKS_TEST_AZURITE_CONTAINER,
      AZURE_ENDPOINT: a.TRUNKS_TEST_AZURITE_ENDPOINT,
    });
  },
  gcs: () => {
    const g = serverEnv("fake-gcs", ["TRUNKS_TEST_GCS_ENDPOINT", "TRUNKS_TEST_GCS_BUCKET"]);
    return Promise.resolve(
      g ? { GCS_BUCKET: g.TRUNKS_TEST_GCS_BUCKET, GCS_ENDPOINT: g.TRUNKS_TEST_GCS_ENDPOINT } : null,
    );
  },
  postgres: () => {
    const p = serverEnv("postgres", ["TRUNKS_TEST_PG_URL", "TRUNKS_TEST_PG_PASSWORD"]);
    if (!p) return Promise.resolve(null);
    const u = new URL(p.TRUNKS_TEST_PG_URL);
    return Promise.resolve({
      PGHOST: u.hostname,
      PGPORT: u.port || "5432",
      PGUSER: decodeURIComponent(u.username),
      PGDATABASE: decodeURIComponent(u.pathname.split("/").filter(Boolean)[0]),
      PGPASSWORD: p.TRUNKS_TEST_PG_PASSWORD,
    });
  },
  sftp: async () => {
    const s = serverEnv("sshd", [
      "TRUNKS_TEST_SFTP_URL",
      "TRUNKS_TEST_SFTP_KEY",
      "TRUNKS_TEST_SFTP_KNOWN_HOSTS",
    ]);
    const b = e2eBackends().find((x) => x.name === "sftp");
    if (!s || !b) return null;
    // The root must exist on the server (as the page says): a fresh one per run.
    const u = new URL(await b.root());
    return {
      SFTP_HOST: u.hostname,
      SFTP_PORT: u.port || "22",
      SFTP_USER: decodeURIComponent(u.username),
      SFTP_PATH: decodeURIComponent(u.pathname),
      SFTP_KEY: s.TRUNKS_TEST_SFTP_KEY,
      SFTP_KNOWN_HOSTS: s.TRUNKS_TEST_SFTP_KNOWN_HOSTS,
    };
  },
};

function minioVars(): Promise<Vars | null> {
  const m = serverEnv("minio", [
    "TRUNKS_TEST_MINIO_ENDPOINT",
    "TRUNKS_TEST_MINIO_ACCESS_KEY",
    "TRUNKS_TEST_MINIO_SECRET_KEY",
    "TRUNKS_TEST_MINIO_BUCKET",
  ]);
  return Promise.resolve(
    m
      ? {
        S3_BUCKET: m.TRUNKS_TEST_MINIO_BUCKET,
        S3_ENDPOINT: m.TRUNKS_TEST_MINIO_ENDPOINT,
        AWS_ACCESS_KEY_ID: m.TRUNKS_TEST_MINIO_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY: m.TRUNKS_TEST_MINIO_SECRET_KEY,
      }
      : null,
  );
}

/** Backends with no server to run against: their pages must not claim runnable examples. */
const NO_SERVER = ["r2", "tigris", "b2", "wasabi", "spaces", "memory"];

const BACKEND_PAGES = [...Object.keys(pages), ...NO_SERVER];

Deno.test("doc examples: every backend has a page, and only pages with a test server mark runnable blocks", async () => {
  for (const name of BACKEND_PAGES) {
    const text = await Deno.readTextFile(`${DOCS}/${name}.md`);
    const blocks = runnableBlocks(text);
    if (NO_SERVER.includes(name)) assertEquals(blocks.length, 0, `${name}.md`);
    else assert(blocks.length > 0, `${name}.md has no runnable (sh doc-test) example`);
    for (const part of ["URL", "Flags", "Credentials", "Example"]) {
      assert(new RegExp(`^## ${part}`, "m").test(text), `${name}.md lacks a "## ${part}" section`);
    }
    // Every option the backend registers is documented under Flags.
    const flags = /^## Flags\n([\s\S]*?)^## /m.exec(text)?.[1] ?? "";
    const spec = backendSpec(name === "minio" ? "s3" : name)!;
    assert(spec, `no backend ${name}`);
    for (const s of spec.settings) {
      assert(flags.includes(`--${s.key}`), `${name}.md does not document --${s.key} under Flags`);
    }
  }
});

for (const [name, vars] of Object.entries(pages)) {
  const available = await vars();
  Deno.test({
    name: `doc examples: docs/backends/${name}.md runs as written`,
    ignore: available === null,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const text = await Deno.readTextFile(`${DOCS}/${name}.md`);
      const repoName = `myrepo-${crypto.randomUUID().slice(0, 8)}`;
      const script = runnableBlocks(text).join("\n").replaceAll("myrepo", repoName);
      const e = await makeEnv();
      const repo = await newRepo(e, repoName);
      const dir = repo.slice(0, repo.lastIndexOf("/"));
      const out = await new Deno.Command("bash", {
        args: ["-euo", "pipefail", "-c", script],
        cwd: dir,
        env: { ...e.env, ...available },
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assertEquals(
        out.code,
        0,
        `docs/backends/${name}.md failed as written:\n--- script\n${script}\n--- stdout\n${
          dec.decode(out.stdout)
        }\n--- stderr\n${dec.decode(out.stderr)}`,
      );
    },
  });
}

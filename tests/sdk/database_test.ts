/**
 * `Trunk.open({ database })`: the library uses the storages and inline credentials
 * `trunks storage add` saved, like the CLI and the helper, with no env credentials.
 */
import { withProcessEnv } from "../../harness/process_env.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { git, makeEnv, newRepo, ok, serverEnv } from "../e2e/harness.ts";
import { Trunk, TrunkError } from "../../mod.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function dbFile(repo: string): Promise<string> {
  for await (const f of Deno.readDir(`${repo}/.trunks`)) {
    if (f.name.endsWith(".trunk")) return `${repo}/.trunks/${f.name}`;
  }
  throw new Error("trunks init made no database");
}

const minio = serverEnv("minio", [
  "TRUNKS_TEST_MINIO_ENDPOINT",
  "TRUNKS_TEST_MINIO_ACCESS_KEY",
  "TRUNKS_TEST_MINIO_SECRET_KEY",
  "TRUNKS_TEST_MINIO_BUCKET",
]);

const targets: { name: string; flags: () => Promise<string[]> }[] = [
  {
    name: "local",
    flags: async () => ["--backend", "local", "--path", await Deno.makeTempDir()],
  },
];
if (minio) {
  targets.push({
    name: "minio",
    flags: () =>
      Promise.resolve([
        "--backend",
        "s3",
        "--bucket",
        minio.TRUNKS_TEST_MINIO_BUCKET,
        "--prefix",
        `sdk-db-${crypto.randomUUID()}`,
        "--endpoint",
        minio.TRUNKS_TEST_MINIO_ENDPOINT,
        "--access-key",
        minio.TRUNKS_TEST_MINIO_ACCESS_KEY,
        "--secret-key",
        minio.TRUNKS_TEST_MINIO_SECRET_KEY,
      ]),
  });
}

for (const target of targets) {
  Deno.test({
    name: `sdk ${target.name}: opens the storage trunks storage add saved, with its credentials`,
    ...opts,
    fn: async () => {
      // No provider variables anywhere: the inline settings are what must work (unset for
      // the whole process meanwhile, then put back: other files' tests share it).
      const aws = Object.keys(Deno.env.toObject()).filter((k) => k.startsWith("AWS_"));
      await withProcessEnv(Object.fromEntries(aws.map((k) => [k, undefined])), async () => {
        const e = await makeEnv();
        const repo = await newRepo(e, "dbrepo");
        await ok(e, "trunks", ["init"], { cwd: repo });
        await ok(e, "trunks", ["storage", "add", "--name", "primary", ...await target.flags()], {
          cwd: repo,
        });
        await git(e, repo, "push", "-q");
        const database = await dbFile(repo);

        {
          await using t = await Trunk.open({ database });
          assertEquals(await t.readText("README.md"), "hello\n");
          t.write("from-sdk.txt", "via the saved storage\n");
          await t.commit({ message: "sdk via database" });
          await t.push();
          assert(!t.location.includes(minio?.TRUNKS_TEST_MINIO_SECRET_KEY ?? "\0"), t.location);
        }
        await git(e, repo, "pull", "-q", "--ff-only");
        assertEquals(await Deno.readTextFile(`${repo}/from-sdk.txt`), "via the saved storage\n");

        await assertRejects(
          () => Trunk.open({ database, storage: "nope" }),
          TrunkError,
          'no storage named "nope"',
        );
        await assertRejects(
          () => Trunk.open({ database: `${repo}/missing.trunk` }),
          TrunkError,
          "is not a trunks database",
        );
      });
    },
  });
}

/**
 * The lease (DESIGN.md "Lease and grace"): a clean refuses a grace shorter than two
 * leases, and with the lease shrunk to a few seconds, helper pushes, library pushes and
 * a fetcher race repeated cleans: no acknowledged push is lost, and a fresh clone holds
 * every acknowledged commit, fsck-clean.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { Trunk as Library } from "../../src/sdk/trunk.ts";
import { LEASE_ENV } from "../../src/trunk/lease.ts";
import {
  commitFile,
  e2eBackends,
  git,
  makeEnv,
  newRepo,
  ok,
  run,
  trunkUrl,
} from "../e2e/harness.ts";
import { opts } from "./lib.ts";

const LEASE = 4;
const RACE_MS = 30_000;

for (const backend of e2eBackends().filter((b) => ["local", "minio"].includes(b.name))) {
  Deno.test({
    name: `lease ${backend.name}: clean refuses a grace under two leases`,
    ...opts,
    fn: async () => {
      const e = await makeEnv({ ...backend.env, [LEASE_ENV]: "5" });
      const url = await trunkUrl(backend, "lease");
      const a = await newRepo(e, "a");
      await git(e, a, "push", "-q", `trunks::${url}`, "main");
      const short = await run(e, "trunks", ["check", url, "--clean", "--grace", "9s"]);
      assert(short.code !== 0, short.stderr);
      assertMatch(short.stderr, /shorter than two leases .*10s/);
      assertEquals(short.stderr.trim().split("\n").length, 1, short.stderr);
      const enough = await run(e, "trunks", ["check", url, "--clean", "--grace", "10s"]);
      assertEquals(enough.code, 0, enough.stderr);
    },
  });

  Deno.test({
    name:
      `lease ${backend.name}: helper and library pushes race repeated cleans; none acknowledged is lost`,
    ...opts,
    fn: async () => {
      const e = await makeEnv({ ...backend.env, [LEASE_ENV]: String(LEASE) });
      const url = await trunkUrl(backend, "race");
      const remote = `trunks::${url}`;
      const a = await newRepo(e, "a");
      await git(e, a, "push", "-q", remote, "main");
      const acked = new Map<string, string[]>();
      const ack = (branch: string, oid: string) =>
        acked.set(branch, [...acked.get(branch) ?? [], oid]);
      const stopAt = Date.now() + RACE_MS;
      const failures: string[] = [];

      const helperWriter = async (name: string) => {
        const dir = `${await Deno.makeTempDir()}/${name}`;
        await ok(e, "git", ["clone", "-q", remote, dir]);
        await git(e, dir, "checkout", "-q", "-b", name);
        for (let i = 0; Date.now() < stopAt; i++) {
          await commitFile(e, dir, `${name}-${i}.txt`, `${name} ${i}\n`);
          const r = await run(e, "git", ["push", "-q", "origin", `HEAD:refs/heads/${name}`], {
            cwd: dir,
          });
          if (r.code === 0) ack(name, (await git(e, dir, "rev-parse", "HEAD")).trim());
          else failures.push(`${name}: ${r.stderr.trim()}`);
        }
      };
      const libraryWriter = async (name: string) => {
        await using t = await Library.open({ url, settings: backend.settings, writer: name });
        await t.pull();
        for (let i = 0; Date.now() < stopAt; i++) {
          t.write(`${name}-${i}.txt`, `${name} ${i}\n`);
          const c = await t.commit({ message: `${name} ${i}`, branch: name, from: "main" });
          try {
            await t.push();
            ack(name, c.oid);
          } catch (err) {
            failures.push(`${name}: ${(err as Error).message}`);
            t.discard(name);
            await t.pull();
          }
        }
      };
      const fetcher = async () => {
        const dir = `${await Deno.makeTempDir()}/f`;
        await ok(e, "git", ["clone", "-q", remote, dir]);
        while (Date.now() < stopAt) {
          const r = await run(e, "git", ["fetch", "-q", "origin"], { cwd: dir });
          if (r.code !== 0) failures.push(`fetch: ${r.stderr.trim()}`);
        }
      };
      let cleans = 0;
      let deleted = 0;
      const cleaner = async () => {
        while (Date.now() < stopAt) {
          const r = await run(e, "trunks", [
            "check",
            url,
            "--clean",
            "--grace",
            `${2 * LEASE}s`,
            "--json",
          ]);
          assertEquals(r.code, 0, `clean: ${r.stderr}${r.stdout}`);
          cleans++;
          deleted += JSON.parse(r.stdout).clean?.deleted.segments.length ?? 0;
        }
      };
      await Promise.all([
        helperWriter("h1"),
        helperWriter("h2"),
        libraryWriter("l1"),
        libraryWriter("l2"),
        fetcher(),
        cleaner(),
      ]);
      assert(cleans >= 2, `cleans ${cleans}`);
      assert(deleted > 0, "cleans deleted segments while writers worked");
      for (const b of ["h1", "h2", "l1", "l2"]) assert(acked.get(b)?.length, `${b} pushed nothing`);

      // Every acknowledged commit, in a fresh clone, fsck-clean; each branch at its last ack.
      const dir = `${await Deno.makeTempDir()}/check`;
      await ok(e, "git", ["clone", "-q", remote, dir]);
      await git(e, dir, "fsck", "--strict", "--no-dangling");
      for (const [branch, oids] of acked) {
        assertEquals(
          (await git(e, dir, "rev-parse", `origin/${branch}`)).trim(),
          oids[oids.length - 1],
          branch,
        );
        for (const o of oids) await git(e, dir, "cat-file", "-e", `${o}^{commit}`);
      }
      const final = await run(e, "trunks", ["check", url, "--json"]);
      assertEquals(final.code, 0, final.stdout);
      if (failures.length) console.error(`refused (not acknowledged): ${failures.join("\n")}`);
    },
  });
}

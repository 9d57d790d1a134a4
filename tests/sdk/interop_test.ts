/**
 * The library and plain git on the same trunk, both ways, on local disk and every real
 * server under test (MinIO, ...): what git pushes the library reads, what the library
 * commits `git clone trunks::` fetches and `git fsck` accepts; then git builds on it.
 */
import { assert, assertEquals } from "../assert.ts";
import {
  commitFile,
  corpusMirror,
  e2eBackends,
  git,
  makeEnv,
  newRepo,
  ok,
  refList,
  trunkUrl,
} from "../e2e/harness.ts";
import { Trunk } from "../../mod.ts";
import { openStore } from "../../src/storage/registry.ts";
import { getBytes } from "../../src/storage/store.ts";
import { segmentIdxKey, segmentPackKey } from "../../src/trunk/layout.ts";
import { listSegments } from "../../src/trunk/segments.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

for (const backend of e2eBackends()) {
  Deno.test({
    name: `sdk interop ${backend.name}: git pushes, the library reads refs, files, tags and log`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const repo = await newRepo(e);
      await Deno.mkdir(`${repo}/src`);
      await commitFile(e, repo, "src/app.js", "console.log(1);\n");
      await git(e, repo, "tag", "-a", "v1", "-m", "release 1");
      await git(e, repo, "checkout", "-qb", "feature");
      await commitFile(e, repo, "src/app.js", "console.log(2);\n");
      await git(e, repo, "checkout", "-q", "main");
      const url = await trunkUrl(backend, "app");
      await git(e, repo, "push", "-q", `trunks::${url}`, "main", "feature", "v1");

      await using t = await Trunk.open({ url, settings: backend.settings });
      const refs = (await t.refs()).map((r) => `${r.oid} ${r.name}`).sort();
      assertEquals(refs, await refList(e, repo));
      assertEquals(await t.head(), "main");
      assertEquals(await t.tags(), ["v1"]);
      assertEquals(await t.resolve("v1"), (await git(e, repo, "rev-parse", "v1^{commit}")).trim());
      assertEquals(
        await t.readText("src/app.js", { ref: "feature" }),
        await git(e, repo, "show", "feature:src/app.js"),
      );
      assertEquals(await t.readText("src/app.js", { ref: "v1" }), "console.log(1);\n");
      assertEquals(
        (await t.log({ ref: "feature" })).map((c) => c.oid).join("\n") + "\n",
        await git(e, repo, "log", "--format=%H", "feature"),
      );
      const c = await t.readCommit("feature");
      assertEquals(c.author.name, "Trunks Test");
      assertEquals(c.message, "edit src/app.js\n");
    },
  });

  Deno.test({
    name: `sdk interop ${backend.name}: the library commits, git clones, fscks and builds on it`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const repo = await newRepo(e);
      const url = await trunkUrl(backend, "app");
      await git(e, repo, "push", "-q", `trunks::${url}`, "main");

      const binary = new Uint8Array(70_000).map((_, i) => (i * 31) % 256);
      {
        await using t = await Trunk.open({
          url,
          settings: backend.settings,
          author: { name: "Agent Smith", email: "agent@example.com" },
        });
        t.write("notes/todo.md", "ship it\n");
        t.write("bin/tool", "#!/bin/sh\necho tool\n", { executable: true });
        t.write("data/blob.bin", binary);
        t.write("link", "notes/todo.md", { symlink: true });
        // Git's tree order puts a directory "a" as if named "a/": fsck --strict checks it.
        for (const f of ["sort/a.b", "sort/a/x", "sort/a-b", "sort/a0", "sort/a_", "sort/Z"]) {
          t.write(f, `${f}\n`);
        }
        await t.commit({ message: "agent: notes", branch: "main" });
        t.remove("README.md");
        await t.commit({ message: "agent: new branch", branch: "agent/42" });
        await t.push();
      }

      const clone = `${await Deno.makeTempDir({ prefix: "trunks-sdk-clone-" })}/c`;
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, clone]);
      await git(e, clone, "fsck", "--strict", "--no-dangling");
      assertEquals(await Deno.readTextFile(`${clone}/notes/todo.md`), "ship it\n");
      assertEquals(await Deno.readFile(`${clone}/data/blob.bin`), binary);
      assertEquals(await Deno.readLink(`${clone}/link`), "notes/todo.md");
      assert(((await Deno.stat(`${clone}/bin/tool`)).mode! & 0o111) !== 0, "executable bit kept");
      assertEquals(
        (await git(e, clone, "log", "--format=%an <%ae> %s", "main")).trim().split("\n"),
        ["Agent Smith <agent@example.com> agent: notes", "Trunks Test <test@trunks.invalid> first"],
      );
      await git(e, clone, "checkout", "-q", "agent/42");
      assert(!(await Deno.stat(`${clone}/README.md`).then(() => true, () => false)));

      // The segment the library wrote is a valid pack with a valid index, as git sees it.
      const store = await openStore(url, backend.settings);
      try {
        const segs = await listSegments(store);
        assertEquals(segs.length, 2);
        const dir = await Deno.makeTempDir({ prefix: "trunks-sdk-verify-" });
        for (const s of segs) {
          await Deno.writeFile(`${dir}/s.pack`, (await getBytes(store, segmentPackKey(s.id)))!);
          await Deno.writeFile(`${dir}/s.idx`, (await getBytes(store, segmentIdxKey(s.id)))!);
          await ok(e, "git", ["verify-pack", `${dir}/s.idx`]);
        }
      } finally {
        await store.close();
      }

      // git builds on the library's commit (a fast-forward) and the library reads it.
      await git(e, clone, "checkout", "-q", "main");
      await commitFile(e, clone, "notes/todo.md", "shipped\n", "human: done");
      await git(e, clone, "push", "-q", "origin", "main");
      await using t = await Trunk.open({ url, settings: backend.settings });
      assertEquals(await t.readText("notes/todo.md"), "shipped\n");
      assertEquals((await t.log({ limit: 2 })).map((c) => c.message.trim()), [
        "human: done",
        "agent: notes",
      ]);
      // And git fetches a second library commit on top of that.
      t.write("notes/todo.md", "shipped twice\n");
      await t.commit({ message: "agent: again" });
      await t.push();
      await git(e, clone, "pull", "-q", "--ff-only");
      assertEquals(await Deno.readTextFile(`${clone}/notes/todo.md`), "shipped twice\n");
    },
  });

  Deno.test({
    name:
      `sdk interop ${backend.name}: reading one corpus file fetches the index and a few ranges, not the pack`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const mirror = await corpusMirror(e);
      const url = await trunkUrl(backend, "express");
      await git(e, mirror, "push", "-q", "--mirror", `trunks::${url}`);
      await using t = await Trunk.open({ url, settings: backend.settings });
      const text = await t.readText("package.json", { ref: "master" });
      assertEquals(text, await git(e, mirror, "show", "master:package.json"));
      const store = await openStore(url, backend.settings);
      const segs = await listSegments(store);
      await store.close();
      const packBytes = segs.reduce((n, s) => n + s.packSize, 0);
      const idxBytes = segs.reduce((n, s) => n + s.idxSize, 0);
      assert(
        t.stats.bytes < idxBytes + packBytes / 10,
        `read ${t.stats.bytes} bytes; the pack is ${packBytes}, its index ${idxBytes}`,
      );
      assertEquals((await t.branches()).length, (await refList(e, mirror, ["refs/heads/"])).length);
      // log, with and without a path, as git log shows it (merges, simplification).
      const ids = async (...args: string[]) =>
        (await git(e, mirror, "log", "--format=%H", ...args)).trim().split("\n");
      assertEquals(
        (await t.log({ ref: "master", limit: 40 })).map((c) => c.oid),
        await ids("-40", "master"),
      );
      for (const path of ["lib/router/index.js", "History.md", "lib/express.js"]) {
        assertEquals(
          (await t.log({ ref: "master", limit: 15, path })).map((c) => c.oid),
          await ids("-15", "master", "--", path),
          `log -- ${path}`,
        );
      }
    },
  });
}

for (const backend of e2eBackends()) {
  Deno.test({
    name:
      `sdk interop ${backend.name}: four library writers race on one branch, exactly one wins, retries land`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const repo = await newRepo(e);
      const url = await trunkUrl(backend, "race");
      await git(e, repo, "push", "-q", `trunks::${url}`, "main");
      const writers = await Promise.all(
        [0, 1, 2, 3].map((i) => Trunk.open({ url, settings: backend.settings, writer: `w${i}` })),
      );
      try {
        await Promise.all(writers.map((w) => w.pull()));
        await Promise.all(writers.map((w, i) => {
          w.write(`w${i}.txt`, `${i}\n`);
          return w.commit({ message: `w${i}`, branch: "main" });
        }));
        const first = await Promise.allSettled(writers.map((w) => w.push()));
        const winners = first.filter((r) => r.status === "fulfilled");
        assertEquals(winners.length, 1, "exactly one of the racing pushes wins");
        for (const r of first) {
          if (r.status === "rejected") assertEquals(r.reason.code, "conflict");
        }
        // Losers retry (pull rebases, push) until every change is in.
        for (const [i, w] of writers.entries()) {
          if (first[i].status === "fulfilled") continue;
          for (let attempt = 0;; attempt++) {
            try {
              await w.pull();
              await w.push();
              break;
            } catch (err) {
              if ((err as { code?: string }).code !== "conflict" || attempt > 5) throw err;
            }
          }
        }
      } finally {
        await Promise.all(writers.map((w) => w.close()));
      }
      await git(e, repo, "pull", "-q", "--ff-only", `trunks::${url}`, "main");
      for (let i = 0; i < 4; i++) {
        assertEquals(await Deno.readTextFile(`${repo}/w${i}.txt`), `${i}\n`);
      }
      assertEquals((await git(e, repo, "rev-list", "--count", "HEAD")).trim(), "5");
      await git(e, repo, "fsck", "--strict", "--no-dangling");
    },
  });
}

// The helper cannot fetch sha256 trunks yet (no `object-format` capability), so git
// judges the library's sha256 segment directly: index-pack and fsck inside the repository.
Deno.test({
  name: "sdk interop local: a sha256 repository, both ways",
  ...opts,
  fn: async () => {
    const e = await makeEnv();
    const repo = `${await Deno.makeTempDir({ prefix: "trunks-sdk-256-" })}/r`;
    await ok(e, "git", ["init", "-q", "--object-format=sha256", "-b", "main", repo]);
    await commitFile(e, repo, "a.txt", "one\n");
    await commitFile(e, repo, "a.txt", "two\n");
    const url = await trunkUrl(e2eBackends()[0], "sha");
    await git(e, repo, "push", "-q", `trunks::${url}`, "main");
    let oid: string;
    {
      await using t = await Trunk.open({ url });
      assertEquals(t.objectFormat, "sha256");
      assertEquals(await t.readText("a.txt"), "two\n");
      assertEquals((await t.log()).length, 2);
      t.write("b.txt", "from the library\n");
      oid = (await t.commit({ message: "sdk" })).oid;
      assertEquals(oid.length, 64);
      const [pushed] = await t.push();
      const store = await openStore(url);
      const pack = `${repo}/.git/objects/pack/sdk.pack`;
      await Deno.writeFile(pack, (await getBytes(store, segmentPackKey(pushed.segment!)))!);
      await store.close();
      await git(e, repo, "index-pack", pack);
    }
    await git(e, repo, "update-ref", "refs/heads/main", oid);
    await git(e, repo, "reset", "-q", "--hard");
    await git(e, repo, "fsck", "--strict", "--no-dangling");
    assertEquals(await Deno.readTextFile(`${repo}/b.txt`), "from the library\n");
  },
});

for (const backend of e2eBackends()) {
  Deno.test({
    name: `sdk interop ${backend.name}: a trunk the library creates from nothing, git clones`,
    ...opts,
    fn: async () => {
      const e = await makeEnv(backend.env);
      const url = await trunkUrl(backend, "fresh");
      {
        await using t = await Trunk.open({ url, settings: backend.settings, create: true });
        t.write("README.md", "# fresh\n");
        t.write("src/index.ts", "export {};\n");
        const c = await t.commit({ message: "root commit by the library", branch: "trunk" });
        assertEquals(c.parents, []);
        await t.push();
        assertEquals(await t.head(), "trunk");
      }
      const clone = `${await Deno.makeTempDir({ prefix: "trunks-sdk-fresh-" })}/c`;
      await ok(e, "git", ["clone", "-q", `trunks::${url}`, clone]);
      assertEquals((await git(e, clone, "branch", "--show-current")).trim(), "trunk");
      assertEquals(await Deno.readTextFile(`${clone}/src/index.ts`), "export {};\n");
      await git(e, clone, "fsck", "--strict", "--no-dangling");
    },
  });
}

/**
 * Hostile: src/storage/http1.ts keeps a connection open and watches it while idle, so that
 * what a server sends meanwhile (the 408 some servers send before closing an idle
 * connection) retires it rather than being read as the next request's answer.
 */
import { assert, assertEquals } from "../assert.ts";
import { Http1Client } from "../../src/storage/http1.ts";
import { openS3With } from "../../src/storage/open_s3.ts";
import { keys, page } from "./s3_scripted.ts";

/** Synchronous work (a node:sqlite read, an XML parse): the loop polls nothing meanwhile. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* spin */ }
}

/** Spins, polling nothing, until `path` exists (the server says it sent), at most 10 s. */
function busyUntil(path: string): void {
  const end = performance.now() + 10_000;
  for (;;) {
    try {
      Deno.statSync(path);
      return;
    } catch {
      if (performance.now() > end) throw new Error("the server never sent its 408");
      busy(1);
    }
  }
}

/**
 * The server, in a process of its own: it runs while this one does not poll. It answers
 * every request with `body`; on its first connection, 5 ms after the first answer, it sends
 * the 408 a server sends at its idle timeout (nginx, an S3 front end), closes, and writes to
 * SENT_MARK who asked ("raw": http1.ts; "fetch" always sends accept-encoding).
 */
function server(body: string, type = "text/plain"): string {
  return `
const enc = new TextEncoder();
const body = ${JSON.stringify(body)};
const ok = "HTTP/1.1 200 OK\\r\\ncontent-type: ${type}\\r\\ncontent-length: " +
  enc.encode(body).byteLength + "\\r\\n\\r\\n" + body;
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(listener.addr.port);
let conns = 0;
for await (const conn of listener) {
  const n = ++conns;
  (async () => {
    const buf = new Uint8Array(8192);
    for (;;) {
      let head = "";
      while (!head.includes("\\r\\n\\r\\n")) {
        const got = await conn.read(buf).catch(() => null);
        if (got === null) return conn.close();
        head += new TextDecoder().decode(buf.subarray(0, got));
      }
      await conn.write(enc.encode(ok));
      if (n === 1) {
        await new Promise((r) => setTimeout(r, 5));
        await conn.write(enc.encode(
          "HTTP/1.1 408 Request Timeout\\r\\nconnection: close\\r\\ncontent-length: 0\\r\\n\\r\\n",
        )).catch(() => {});
        const by = head.toLowerCase().includes("accept-encoding") ? "fetch" : "raw";
        Deno.writeTextFileSync(Deno.env.get("SENT_MARK"), by);
        return conn.close();
      }
    }
  })();
}
`;
}

/** `server` (`server()`'s script) in a process of its own; `fn` gets its port and its mark. */
async function withServerProcess(
  server: string,
  fn: (port: number, mark: string) => Promise<void>,
): Promise<void> {
  const mark = `${await Deno.makeTempDir()}/sent`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", server],
    env: { SENT_MARK: mark },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    await fn(Number((await lines.read()).value!.trim()), mark);
  } finally {
    child.kill();
    await lines.cancel().catch(() => {});
    await child.status;
  }
}

/**
 * One answer, the server's 408 on the idle connection while this process runs synchronous
 * code, then the next request: its answer must be the server's, not the 408. `spinAfter`:
 * ms of synchronous work after the request is asked for, before it is awaited.
 */
async function idle408(spinAfter: number): Promise<void> {
  await withServerProcess(server("first"), async (port, mark) => {
    const client = new Http1Client();
    try {
      const url = new URL(`http://127.0.0.1:${port}/a`);
      const get = () =>
        client.get({ url, headers: {}, signal: AbortSignal.timeout(5000), maxBytes: 1024 });
      const a = await get();
      assertEquals(new TextDecoder().decode(await a.body()), "first");
      // The 408 (sent 5 ms after the answer) reaches this host's socket while the process
      // runs synchronous code: before the next request is written. Spun until the server
      // says it sent it (a loaded machine may run the server late), and a little more.
      busyUntil(mark);
      busy(20);
      assert(client.keeps(url), "still looks free to reuse: its idle read has not been polled");
      const pending = get();
      if (spinAfter) busy(spinAfter);
      const b = await pending;
      const body = new TextDecoder().decode(await b.body());
      assertEquals(
        [b.status, body],
        [200, "first"],
        "the idle connection's 408 was read as this request's answer",
      );
    } finally {
      client.close();
    }
  });
}

Deno.test("a 408 sent on an idle kept connection is not read as the next request's answer", async () => {
  await idle408(0);
});

// Hostile (de6100b): loopTurn arms a 1 ms timer when asked; a caller whose turn goes on for
// 1 ms or more after asking finds it due when the loop next runs, and a timer already due
// runs before the loop polls for I/O, as setTimeout(0) did. Then the 408 is read again.
Deno.test("a 408 sent on an idle kept connection is not read as the next request's answer, when the caller runs synchronous code after asking", async () => {
  // The request is asked for, then the caller's turn goes on with synchronous work
  // (another operation's parsing, fetch's first use) before the loop runs again.
  await idle408(5);
});

Deno.test("store: two listings started together after the kept connection got a 408 while the process was busy both succeed", async () => {
  await withServerProcess(server(page("refs/a/1"), "application/xml"), async (port, mark) => {
    const env: Record<string, string> = { AWS_REGION: "us-east-1" };
    const store = await openS3With(
      new URL(`s3://bk/base/t.trunk?endpoint=http://127.0.0.1:${port}`),
      keys,
      (n) => env[n],
      { maxAttempts: 1 },
    );
    try {
      const names = async () => (await store.list("refs/")).map((e) => e.key);
      // The process's first request: over http1.ts, its connection kept.
      assertEquals(await names(), ["refs/a/1"]);
      busyUntil(mark);
      busy(20);
      assertEquals(Deno.readTextFileSync(mark), "raw", "the first listing went over http1.ts");
      // One takes the kept connection, the other goes through fetch, whose call and signing
      // run in the same turn: the first one's loop turn is due before the loop polls.
      const both = await Promise.allSettled([names(), names()]);
      assertEquals(
        both.map((r) => r.status === "fulfilled" ? r.value : String(r.reason)),
        [["refs/a/1"], ["refs/a/1"]],
      );
    } finally {
      await store.close?.();
    }
  });
});

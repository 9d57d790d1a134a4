/**
 * The library's errors quote what a store or its server said, and a caller prints
 * `err.message` as it is (a log, a terminal): what a terminal acts on (an escape sequence,
 * a C1 control, a bidirectional override) is escaped in every TrunkError and StoreError, as
 * the CLI shows it, not only in the messages that were known to quote such text.
 */
import { assert, assertEquals } from "../assert.ts";
import { getBytes, openStore, StoreError, Trunk, TrunkError } from "../../mod.ts";
import { TRUNK_JSON } from "../../src/trunk/layout.ts";
import { keys, withServer } from "../storage/s3_scripted.ts";

// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** An OSC window title, a C1 CSI colour and a right-to-left override. */
const HOSTILE = "\x1b]0;owned\x07 \u009b31m \u202e";

async function caught(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}

Deno.test("library: a server's error text reaches a StoreError's message escaped", async () => {
  await withServer(
    () =>
      new Response(
        `<?xml version="1.0"?><Error><Code>SlowDown2</Code><Message>odd ${HOSTILE}</Message></Error>`,
        { status: 400, headers: { "content-type": "application/xml" } },
      ),
    async (url) => {
      const e = await caught(() => Trunk.open({ url, settings: keys, writer: "t" }));
      assert(e instanceof StoreError || e instanceof TrunkError, String(e));
      assert(!UNSAFE.test(e.message), JSON.stringify(e.message));
      assert(e.message.includes("\\u{1b}]0;owned"), e.message);
    },
  );
});

Deno.test("library: a field of trunk.json quoted in a TrunkError is escaped", async () => {
  const url = `memory://errors-${crypto.randomUUID()}/trunks/t.trunk`;
  const store = await openStore(url);
  await Trunk.open({ url, writer: "t", create: true }).then((t) => t.close());
  const meta = JSON.parse(new TextDecoder().decode((await getBytes(store, TRUNK_JSON))!));
  await store.delete(TRUNK_JSON);
  await store.create(
    TRUNK_JSON,
    new TextEncoder().encode(JSON.stringify({ ...meta, leaseSeconds: HOSTILE })),
  );
  const e = await caught(() => Trunk.open({ url, writer: "t" }));
  assert(e instanceof TrunkError, String(e));
  assert(!UNSAFE.test(e.message), JSON.stringify(e.message));
  assert(e.message.includes("leaseSeconds"), e.message);
});

Deno.test("library: escaping is idempotent (an error wrapping another's message)", () => {
  const inner = new StoreError(`io ${HOSTILE}`, "io");
  const outer = new TrunkError(`cannot read: ${inner.message}`, "corrupt");
  assertEquals(outer.message, `cannot read: ${inner.message}`);
});

/**
 * `--secret-key -`: a secret flag given as `-` is read from standard input, so it is in no
 * `ps` listing or shell history (storage_target.ts `secretFromStdin`).
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { secretFromStdin } from "../../src/cli/storage_target.ts";
import { UsageError } from "../../src/cli/errors.ts";

function stdinOf(text: string, terminal = false) {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return {
    isTerminal: () => terminal,
    readSync(buf: Uint8Array): number | null {
      if (at >= bytes.length) return null;
      // Two bytes a read: the input comes in pieces.
      const n = Math.min(2, buf.length, bytes.length - at);
      buf.set(bytes.subarray(at, at + n));
      at += n;
      return n;
    },
  };
}

const SECRETS = new Set(["secret-key", "session-token"]);

Deno.test("secret from stdin: `-` is replaced by the input less one trailing newline", () => {
  const flags = { "access-key": "-", "secret-key": "-", bucket: "b" };
  const out = secretFromStdin(flags, SECRETS, stdinOf("s3cr3t/with+chars\n"));
  // Only secret flags read the input; a non-secret `-` is a value like any other.
  assertEquals(out, { "access-key": "-", "secret-key": "s3cr3t/with+chars", bucket: "b" });
  assertEquals(secretFromStdin(flags, SECRETS, stdinOf("crlf\r\n"))["secret-key"], "crlf");
  // Nothing to read: the input is left alone.
  const none = { "secret-key": "inline" };
  assertEquals(secretFromStdin(none, SECRETS, stdinOf("unused")), none);
});

Deno.test("secret from stdin: two `-`, a terminal, empty or oversized input are one-line usage errors", () => {
  const cases: [Record<string, string>, ReturnType<typeof stdinOf>, RegExp][] = [
    [
      { "secret-key": "-", "session-token": "-" },
      stdinOf("x"),
      /only one secret.*--secret-key -, --session-token -/,
    ],
    [{ "secret-key": "-" }, stdinOf("x", true), /--secret-key - .*terminal; pipe it in/],
    [{ "secret-key": "-" }, stdinOf(""), /--secret-key -: standard input was empty/],
    [{ "secret-key": "-" }, stdinOf("\n"), /standard input was empty/],
    [{ "secret-key": "-" }, stdinOf("x".repeat(70_000)), /over 64 KiB/],
  ];
  for (const [flags, stdin, re] of cases) {
    let e: unknown;
    try {
      secretFromStdin(flags, SECRETS, stdin);
    } catch (err) {
      e = err;
    }
    assert(e instanceof UsageError, `${re}: ${e}`);
    assertMatch(e.message, re);
    assertEquals(e.message.includes("\n"), false);
  }
});

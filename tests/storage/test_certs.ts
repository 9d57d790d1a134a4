/**
 * A throwaway TLS authority for tests of what a client trusts: a CA and a certificate for
 * 127.0.0.1 and localhost signed by it (openssl), in a temp dir (ca.crt, server.crt,
 * server.key).
 */
import { assert } from "../assert.ts";

const dec = new TextDecoder();

export async function makeCerts(): Promise<string> {
  const d = await Deno.makeTempDir({ prefix: "http1-tls-" });
  const run = async (args: string[]) => {
    const out = await new Deno.Command("openssl", { args, cwd: d, stdout: "null", stderr: "piped" })
      .output();
    assert(out.success, dec.decode(out.stderr));
  };
  await run([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=http1 test CA",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
  ]); // deno-fmt-ignore
  await run([
    "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
    "-keyout", "server.key", "-out", "server.csr",
  ]); // deno-fmt-ignore
  await Deno.writeTextFile(`${d}/san.ext`, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await run([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    "san.ext",
    "-out",
    "server.crt",
  ]); // deno-fmt-ignore
  return d;
}

/**
 * SigV4 against the worked examples AWS publishes for S3 ("Signature Calculations for the
 * Authorization Header", sig-v4-header-based-auth): same credentials, time and requests,
 * the signatures AWS prints. No network.
 */
import { assertEquals, assertStringIncludes } from "../assert.ts";
import { COMPRESSOR, hmacSha256, sha256 } from "../../src/storage/sha256.ts";
import { assemble } from "../../scripts/sha256_wasm.ts";
import {
  amzDate,
  canonicalQuery,
  EMPTY_SHA256,
  encodeKeyPath,
  sha256Hex,
  signV4,
} from "../../src/storage/sigv4.ts";

const credentials = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};
const common = {
  host: "examplebucket.s3.amazonaws.com",
  region: "us-east-1",
  amzDate: "20130524T000000Z",
  credentials,
};
const scope = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request";

Deno.test("sigv4: AWS example GET Object (range)", () => {
  const h = signV4({
    ...common,
    method: "GET",
    path: "/test.txt",
    headers: { Range: "bytes=0-9" },
    payloadHash: EMPTY_SHA256,
  });
  assertEquals(
    h.authorization,
    `AWS4-HMAC-SHA256 Credential=${scope}, ` +
      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, " +
      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
  );
  assertEquals(h["x-amz-date"], "20130524T000000Z");
  assertEquals(h["x-amz-content-sha256"], EMPTY_SHA256);
});

Deno.test("sigv4: AWS example PUT Object (encoded key, signed body)", async () => {
  const body = "Welcome to Amazon S3.";
  const payloadHash = await sha256Hex(body);
  assertEquals(payloadHash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  const h = signV4({
    ...common,
    method: "PUT",
    path: `/${encodeKeyPath("test$file.text")}`,
    headers: {
      Date: "Fri, 24 May 2013 00:00:00 GMT",
      "x-amz-storage-class": "REDUCED_REDUNDANCY",
    },
    payloadHash,
  });
  assertStringIncludes(
    h.authorization,
    "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, " +
      "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
  );
});

Deno.test("sigv4: AWS example GET Bucket lifecycle (empty query value)", () => {
  const h = signV4({
    ...common,
    method: "GET",
    path: "/",
    query: [["lifecycle", ""]],
    headers: {},
    payloadHash: EMPTY_SHA256,
  });
  assertStringIncludes(
    h.authorization,
    "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
  );
});

Deno.test("sigv4: AWS example Get Bucket (list objects, query sorted)", () => {
  const h = signV4({
    ...common,
    method: "GET",
    path: "/",
    query: [["prefix", "J"], ["max-keys", "2"]],
    headers: {},
    payloadHash: EMPTY_SHA256,
  });
  assertStringIncludes(
    h.authorization,
    "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
  );
});

Deno.test("sigv4: a session token is sent and signed; encoding is RFC 3986", () => {
  const h = signV4({
    ...common,
    credentials: { ...credentials, sessionToken: "TOKEN/with+chars=" },
    method: "GET",
    path: "/",
    headers: {},
    payloadHash: EMPTY_SHA256,
  });
  assertEquals(h["x-amz-security-token"], "TOKEN/with+chars=");
  assertStringIncludes(
    h.authorization,
    "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,",
  );
  assertEquals(
    encodeKeyPath("trunks/a.trunk/refs/refs=2fheads=2fmain/1"),
    "trunks/a.trunk/refs/refs%3D2fheads%3D2fmain/1",
  );
  assertEquals(canonicalQuery([["b", "x y"], ["a", "*~!"]]), "a=%2A~%21&b=x%20y");
});

Deno.test("sigv4: its SHA-256 and HMAC agree with WebCrypto at every block boundary", async () => {
  const bytes = (n: number, seed: number) =>
    Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);
  const hexOf = (b: ArrayBuffer | Uint8Array) =>
    Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
  for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 300, 1000]) {
    const data = bytes(n, n);
    assertEquals(hexOf(sha256(data)), hexOf(await crypto.subtle.digest("SHA-256", data)), `${n}`);
    for (const keyLen of [1, 20, 64, 65, 100]) {
      const key = bytes(keyLen, 7);
      const k = await crypto.subtle.importKey(
        "raw",
        key,
        { name: "HMAC", hash: "SHA-256" },
        false,
        [
          "sign",
        ],
      );
      assertEquals(
        hexOf(hmacSha256(key, data)),
        hexOf(await crypto.subtle.sign("HMAC", k, data)),
        `hmac key ${keyLen}, data ${n}`,
      );
    }
  }
});

Deno.test("sigv4: the SHA-256 module kept is the one its instructions assemble; long inputs", async () => {
  // COMPRESSOR is assemble()'s output kept as it is: an edit to one without the other fails.
  assertEquals(assemble().toBase64(), COMPRESSOR);
  // Past one call's 960 blocks, the input is compressed in several calls.
  for (const n of [960 * 64 - 9, 960 * 64 - 8, 960 * 64, 200_000]) {
    const data = Uint8Array.from({ length: n }, (_, i) => (i * 131 + 5) & 255);
    assertEquals(
      sha256(data).toHex(),
      new Uint8Array(await crypto.subtle.digest("SHA-256", data)).toHex(),
      `${n}`,
    );
  }
});

Deno.test("sigv4: amzDate is the ISO time without separators or milliseconds", () => {
  assertEquals(amzDate(new Date("2013-05-24T01:02:03.456Z")), "20130524T010203Z");
});

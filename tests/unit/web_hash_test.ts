/**
 * WebCrypto's digests (src/pack/hash.ts) are node:crypto's: whole buffers and streamed
 * hashes on both sides of the limit where StreamHash moves to node:crypto, at edge sizes.
 */
import { createHash as nodeCreateHash } from "node:crypto";
import { assertEquals, assertRejects, assertStringIncludes } from "../assert.ts";
import { digest, StreamHash, toHexString } from "../../src/pack/hash.ts";
import { PackIndex } from "../../src/pack/pack_index.ts";
import { buildSegment } from "../../src/pack/pack_format.ts";
import { checkSeal, checkSealAsync, seal, sealHolds } from "../../src/trunk/seal.ts";

const MIB = 1 << 20;
const SIZES = [0, 1, 63, 64, 65, MIB - 1, MIB, MIB + 1];
const ALGOS = ["sha1", "sha256"] as const;

function bytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >> 8)) & 0xff;
  return b;
}

const nodeHex = (algo: string, b: Uint8Array) => nodeCreateHash(algo).update(b).digest("hex");

Deno.test("WebCrypto digests equal node:crypto's at edge sizes", async () => {
  for (const algo of ALGOS) {
    for (const n of SIZES) {
      const b = bytes(n);
      assertEquals(toHexString(await digest(algo, b)), nodeHex(algo, b), `${algo} ${n}`);
      // A view into a larger buffer hashes only its own bytes.
      const view = bytes(n + 10).subarray(5, 5 + n);
      assertEquals(toHexString(await digest(algo, view)), nodeHex(algo, view), `${algo} view ${n}`);
    }
  }
});

Deno.test("StreamHash equals node:crypto below, at and past its limit", async () => {
  for (const algo of ALGOS) {
    for (const n of SIZES) {
      const b = bytes(n);
      for (const limit of [0, 64, MIB, 4 * MIB]) {
        const h = new StreamHash(algo, limit);
        // Fed in uneven pieces through one reused buffer, as the pack reader does.
        const buf = new Uint8Array(1000);
        for (let at = 0; at < n;) {
          const k = Math.min(n - at, 1 + (at % 997));
          buf.set(b.subarray(at, at + k));
          h.update(buf.subarray(0, k));
          buf.fill(0);
          at += k;
        }
        assertEquals(await h.hex(), nodeHex(algo, b), `${algo} ${n} limit ${limit}`);
      }
    }
  }
  const s = new StreamHash("sha256");
  assertEquals(
    await s.update("blob 3\0").update(bytes(3)).hex(),
    nodeHex("sha256", new Uint8Array([...new TextEncoder().encode("blob 3\0"), ...bytes(3)])),
  );
});

Deno.test("sealHolds agrees with checkSeal", async () => {
  const v = seal({ a: 1, b: "x", c: [1, null, "z"] });
  checkSeal(v, "v");
  assertEquals(await sealHolds(v), true);
  await checkSealAsync(v, "v");
  const bad = { ...v, a: 2 };
  assertEquals(await sealHolds(bad), false);
  await assertRejects(() => checkSealAsync(bad, "bad"));
  assertEquals(await sealHolds({ a: 1 }), false);
});

/** The index of a segment of two blobs. */
const twoBlobIndex = (algo: typeof ALGOS[number]) =>
  buildSegment([{ type: "blob", data: bytes(100) }, { type: "blob", data: bytes(7) }], algo).idx;

Deno.test("PackIndex.open: the same index as the constructor, the same error when damaged", async () => {
  for (const algo of ALGOS) {
    const idx = twoBlobIndex(algo);
    const a = new PackIndex(idx, algo, "i");
    const b = await PackIndex.open(idx, algo, "i");
    assertEquals(b.oids(), a.oids());
    const damaged = idx.slice();
    damaged[damaged.byteLength - 1] ^= 1;
    let want = "";
    try {
      new PackIndex(damaged, algo, "i");
    } catch (e) {
      want = (e as Error).message;
    }
    assertEquals(want.includes("checksum mismatch"), true);
    await assertRejects(() => PackIndex.open(damaged, algo, "i"), Error, want);
  }
});

Deno.test("PackIndex.ofRepository: git's own index read as git reads it, bounds still checked", () => {
  /** The message `f` throws ("" if none). */
  const thrown = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as Error).message;
    }
    return "";
  };
  for (const algo of ALGOS) {
    const idx = twoBlobIndex(algo);
    const a = new PackIndex(idx, algo, "i");
    assertEquals(PackIndex.ofRepository(idx, algo, "i").oids(), a.oids());
    // Neither its checksum hashed nor its order walked (git checks neither when it reads
    // an index); its size still is.
    const damaged = idx.slice();
    damaged[damaged.byteLength - 1] ^= 1;
    assertEquals(PackIndex.ofRepository(damaged, algo, "i").oids(), a.oids());
    const short = idx.subarray(0, idx.byteLength - 10);
    assertStringIncludes(thrown(() => PackIndex.ofRepository(short, algo, "i")), "truncated");
    // Trusted only for that call: the constructor checks as before.
    assertStringIncludes(thrown(() => new PackIndex(damaged, algo, "i")), "checksum mismatch");
    // Its order unwalked, it never decides which objects a join drops.
    const repo = PackIndex.ofRepository(idx, algo, "i");
    assertStringIncludes(thrown(() => a.shared(repo)), "order was checked");
    assertStringIncludes(thrown(() => repo.shared(a)), "order was checked");
    assertEquals(a.shared(new PackIndex(idx, algo, "i")).size, 2);
  }
});

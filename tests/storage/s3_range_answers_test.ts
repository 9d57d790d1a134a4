/**
 * How S3Store takes a ranged GET's answer from a server that does not answer the range:
 * over the raw HTTP/1.1 path and through fetch alike (s3_scripted.ts).
 */
import { assert, assertEquals } from "../assert.ts";

import { child, page, withServer } from "./s3_scripted.ts";

Deno.test("raw hostile: a server that ignores Range (200, the whole object) gives a ranged get only the range", async () => {
  // gcs.ts cuts such an answer to the range; S3 hands the whole object on as the range's
  // bytes, over the raw path (a range up to 1 MiB) and through fetch alike.
  const object = "0123456789";
  for (const env of [{}, { NO_PROXY: "*" }] as Record<string, string>[]) {
    await withServer(
      (req) =>
        new URL(req.url).searchParams.has("list-type")
          ? new Response(page("refs/a/1"))
          : new Response(object),
      async (url, vias) => {
        const out = await child(url, ["list refs/", "get obj 5 3", "get obj 2 1"], { env });
        assertEquals(out.error, undefined);
        assertEquals(out.got, ["567", "2"], `${vias}`);
        assertEquals(vias.at(-1), env.NO_PROXY ? "fetch" : "raw");
      },
    );
  }
});

Deno.test("raw hostile: a 206 whose Content-Range is not the range asked for is not taken for it", async () => {
  // Asked bytes=5-7, a 206 for bytes 0-2 was handed on as bytes 5-7. Refused as one line
  // naming the key: another start, a longer range, none said; a range cut short by the
  // object's end is the answer.
  const answers: Record<string, [string, string | null]> = {
    start: ["012", "bytes 0-2/10"],
    longer: ["56789", "bytes 5-9/10"],
    unsaid: ["567", null],
    tail: ["56", "bytes 5-6/7"],
  };
  for (const env of [{}, { NO_PROXY: "*" }] as Record<string, string>[]) {
    await withServer(
      (req) => {
        if (new URL(req.url).searchParams.has("list-type")) return new Response(page("refs/a/1"));
        const [body, range] = answers[new URL(req.url).pathname.split("/").at(-1)!];
        return new Response(body, {
          status: 206,
          headers: range ? { "content-range": range } : {},
        });
      },
      async (url, vias) => {
        for (const key of ["start", "longer", "unsaid"]) {
          const out = await child(url, ["list refs/", `get ${key} 5 3`], { env });
          const how = `${key} ${vias}: ${JSON.stringify(out)}`;
          assertEquals(out.error?.code, "corrupt", how);
          assert(out.error!.message.includes(key), how);
          assert(!out.error!.message.includes("\n"), how);
        }
        const out = await child(url, ["list refs/", "get tail 5 3"], { env });
        assertEquals(out.error, undefined);
        assertEquals(out.got, ["56"], `${vias}`);
        assertEquals(vias.at(-1), env.NO_PROXY ? "fetch" : "raw");
      },
    );
  }
});

Deno.test("raw hostile: a 206 whose body is shorter or longer than its Content-Range is refused", async () => {
  // Content-Range says bytes 5-7 (three), the body holds two or four: HTTP's framing is
  // intact, so only the header and the body disagree. Both ways are one line naming the key.
  const bodies: Record<string, string> = { short: "56", long: "5678" };
  for (const env of [{}, { NO_PROXY: "*" }] as Record<string, string>[]) {
    await withServer(
      (req) => {
        if (new URL(req.url).searchParams.has("list-type")) return new Response(page("refs/a/1"));
        const key = new URL(req.url).pathname.split("/").at(-1)!;
        return new Response(bodies[key], {
          status: 206,
          headers: { "content-range": "bytes 5-7/10" },
        });
      },
      async (url, vias) => {
        for (const key of Object.keys(bodies)) {
          const out = await child(url, ["list refs/", `get ${key} 5 3`], { env });
          const how = `${key} ${vias}: ${JSON.stringify(out)}`;
          assertEquals(out.error?.code, "corrupt", how);
          assert(out.error!.message.includes(key), how);
          assert(!out.error!.message.includes("\n"), how);
        }
      },
    );
  }
});

/**
 * The storage map and trunk.json are read from the store, so they are checked like any
 * other input: a map entry with an unknown backend, a URL of another scheme, a dot
 * segment, a secret or a setting the backend does not declare is left out naming the key;
 * a bad primary, a huge or duplicate-named map, or a trunk.json with a bad object format
 * or id is refused in one line.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { decodeMap, type MapEntry } from "../../src/trunk/storage_map.ts";
import { parseMeta } from "../../src/trunk/meta.ts";
import { mapMirror } from "./map_entry.ts";

const enc = (storages: unknown[], extra: Record<string, unknown> = {}) =>
  new TextEncoder().encode(
    JSON.stringify({ v: 1, seq: 2, time: "", writer: "", storages, ...extra }),
  );

const primary: MapEntry = {
  name: "primary",
  role: "primary",
  backend: "local",
  url: "local:///srv/store/trunks/app.trunk",
  settings: {},
};

function refused(fn: () => unknown, re: RegExp): void {
  try {
    fn();
  } catch (e) {
    const msg = (e as Error).message;
    assert(!msg.includes("\n"), "one line");
    assertMatch(msg, re);
    return;
  }
  throw new Error(`not refused (${re})`);
}

Deno.test("storage map: bad mirror entries are left out, naming the key; a bad primary refuses the map", () => {
  const mirror = (over: Partial<MapEntry>): MapEntry => mapMirror(over);
  const bad = [
    mirror({ name: "a", backend: "nosuch" }),
    mirror({ name: "b", backend: "postgres" }),
    mirror({ name: "c", url: "s3://bucket/trunks/%2e%2e/%2e%2e/x.trunk" }),
    mirror({ name: "d", url: "s3://bucket/root" }),
    mirror({ name: "e", settings: { "secret-key": "x" } }),
    mirror({ name: "f", settings: { bogus: "x" } }),
    mirror({ name: "g", settings: { region: "eu\nevil" } }),
    mirror({ name: "h", url: "s3://bucket/trunks/app.trunk?password=x" }),
  ];
  const good = mirror({ name: "ok", settings: { region: "eu-west-1" } });
  const lines: string[] = [];
  const orig = console.error;
  console.error = (m: string) => lines.push(m);
  try {
    const map = decodeMap(enc([primary, ...bad, good]), "storages/000000000002");
    assertEquals(map.storages.map((s) => s.name), ["primary", "ok"]);
  } finally {
    console.error = orig;
  }
  assertEquals(lines.length, bad.length);
  for (const l of lines) {
    assertMatch(l, /^trunks: storages\/000000000002: storage "[a-h]" has .*; it is ignored$/);
  }

  refused(
    () =>
      decodeMap(
        enc([{ ...primary, url: "local:///srv/../trunks/app.trunk" }]),
        "storages/000000000003",
      ),
    /storages\/000000000003 is not a valid storage map \(its primary "primary" has/,
  );
  refused(
    () => decodeMap(enc([primary, mirror({}), mirror({ name: "M" })]), "k"),
    /two storages with one name/,
  );
  refused(() => decodeMap(enc(Array(65).fill(primary)), "k"), /65 storages/);
  refused(() => decodeMap(new Uint8Array(300 * 1024), "k"), /bytes/);
});

Deno.test("trunk.json: object format and id are checked before anything uses them", () => {
  const meta = (over: Record<string, unknown>) =>
    JSON.stringify({ format: 1, id: "abc-123", objectFormat: "sha1", created: "", ...over });
  assertEquals(parseMeta(meta({}), "w").objectFormat, "sha1");
  refused(
    () => parseMeta(meta({ objectFormat: "sha1\nfetch x" }), "w"),
    /lacks a valid format, id or object format/,
  );
  refused(() => parseMeta(meta({ id: "../../x" }), "w"), /lacks a valid/);
  refused(() => parseMeta(meta({ id: "a".repeat(500) }), "w"), /lacks a valid/);
});

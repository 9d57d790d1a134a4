/** A storage-map entry for tests: a mirror on S3, with `over` on top (what no writer would put too). */
import type { MapEntry } from "../../src/trunk/storage_map.ts";

export function mapMirror(over: Record<string, unknown> = {}): MapEntry {
  return {
    name: "m",
    role: "mirror",
    backend: "s3",
    url: "s3://bucket/trunks/app.trunk?endpoint=http://127.0.0.1:9000",
    settings: {},
    ...over,
  } as MapEntry;
}

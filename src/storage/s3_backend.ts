/**
 * The S3 family (s3, r2, tigris, b2, wasabi, spaces): their declarations (see
 * backend.ts). One module opens them all, with one SDK, loaded only when such a URL is
 * opened.
 */
import { type BackendSpec, requiredFlag, type Settings, type SettingSpec } from "./backend.ts";

const s3Settings = (extra: SettingSpec[] = []): SettingSpec[] => [
  { key: "bucket", help: "bucket name" },
  { key: "prefix", help: "path inside the bucket (optional)" },
  ...extra,
  { key: "endpoint", help: "S3 API endpoint URL, e.g. http://127.0.0.1:9000 (MinIO)" },
  { key: "access-key", secret: true, help: "access key id" },
  { key: "secret-key", secret: true, help: "secret access key" },
  { key: "session-token", secret: true, help: "session token (temporary credentials)" },
  { key: "path-style", help: "true/false: path-style addressing (default per provider)" },
  { key: "single-writer", help: "true: accept a store without conditional writes (one writer)" },
];
/** `scheme://bucket/prefix?k=v` from `--bucket --prefix` and the given query flags. */
const bucketUrl = (scheme: string, f: Settings, query: string[], need: string[] = []): string => {
  const bucket = requiredFlag(f, "bucket", scheme);
  for (const k of need) requiredFlag(f, k, scheme);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(bucket)) {
    throw new Error(`--bucket ${JSON.stringify(bucket)} is not a bucket name`);
  }
  const prefix = (f.prefix ?? "").split("/").filter(Boolean).map(encodeURIComponent).join("/");
  // `:` and `/` stay readable in the query (`?endpoint=http://host:9000`); both are legal there.
  const q = query.filter((k) => f[k]).map((k) =>
    `${k}=${encodeURIComponent(f[k]!).replace(/%3A/gi, ":").replace(/%2F/gi, "/")}`
  );
  return `${scheme}://${bucket}${prefix ? `/${prefix}` : ""}${q.length ? `?${q.join("&")}` : ""}`;
};
const regionSetting = (help: string): SettingSpec => ({ key: "region", help });
export const s3Backends: BackendSpec[] = [
  {
    schemes: ["s3"],
    description: "AWS S3, MinIO or any S3 API (--endpoint)",
    settings: s3Settings([regionSetting("AWS region (default: AWS_REGION or profile)")]),
    rootUrl: (f) => bucketUrl("s3", f, ["endpoint", "region"]),
    load: async () => (await import("./open_s3.ts")).openS3,
  },
  {
    schemes: ["r2"],
    description: "Cloudflare R2",
    settings: s3Settings([{ key: "account-id", help: "Cloudflare account id (or R2_ACCOUNT_ID)" }]),
    rootUrl: (f) => bucketUrl("r2", f, ["account-id", "endpoint"]),
    load: async () => (await import("./open_s3.ts")).openS3,
  },
  {
    schemes: ["tigris"],
    description: "Tigris object storage",
    settings: s3Settings(),
    rootUrl: (f) => bucketUrl("tigris", f, ["endpoint"]),
    load: async () => (await import("./open_s3.ts")).openS3,
  },
  {
    schemes: ["b2"],
    description: "Backblaze B2 (S3 API)",
    settings: s3Settings([regionSetting("B2 region, e.g. us-west-004")]),
    rootUrl: (f) => bucketUrl("b2", f, ["region", "endpoint"], ["region"]),
    load: async () => (await import("./open_s3.ts")).openS3,
  },
  {
    schemes: ["wasabi"],
    description: "Wasabi",
    settings: s3Settings([regionSetting("Wasabi region (default us-east-1)")]),
    rootUrl: (f) => bucketUrl("wasabi", f, ["region", "endpoint"]),
    load: async () => (await import("./open_s3.ts")).openS3,
  },
  {
    schemes: ["spaces"],
    description: "DigitalOcean Spaces",
    settings: s3Settings([regionSetting("Spaces region, e.g. nyc3")]),
    rootUrl: (f) => bucketUrl("spaces", f, ["region", "endpoint"], ["region"]),
    load: async () => (await import("./open_s3.ts")).openS3,
  },
];

/**
 * Creates one bucket on a freshly started S3-compatible test server (used by
 * scripts/servers/minio.sh). Env: S3_ENDPOINT, S3_ACCESS, S3_SECRET, S3_BUCKET.
 */
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";

const env = (k: string): string => {
  const v = Deno.env.get(k);
  if (!v) throw new Error(`s3_bucket: ${k} is not set`);
  return v;
};
const client = new S3Client({
  endpoint: env("S3_ENDPOINT"),
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: env("S3_ACCESS"), secretAccessKey: env("S3_SECRET") },
  maxAttempts: 10,
});
try {
  await client.send(new CreateBucketCommand({ Bucket: env("S3_BUCKET") }));
} catch (e) {
  const name = (e as Error).name;
  if (name !== "BucketAlreadyOwnedByYou" && name !== "BucketAlreadyExists") {
    console.error(`s3_bucket: creating ${env("S3_BUCKET")}: ${name}: ${(e as Error).message}`);
    Deno.exit(1);
  }
} finally {
  client.destroy();
}

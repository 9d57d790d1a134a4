/** The Store contract against a real MinIO (scripts/servers/minio.sh), a fresh prefix per run. */
import { openStore } from "../../src/storage/registry.ts";
import { serverEnv } from "../servers.ts";
import { storeContract } from "./suite.ts";

const env = serverEnv("minio", [
  "TRUNKS_TEST_MINIO_ENDPOINT",
  "TRUNKS_TEST_MINIO_ACCESS_KEY",
  "TRUNKS_TEST_MINIO_SECRET_KEY",
  "TRUNKS_TEST_MINIO_BUCKET",
]);

storeContract(
  "s3 (MinIO)",
  () => {
    const e = env!;
    const url = `s3://${e.TRUNKS_TEST_MINIO_BUCKET}/run-${crypto.randomUUID()}/trunks/c.trunk` +
      `?endpoint=${e.TRUNKS_TEST_MINIO_ENDPOINT}`;
    return () =>
      openStore(url, {
        "access-key": e.TRUNKS_TEST_MINIO_ACCESS_KEY,
        "secret-key": e.TRUNKS_TEST_MINIO_SECRET_KEY,
      });
  },
  // Above the 8 MiB part size: the streamed put goes multipart (3 parts).
  { bigObject: 20 * 1024 * 1024 + 12345 },
  { ignore: env === null },
);

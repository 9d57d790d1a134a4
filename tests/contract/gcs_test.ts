import { openStore } from "../../src/storage/registry.ts";
import { serverEnv } from "../servers.ts";
import { storeContract } from "./suite.ts";

const env = serverEnv("fake-gcs", ["TRUNKS_TEST_GCS_ENDPOINT", "TRUNKS_TEST_GCS_BUCKET"]);

// Above the 8 MiB chunk size: the streamed put is a resumable upload of several chunks.
storeContract(
  "gcs (fake-gcs-server)",
  () => {
    const e = env!;
    const base = `contract-${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
    return () =>
      openStore(
        `gs://${e.TRUNKS_TEST_GCS_BUCKET}/${base}/trunks/contract.trunk`,
        { endpoint: e.TRUNKS_TEST_GCS_ENDPOINT },
      );
  },
  { bigObject: 3 * 8 * 1024 * 1024 + 12345 },
  { ignore: env === null },
);

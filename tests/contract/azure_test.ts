import { openStore } from "../../src/storage/registry.ts";
import { serverEnv } from "../servers.ts";
import { storeContract } from "./suite.ts";

const env = serverEnv("azurite", [
  "TRUNKS_TEST_AZURITE_ENDPOINT",
  "TRUNKS_TEST_AZURITE_ACCOUNT",
  "TRUNKS_TEST_AZURITE_KEY",
  "TRUNKS_TEST_AZURITE_CONTAINER",
]);

// Above the 8 MiB block size: the streamed put stages several blocks.
storeContract(
  "azure (Azurite)",
  () => {
    const e = env!;
    const base = `contract-${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
    return () =>
      openStore(
        `azure://${e.TRUNKS_TEST_AZURITE_ACCOUNT}/${e.TRUNKS_TEST_AZURITE_CONTAINER}/${base}/trunks/contract.trunk`,
        { endpoint: e.TRUNKS_TEST_AZURITE_ENDPOINT, "account-key": e.TRUNKS_TEST_AZURITE_KEY },
      );
  },
  { bigObject: 3 * 8 * 1024 * 1024 + 12345 },
  { ignore: env === null },
);

/** The Store contract against a real PostgreSQL (scripts/servers/postgres.sh), a fresh path per run. */
import { openStore } from "../../src/storage/registry.ts";
import { openPostgresWith } from "../../src/storage/postgres.ts";
import { serverEnv } from "../servers.ts";
import { storeContract } from "./suite.ts";

const env = serverEnv("postgres", ["TRUNKS_TEST_PG_URL", "TRUNKS_TEST_PG_PASSWORD"]);

const freshUrl = () => `${env!.TRUNKS_TEST_PG_URL}/contract-${crypto.randomUUID()}/trunks/c.trunk`;

// Above the 4 MiB part size: the streamed put is stored in 4 parts.
storeContract(
  "postgres",
  () => {
    const url = freshUrl();
    return () => openStore(url, { password: env!.TRUNKS_TEST_PG_PASSWORD });
  },
  { bigObject: 3 * 4 * 1024 * 1024 + 12345 },
  { ignore: env === null },
);

// Small parts: range reads and streams cross many part boundaries.
storeContract(
  "postgres (64 KiB parts, own schema)",
  () => {
    const url = new URL(`${freshUrl()}?schema=trunks_contract`);
    return () =>
      openPostgresWith(
        url,
        { password: env!.TRUNKS_TEST_PG_PASSWORD },
        () => undefined,
        { partSize: 64 * 1024 },
      );
  },
  { bigObject: 3 * 1024 * 1024 + 12345 },
  { ignore: env === null },
);

/** The Store contract against a real OpenSSH sshd (scripts/servers/sshd.sh), a fresh path per run. */
import { openStore } from "../../src/storage/registry.ts";
import { serverEnv } from "../servers.ts";
import { storeContract } from "./suite.ts";

const env = serverEnv("sshd", [
  "TRUNKS_TEST_SFTP_URL",
  "TRUNKS_TEST_SFTP_KEY",
  "TRUNKS_TEST_SFTP_KNOWN_HOSTS",
]);

storeContract(
  "sftp (OpenSSH)",
  () => {
    const e = env!;
    // The root must exist; the trunk below it is created on first write.
    const url = `${e.TRUNKS_TEST_SFTP_URL}/trunks/contract-${crypto.randomUUID()}.trunk`;
    return () =>
      openStore(
        url,
        { "key-file": e.TRUNKS_TEST_SFTP_KEY, "known-hosts": e.TRUNKS_TEST_SFTP_KNOWN_HOSTS },
      );
  },
  // A create's answer (a rename) carries no attributes: its stamp would cost a stat more.
  { bigObject: 6 * 1024 * 1024 + 12345, stampsCreates: false },
  { ignore: env === null },
);

import { openStore } from "../../src/storage/registry.ts";
import { storeContract } from "./suite.ts";

storeContract("local", () => {
  const root = Deno.makeTempDirSync({ prefix: "trunks-contract-" });
  return () => openStore(`local://${root}/trunks/contract.trunk`);
});

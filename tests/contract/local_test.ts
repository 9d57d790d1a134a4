import { openStore } from "../../src/storage/registry.ts";
import { storeContract } from "./suite.ts";

storeContract("local", async () => {
  const root = await Deno.makeTempDir({ prefix: "trunks-contract-" });
  return await openStore(`local://${root}/trunks/contract.trunk`);
});

import { MemoryStore } from "../../src/storage/memory.ts";
import { storeContract } from "./suite.ts";

storeContract(
  "memory",
  () => Promise.resolve(MemoryStore.named(`contract-${crypto.randomUUID()}`)),
);

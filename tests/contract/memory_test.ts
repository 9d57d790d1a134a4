import { MemoryStore } from "../../src/storage/memory.ts";
import { storeContract } from "./suite.ts";

storeContract(
  "memory",
  () => {
    const name = `contract-${crypto.randomUUID()}`;
    return () => Promise.resolve(MemoryStore.named(name));
  },
);

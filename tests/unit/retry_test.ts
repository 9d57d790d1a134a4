/**
 * The one retry wrapper (src/storage/retry.ts): what is retried, and "did my create
 * land?" decided by the nonce, so two writers of identical bytes never both win.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import {
  createExclusive,
  type CreateOutcome,
  type ErrorKind,
  networkKind,
  type Retrying,
  withRetry,
} from "../../src/storage/retry.ts";
import { isUnavailable, StoreError } from "../../src/storage/store.ts";

const fast = (classify: (e: unknown) => ErrorKind): Retrying => ({
  policy: { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 },
  classify,
});
const reset = () => Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });

Deno.test("withRetry: retries retryable and unavailable, never final kinds, up to the policy", async () => {
  let tries = 0;
  assertEquals(
    await withRetry(fast(() => "retryable"), () => {
      if (++tries < 3) throw reset();
      return Promise.resolve("done");
    }),
    "done",
  );
  assertEquals(tries, 3);
  for (const kind of ["not-found", "access-denied", "other"] as ErrorKind[]) {
    tries = 0;
    await assertRejects(() =>
      withRetry(fast(() => kind), () => {
        tries++;
        throw new Error(kind);
      })
    );
    assertEquals(tries, 1, kind);
  }
  tries = 0;
  await assertRejects(() =>
    withRetry(fast(() => "unavailable"), () => {
      tries++;
      throw new Error("down");
    })
  );
  assertEquals(tries, 4);
});

Deno.test("network errors are classified by code on the cause chain; a TypeError is a bug", () => {
  assertEquals(networkKind(reset()), "retryable");
  const refused = new TypeError("fetch failed", {
    cause: Object.assign(new Error("connect"), { code: "ECONNREFUSED" }),
  });
  assertEquals(networkKind(refused), "unavailable");
  assertEquals(networkKind(new TypeError("x is not a function")), undefined);
  assert(isUnavailable(refused));
  assert(!isUnavailable(new TypeError("Cannot read properties of undefined")));
  assert(!isUnavailable(new Error("timed out waiting for the lock")));
  assert(isUnavailable(new StoreError("cannot reach", "unreachable")));
  assert(!isUnavailable(new StoreError("bad key", "invalid-key")));
});

/** One key on a fake server that stores the nonce with the object. */
class FakeKey {
  nonce: string | undefined;
  bytes: string | undefined;
  /** Writers whose next write lands but whose answer is lost. */
  loseAnswerOf = new Set<string>();
  /** Writers whose next write fails before reaching the server. */
  failBeforeOf = new Set<string>();

  writer(name: string, bytes: string) {
    return {
      write: (nonce: string): Promise<CreateOutcome> => {
        if (this.failBeforeOf.delete(name)) return Promise.reject(reset());
        if (this.nonce !== undefined) return Promise.resolve("exists");
        this.nonce = nonce;
        this.bytes = bytes;
        if (this.loseAnswerOf.delete(name)) return Promise.reject(reset());
        return Promise.resolve("created");
      },
      carries: (nonce: string) => Promise.resolve(this.nonce === nonce),
    };
  }
}

Deno.test("createExclusive: a lost answer is recognised by the nonce, not by equal bytes", async () => {
  const key = new FakeKey();
  // A's create lands but its answer is lost; B's first try never reached the server.
  key.loseAnswerOf.add("a");
  key.failBeforeOf.add("b");
  const retrying = fast((e) => networkKind(e) ?? "other");
  const [a, b] = await Promise.all([
    createExclusive(key.writer("a", "same bytes"), retrying),
    createExclusive(key.writer("b", "same bytes"), retrying),
  ]);
  // Both retried and both found the key with identical bytes: only A's nonce is there.
  assertEquals([a, b], [true, false]);
});

Deno.test("createExclusive: a transport that retried itself reports exists-after-retry", async () => {
  let stored: string | undefined;
  const w = (outcome: CreateOutcome) => ({
    write: (nonce: string) => {
      stored ??= nonce;
      return Promise.resolve(outcome);
    },
    carries: (nonce: string) => Promise.resolve(stored === nonce),
  });
  assertEquals(await createExclusive(w("exists-after-retry")), true);
  assertEquals(await createExclusive(w("exists-after-retry")), false);
  assertEquals(await createExclusive(w("exists")), false);
});

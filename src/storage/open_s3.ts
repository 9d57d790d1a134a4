/**
 * Opens `s3://`, `r2://`, `tigris://`, `b2://`, `wasabi://`, `spaces://` URLs. Loaded
 * lazily by the registry. Requests go through the light client (s3_light.ts) when the
 * configuration allows it; the AWS SDK (s3_sdk.ts) is imported only for what the light
 * client leaves to it.
 */
import type { Settings } from "./backend.ts";
import { S3Store, type S3StoreOptions } from "./s3.ts";
import { type Env, resolveS3Config, type S3Config } from "./s3_config.ts";
import { lightEndpoint, LightS3Sender, proxyFor } from "./s3_light.ts";
import { type S3ClientTuning, withDefaults } from "./s3_tuning.ts";
import type { Store } from "./store.ts";

export type { S3ClientTuning };

/** Store options (minus the client) for a resolved config. */
export function s3StoreOptions(cfg: S3Config): S3StoreOptions {
  const c = cfg.credentials;
  return {
    bucket: cfg.bucket,
    prefix: cfg.prefix,
    location: cfg.location,
    errors: {
      scheme: cfg.scheme,
      bucket: cfg.bucket,
      where: cfg.where,
      region: cfg.region,
      credentialHint: cfg.credentialHint,
      secrets: c ? [c.secretAccessKey, c.sessionToken ?? ""] : [],
    },
  };
}

const processEnv: Env = (name) => Deno.env.get(name);

export function openS3(url: URL, settings: Settings): Promise<Store> {
  return openS3With(url, settings);
}

/** `openS3` with the environment and client tuning injectable (tests). */
export async function openS3With(
  url: URL,
  settings: Settings,
  env: Env = processEnv,
  tuning: S3ClientTuning & Partial<S3StoreOptions> = {},
): Promise<Store> {
  const cfg = resolveS3Config(url, settings, env);
  const { maxAttempts, connectionTimeout, requestTimeout, socketTimeout, ...storeOpts } = tuning;
  const clientTuning = { maxAttempts, connectionTimeout, requestTimeout, socketTimeout };
  const sdk = async () => {
    const { s3Client, sdkSender } = await import("./s3_sdk.ts");
    return sdkSender(s3Client(cfg, clientTuning));
  };
  const origin = lightEndpoint(cfg, env);
  const client = origin
    ? new LightS3Sender(cfg, origin, withDefaults(clientTuning), sdk, env)
    : await sdk();
  const singleWriter = settings["single-writer"] === "true";
  const opts = s3StoreOptions(cfg);
  if (origin) {
    // fetch goes through a proxy the environment names; errors say so, or a dead proxy
    // reads as a dead endpoint.
    const host = new URL(origin);
    if (!cfg.forcePathStyle) host.hostname = `${cfg.bucket}.${host.hostname}`;
    const proxy = proxyFor(host, env);
    if (proxy) opts.errors = { ...opts.errors, where: `${opts.errors.where} via proxy ${proxy}` };
  }
  return new S3Store(client, { ...opts, singleWriter, ...storeOpts });
}

// Test helpers for the secure local stack: bring its services up through the same stack code as `npm run stack --
// up --secure` (and stop again only what this file started), the configs of its users, and the secrets a leak check
// searches for.
import { readFileSync, readdirSync } from 'node:fs';
import { expect } from 'vitest';
import { TagstreamError } from '../../src/errors.ts';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import {
  secureDataPaths,
  secureMariadbService,
  secureMysqlConfig,
  secureRedisConfig,
  secureRedisService,
  secureRootUrl,
  type MariadbUser,
  type RedisUser,
  type SecureDataPaths,
} from '../../src/dev/stack/secure-data.ts';
import { secureBrokers, secureKafkaService, type SecurePaths } from '../../src/dev/stack/secure.ts';
import { stackPaths, type StackService } from '../../src/dev/stack/services.ts';

export type SecureService = 'kafka' | 'redis' | 'mariadb';
export type Paths = SecureDataPaths & SecurePaths;

export interface SecureStack {
  readonly paths: Paths;
  /** What was started here (the rest was up already), and how long each `up` took. */
  readonly started: string[];
  readonly timings: Record<string, number>;
  /** Stops what this call started. */
  stop(): Promise<void>;
}

/** Brings the secure services up side by side (a no-op but for their ACLs and grants when they run). */
export async function upSecure(
  which: readonly SecureService[],
  log: (l: string) => void,
): Promise<SecureStack> {
  const config = loadConfig();
  const paths = stackPaths(config);
  const make: Record<SecureService, () => StackService> = {
    kafka: () => secureKafkaService(config, paths),
    redis: () => secureRedisService(config, paths),
    mariadb: () => secureMariadbService(config, paths),
  };
  const services = which.map((w) => make[w]());
  const timings: Record<string, number> = {};
  const results = await Promise.allSettled(
    services.map(async (s) => {
      const t0 = Date.now();
      const started = await s.up(log);
      timings[s.name] = Date.now() - t0;
      return started;
    }),
  );
  const started = services.filter((_, i) => {
    const r = results[i]!;
    return r.status === 'fulfilled' && r.value;
  });
  const stop = async (): Promise<void> => {
    for (const s of started) await s.down(() => undefined).catch(() => undefined);
  };
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { paths: secureDataPaths(paths.stackDir), started: started.map((s) => s.name), timings, stop };
}

/** A config on the secure services: Kafka as `kafka` user, Redis as `redis`, MariaDB as `mysql` on `database`. */
export function secureConfig(
  paths: Paths,
  users: { kafka?: string; redis?: RedisUser; mysql?: MariadbUser; database?: string },
  overrides: Record<string, unknown> = {},
): Config {
  return parseConfig({
    ...overrides,
    ...(users.kafka
      ? {
          kafka: {
            brokers: secureBrokers(),
            connectTimeoutMs: 10_000,
            security: { protocol: 'SASL_SSL' },
            sasl: {
              mechanism: 'SCRAM-SHA-512',
              username: users.kafka,
              passwordFile: paths.passwordFile(users.kafka as 'tagstream'),
            },
            ssl: { caFile: paths.caFile },
            ...(overrides['kafka'] as object | undefined),
          },
        }
      : {}),
    ...(users.redis ? { redis: secureRedisConfig(paths, users.redis) } : {}),
    ...(users.mysql ? { mysql: secureMysqlConfig(paths, users.mysql, users.database) } : {}),
  });
}

/** root over TLS on `database` of the secure MariaDB (migrations, grants, checks, clean-up). */
export const rootUrl = (paths: Paths, database: string): string => secureRootUrl(paths, database);

/** Every secret of the secure stack: passwords, the key password, the CA's and servers' private keys. */
export function stackSecrets(paths: Paths): string[] {
  const secrets: string[] = [];
  for (const f of readdirSync(paths.secretsDir)) {
    const text = readFileSync(join(paths.secretsDir, f), 'utf8');
    if (f.endsWith('.password') || f.endsWith('.key-password')) secrets.push(text.trim());
    // A key's base64 body: any of its lines would give it away; the first full line stands for it.
    else if (f.endsWith('.key')) {
      const line = text.split('\n').find((l) => /^[A-Za-z0-9+/]{64}$/.test(l));
      if (line) secrets.push(line);
    }
  }
  return secrets;
}

/** Awaits a call that must be refused with one of our coded errors; keeps the error in `seen` for the leak check. */
export async function refusal(p: Promise<unknown>, seen: unknown[]): Promise<TagstreamError> {
  try {
    await p;
  } catch (e) {
    seen.push(e);
    expect(e).toBeInstanceOf(TagstreamError);
    return e as TagstreamError;
  }
  throw new Error('expected a refusal');
}

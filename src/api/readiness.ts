// Readiness probes for GET /readyz: one small request per dependency (Kafka metadata, the registry's config,
// SELECT 1, PING), each bounded by a timeout, all run at once; the report says which failed, why and how long each took.
import type { KafkaAdmin, KafkaClient } from '../io/kafka/client.ts';
import { TagstreamError, toTagstreamError, type ErrorCode } from '../errors.ts';
import { mapKafkaError } from '../io/kafka/client.ts';
import type { Sql } from '../io/mysql/pool.ts';
import { mapRegistryError, registryRequest } from '../io/registry/registry.ts';

export interface ReadinessProbe {
  readonly name: string;
  /** The code reported when the check does not answer in time (default INTERNAL). */
  readonly unavailableCode?: ErrorCode;
  /** Resolves when the dependency answers; rejects with the reason otherwise. Aborted at the timeout. */
  check(signal: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}

export interface ProbeResult {
  readonly name: string;
  readonly ok: boolean;
  readonly latency_ms: number;
  /** Present when ok is false: our error code and message. */
  readonly error?: { readonly code: string; readonly message: string };
}

export interface Readiness {
  readonly ready: boolean;
  readonly checks: readonly ProbeResult[];
}

/** Runs every probe at once; a probe that takes longer than timeoutMs fails with a timeout. */
export async function runProbes(probes: readonly ReadinessProbe[], timeoutMs: number): Promise<Readiness> {
  const checks = await Promise.all(
    probes.map(async (p): Promise<ProbeResult> => {
      const start = performance.now();
      const controller = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          controller.abort();
          reject(
            new TagstreamError(
              p.unavailableCode ?? 'INTERNAL',
              `${p.name}: no answer within ${timeoutMs} ms`,
              {
                retryable: true,
              },
            ),
          );
        }, timeoutMs);
      });
      try {
        await Promise.race([p.check(controller.signal), timeout]);
        return { name: p.name, ok: true, latency_ms: elapsed(start) };
      } catch (e) {
        const err = toTagstreamError(e);
        return {
          name: p.name,
          ok: false,
          latency_ms: elapsed(start),
          error: { code: err.code, message: err.message },
        };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: checks.every((c) => c.ok), checks };
}

const elapsed = (start: number): number => Math.round((performance.now() - start) * 10) / 10;

/**
 * Kafka: a metadata request (describeCluster) on an admin client kept between checks. After a failure the admin is
 * dropped, so the next check connects afresh instead of waiting behind the old client's retries.
 */
export function kafkaProbe(kafka: KafkaClient, brokers: readonly string[]): ReadinessProbe {
  let admin: KafkaAdmin | undefined;
  let connecting: Promise<KafkaAdmin> | undefined;
  const drop = (): void => {
    const a = admin;
    admin = undefined;
    connecting = undefined;
    void a?.disconnect().catch(() => undefined);
  };
  return {
    name: 'kafka',
    unavailableCode: 'KAFKA_UNAVAILABLE',
    async check(signal) {
      // A broker that is down keeps the client retrying for a while: at the timeout, start afresh next time.
      signal.addEventListener('abort', drop, { once: true });
      try {
        if (connecting === undefined) {
          const fresh = kafka.admin({ retries: 0 });
          admin = fresh;
          connecting = fresh.connect().then(() => fresh);
        }
        await (await connecting).brokerCount();
      } catch (e) {
        drop();
        throw mapKafkaError(e, brokers, 'checking readiness');
      }
    },
    async close() {
      const a = admin;
      admin = undefined;
      connecting = undefined;
      await a?.disconnect().catch(() => undefined);
    },
  };
}

/** The schema registry: GET <url>/config (tiny on Confluent and Apicurio's ccompat API). */
export function registryProbe(url: string): ReadinessProbe {
  return {
    name: 'schema_registry',
    unavailableCode: 'REGISTRY_UNAVAILABLE',
    async check(signal) {
      try {
        await registryRequest(url, '/config', { signal });
      } catch (e) {
        throw mapRegistryError(e, url, 'the readiness check');
      }
    },
  };
}

/** MySQL/MariaDB: SELECT 1 on the pool (errors already mapped to our codes by createSql). */
export function mysqlProbe(sql: Pick<Sql, 'query'>): ReadinessProbe {
  return {
    name: 'mysql',
    unavailableCode: 'MYSQL_UNAVAILABLE',
    async check() {
      await sql.query('SELECT 1');
    },
  };
}

/** Redis: PING through the prediction cache's connection. */
export function redisProbe(target: { ping(): Promise<void> }): ReadinessProbe {
  return {
    name: 'redis',
    unavailableCode: 'REDIS_UNAVAILABLE',
    async check() {
      await target.ping();
    },
  };
}

// Wires the collectors to the real services from config: providers (file or HTTP, with retries), the Kafka publisher,
// the feature store (is_real_time = false for every value), and MySQL for history and the last-good lookup.
import { isAbsolute, join } from 'node:path';
import type { Config } from '../../config/schema.ts';
import { TagstreamError } from '../errors.ts';
import { createKafka } from '../io/kafka/client.ts';
import { createSql, type Sql } from '../io/mysql/pool.ts';
import { AvroSerde, confluentRegistry } from '../io/registry/registry.ts';
import type { Logger } from '../log.ts';
import { systemClock, type Clock } from '../runtime/clock.ts';
import { createFeatureStore, featureStoreOptions } from '../store/feature-store.ts';
import { COLLECTOR_FEATURES, knownStores, type CollectorDeps, type CollectorName } from './collectors.ts';
import { historyProvider } from './history.ts';
import { fileProvider, httpJsonProvider, mapJsonArray, withRetry, type Provider } from './provider.ts';
import { kafkaPublisher, type ExternalPublisher } from './publisher.ts';
import { parseCalendarRow, parseEconomicRow, parseWeatherRow } from './records.ts';

export interface RuntimeOptions {
  readonly log: Logger;
  /** Overrides collectors.sourceDir (the CLI's --source-dir). */
  readonly sourceDir?: string;
  readonly clock?: Clock;
  /** Retry jitter and waits; real ones by default. */
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Replaces the Kafka publisher (tests). */
  readonly publisher?: ExternalPublisher;
}

export interface CollectorRuntime {
  readonly deps: CollectorDeps;
  close(): Promise<void>;
}

/** The provider of an external series as configured: a file in the source folder, or an HTTP JSON endpoint. */
export function externalProvider<T>(
  config: Config,
  name: 'weather' | 'economic' | 'calendar',
  parse: (value: unknown) => T,
  sourceDir: string,
): Provider<T> {
  const c = config.collectors[name];
  if (c.provider === 'http') {
    if (!c.url)
      throw new TagstreamError(
        'CONFIG_INVALID',
        `collectors.${name}.url: required when collectors.${name}.provider is http`,
      );
    return httpJsonProvider(c.url, mapJsonArray(parse), { timeoutMs: config.collectors.httpTimeoutMs });
  }
  return fileProvider(isAbsolute(c.file) ? c.file : join(sourceDir, c.file), parse);
}

/** Newest batch value of a collector's features in ml_feature_store (uses the (feature_name, timestamp) index). */
export async function lastGoodValue(sql: Sql, name: CollectorName): Promise<number | null> {
  const [row] = await sql.query<{ t: Date | null }>(
    'SELECT MAX(feature_timestamp) AS t FROM ml_feature_store WHERE feature_name IN (?) AND is_real_time = 0',
    [[...COLLECTOR_FEATURES[name]]],
  );
  return row?.t ? row.t.getTime() : null;
}

export async function createCollectorRuntime(
  config: Config,
  options: RuntimeOptions,
): Promise<CollectorRuntime> {
  const { log } = options;
  const sourceDir = options.sourceDir ?? config.collectors.sourceDir;
  const retry = <T>(p: Provider<T>): Provider<T> =>
    withRetry(p, {
      retries: config.collectors.retries,
      baseMs: config.collectors.retryBaseMs,
      maxMs: config.collectors.retryMaxMs,
      log: log.child({ component: 'provider' }),
      ...(options.random ? { random: options.random } : {}),
      ...(options.sleep ? { sleep: options.sleep } : {}),
    });
  const providers = {
    weather: externalProvider(config, 'weather', parseWeatherRow, sourceDir),
    economic: externalProvider(config, 'economic', parseEconomicRow, sourceDir),
    calendar: externalProvider(config, 'calendar', parseCalendarRow, sourceDir),
  };
  const sql = createSql(config.mysql.url, { connectionLimit: 2 });
  const store = createFeatureStore({ ...featureStoreOptions(config), isRealTime: () => false });
  let publisher = options.publisher;
  try {
    if (!publisher) {
      const kafka = createKafka(
        config,
        log.child({ component: 'kafka' }),
        `${config.kafka.clientId}-collectors`,
      );
      publisher = await kafkaPublisher(
        config,
        kafka,
        new AvroSerde(confluentRegistry(config.schemaRegistry.url)),
      );
    }
  } catch (e) {
    await Promise.allSettled([store.close(), sql.end()]);
    throw e;
  }
  const deps: CollectorDeps = {
    providers: {
      weather: retry(providers.weather),
      economic: retry(providers.economic),
      calendar: retry(providers.calendar),
      historical: retry(
        historyProvider(sql, config.collectors.historical.windowDays, config.windows.dedupWindowMs),
      ),
    },
    publisher,
    store,
    lastGood: (name) => lastGoodValue(sql, name),
    storeIds: knownStores(config),
    clock: options.clock ?? systemClock,
    log,
  };
  const ownPublisher = options.publisher === undefined ? publisher : undefined;
  return {
    deps,
    async close() {
      await Promise.allSettled([ownPublisher?.close(), store.close(), sql.end()]);
    },
  };
}

// kafkajs behind small helpers: one client factory (logs through pino), topic creation, and error mapping to our codes.
import { Kafka, logLevel, type Admin, type LogEntry } from 'kafkajs';
import type { Config } from '../../../config/schema.ts';
import { TagstreamError } from '../../errors.ts';
import type { Logger } from '../../log.ts';

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export function createKafka(config: Config, log: Logger, clientId: string = config.kafka.clientId): Kafka {
  process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
  return new Kafka({
    clientId,
    brokers: config.kafka.brokers,
    connectionTimeout: config.kafka.connectTimeoutMs,
    // kafkajs logs retriable hiccups (a coordinator still loading) at ERROR; they are warnings to us.
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        const lvl = LEVELS[level] ?? 'info';
        log[lvl === 'error' ? 'warn' : lvl]({ kafkajs: rest }, message);
      },
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
  });
}

/** kafkajs error names that mean the cluster is not reachable (as opposed to a request that failed). */
const UNREACHABLE = new Set([
  'KafkaJSConnectionError',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSBrokerNotFound',
  'KafkaJSNonRetriableError',
]);

export function mapKafkaError(e: unknown, brokers: readonly string[], what: string): TagstreamError {
  if (e instanceof TagstreamError) return e;
  const err = e as { name?: string; message?: string; retriable?: boolean; type?: string };
  if (UNREACHABLE.has(err.name ?? '') && /connect|ECONNREFUSED|timeout|brokers/i.test(err.message ?? ''))
    return new TagstreamError(
      'KAFKA_UNAVAILABLE',
      `Kafka at ${brokers.join(',')} is not reachable while ${what} (${err.message}): run \`npm run stack -- up\`, or set KAFKA_BROKERS to a running broker`,
      { cause: e, retryable: true },
    );
  return new TagstreamError(
    'KAFKA_ERROR',
    `Kafka error while ${what}: ${err.type ?? err.name ?? ''} ${err.message ?? String(e)}`,
    {
      cause: e,
      retryable: err.retriable ?? false,
    },
  );
}

export interface TopicSettings {
  readonly partitions?: number;
  readonly configEntries?: ReadonlyArray<{ name: string; value: string }>;
}

/** Creates the topics that do not exist yet; existing ones are left as they are. */
export async function ensureTopics(
  admin: Admin,
  topics: readonly string[],
  config: Config,
  settings: TopicSettings = {},
): Promise<string[]> {
  // Retried as a whole: on a busy broker a topic created a moment ago may not have a leader everywhere yet,
  // and a second attempt finds what the first one created.
  const created: string[] = [];
  await retryRetriable(async () => {
    const existing = new Set(await admin.listTopics());
    const missing = [...new Set(topics)].filter((t) => !existing.has(t));
    if (missing.length === 0) return;
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: settings.partitions ?? config.kafka.partitions,
        replicationFactor: config.kafka.replicationFactor,
        configEntries: [
          // Records carry event-time timestamps, often far in the past: time-based retention would delete them
          // at once, so topics tagstream creates keep records until kafka.topicRetentionMs (-1: forever).
          { name: 'retention.ms', value: String(config.kafka.topicRetentionMs) },
          ...(settings.configEntries ?? []),
        ],
      })),
    });
    created.push(...missing);
  });
  await retryRetriable(() => admin.fetchTopicMetadata({ topics: [...new Set(topics)] }));
  return created;
}

/**
 * Retries an admin call on errors Kafka marks retriable (a topic created a moment ago may not have a leader in
 * every broker's metadata yet), with a short backoff; anything else is thrown at once.
 */
export async function retryRetriable<T>(fn: () => Promise<T>, attempts = 10, delayMs = 200): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      const retriable = (e as { retriable?: boolean }).retriable === true;
      if (!retriable || i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, delayMs * i));
    }
  }
}

// The Kafka client from config (the implementation `kafka.client` names), topic creation, and error mapping to our
// codes. Everything outside src/io/kafka/ uses the interfaces of types.ts, never a client library.
import type { Config } from '../../../config/schema.ts';
import { TagstreamError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { confluentClient } from './confluent.ts';
import { guarded, SECURITY_OF_ERROR } from './guarded.ts';
import { kafkajsClient } from './kafkajs.ts';
import { securityError, securityFrom, usesTls, type KafkaSecurity } from './security.ts';
import type { KafkaAdmin, KafkaClient } from './types.ts';

export type * from './types.ts';

export function createKafka(
  config: Config,
  log: Logger,
  clientId: string = config.kafka.clientId,
): KafkaClient {
  const security = securityFrom(config.kafka);
  const settings = {
    clientId,
    brokers: config.kafka.brokers,
    connectTimeoutMs: config.kafka.connectTimeoutMs,
    log: log.child({ component: config.kafka.client }),
    security,
  };
  const client = config.kafka.client === 'confluent' ? confluentClient(settings) : kafkajsClient(settings);
  return guarded(client, security);
}

/** kafkajs error names that mean the cluster is not reachable (as opposed to a request that failed). */
const UNREACHABLE = new Set([
  'KafkaJSConnectionError',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSBrokerNotFound',
  'KafkaJSNonRetriableError',
]);

/**
 * @confluentinc/kafka-javascript errors carry librdkafka's code as `type` ('ERR__TRANSPORT'; local errors have two
 * underscores). These mean no broker answered: it is away, or the address is wrong.
 */
const CONFLUENT_UNREACHABLE = new Set([
  'ERR__TRANSPORT',
  'ERR__ALL_BROKERS_DOWN',
  'ERR__RESOLVE',
  'ERR__TIMED_OUT',
  'ERR__MSG_TIMED_OUT',
]);

/** Broker errors Kafka documents as retriable; librdkafka marks `retriable` only on transactional calls. */
const CONFLUENT_RETRIABLE = new Set([
  'ERR_UNKNOWN_TOPIC_OR_PART',
  'ERR_LEADER_NOT_AVAILABLE',
  'ERR_NOT_LEADER_FOR_PARTITION',
  'ERR_REQUEST_TIMED_OUT',
  'ERR_COORDINATOR_LOAD_IN_PROGRESS',
  'ERR_COORDINATOR_NOT_AVAILABLE',
  'ERR_NOT_COORDINATOR',
  'ERR_CONCURRENT_TRANSACTIONS',
  'ERR_NOT_ENOUGH_REPLICAS',
]);

interface ClientError {
  name?: string;
  message?: string;
  type?: string;
  retriable?: boolean;
  /** confluent: the transaction can be aborted and tried again. */
  abortable?: boolean;
  /** confluent: the producer is unusable (fenced). */
  fatal?: boolean;
}

function isUnreachable(err: ClientError): boolean {
  if (err.type?.startsWith('ERR_')) return CONFLUENT_UNREACHABLE.has(err.type);
  return UNREACHABLE.has(err.name ?? '') && /connect|ECONNREFUSED|timeout|brokers/i.test(err.message ?? '');
}

function isRetryable(err: ClientError): boolean {
  if (err.fatal === true) return false;
  if (err.type?.startsWith('ERR_'))
    return err.retriable === true || err.abortable === true || CONFLUENT_RETRIABLE.has(err.type);
  return err.retriable ?? false;
}

/**
 * Our code for a client error: a security failure (security.ts) as KAFKA_AUTH_FAILED / KAFKA_NOT_AUTHORIZED /
 * KAFKA_TLS_FAILED, an unreachable cluster as KAFKA_UNAVAILABLE, anything else as KAFKA_ERROR. `security` defaults to
 * the settings of the guarded client that threw (guarded.ts), for the hints.
 */
export function mapKafkaError(
  e: unknown,
  brokers: readonly string[],
  what: string,
  security?: KafkaSecurity,
): TagstreamError {
  if (e instanceof TagstreamError) return e;
  const err = e as ClientError;
  const settings =
    security ?? ((e as Record<symbol, unknown> | null)?.[SECURITY_OF_ERROR] as KafkaSecurity | undefined);
  const secure = securityError(e, brokers, settings, { what, action: 'Describe' });
  if (secure) return secure;
  if (isUnreachable(err))
    return new TagstreamError(
      'KAFKA_UNAVAILABLE',
      `Kafka at ${brokers.join(',')} is not reachable while ${what} (${err.message}): run \`npm run stack -- up\`, or set KAFKA_BROKERS to a running broker` +
        // A plaintext client whose connection the broker closed: a TLS listener does that.
        (settings && !usesTls(settings) && /closed|timeout|disconnected/i.test(err.message ?? '')
          ? `; if its listener uses TLS, set kafka.security.protocol to SSL or SASL_SSL (it is ${settings.protocol})`
          : ''),
      { cause: e, retryable: true },
    );
  return new TagstreamError(
    'KAFKA_ERROR',
    `Kafka error while ${what}: ${err.type ?? err.name ?? ''} ${err.message ?? String(e)}`,
    { cause: e, retryable: isRetryable(err) },
  );
}

export interface TopicSettings {
  readonly partitions?: number;
  /** Topic configuration on creation (name -> value), e.g. `cleanup.policy`. */
  readonly config?: Readonly<Record<string, string>>;
}

/** Creates the topics that do not exist yet; existing ones are left as they are. */
export async function ensureTopics(
  admin: KafkaAdmin,
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
    await admin.createTopics(
      missing.map((topic) => ({
        topic,
        partitions: settings.partitions ?? config.kafka.partitions,
        replicationFactor: config.kafka.replicationFactor,
        config: {
          // Records carry event-time timestamps, often far in the past: time-based retention would delete them
          // at once, so topics tagstream creates keep records until kafka.topicRetentionMs (-1: forever).
          'retention.ms': String(config.kafka.topicRetentionMs),
          ...settings.config,
        },
      })),
    );
    created.push(...missing);
  });
  await retryRetriable(() => admin.partitionCounts([...new Set(topics)]));
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

/** ensureTopics on an admin of its own: connects, creates what is missing, maps failures to our codes. */
export async function ensureTopicsWith(
  kafka: KafkaClient,
  config: Config,
  topics: readonly string[],
  settings: TopicSettings = {},
): Promise<string[]> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await ensureTopics(admin, topics, config, settings);
  } catch (e) {
    throw mapKafkaError(e, config.kafka.brokers, `creating ${topics.join(', ')}`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

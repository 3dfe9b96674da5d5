// Where the collectors send external.* records: a small interface (tests use an in-memory one) and its Kafka
// implementation (Avro, Confluent wire format, registry-registered schemas, acks=all).
//
// Keys: the store or region (`global` for an event of every store), as the DESIGN topic table says, so one store's
// records stay in one partition and in order. A record's identity is (location, date) for weather, (region,
// week_start) for economic indicators and event_id for the calendar: a re-run sends the same identities again with a
// newer collected_at, so consumers treat external.* as an upsert log, latest collected_at per identity. (The Kafka
// key alone is not the identity, so these topics are not log-compacted.)
import type { Config } from '../../config/schema.ts';
import { ensureTopicsWith, mapKafkaError, type KafkaClient } from '../io/kafka/client.ts';
import type { AvroSerde } from '../io/registry/registry.ts';
import { loadSchema } from '../schemas/catalog.ts';
import type { CalendarEvent, EconomicIndicators, WeatherObservation } from '../schemas/types.ts';

export interface ExternalRecordTypes {
  weather: WeatherObservation;
  economic: EconomicIndicators;
  calendar: CalendarEvent;
}

export type ExternalKind = keyof ExternalRecordTypes;

export interface KeyedRecord<T> {
  readonly key: string;
  readonly value: T;
}

export interface ExternalPublisher {
  /** Sends the records to the kind's topic; resolves once the broker acknowledged all of them. */
  publish<K extends ExternalKind>(
    kind: K,
    records: readonly KeyedRecord<ExternalRecordTypes[K]>[],
  ): Promise<void>;
  close(): Promise<void>;
}

/** The configured topic of each kind. */
export function externalTopics(config: Config): Record<ExternalKind, string> {
  return {
    weather: config.topics.weather,
    economic: config.topics.economic,
    calendar: config.topics.calendar,
  };
}

/** Records per producer request. */
const SEND_CHUNK = 1_000;

/** Creates the external.* topics if missing, registers their schemas and connects a producer. */
export async function kafkaPublisher(
  config: Config,
  kafka: KafkaClient,
  serde: AvroSerde,
): Promise<ExternalPublisher> {
  const topics = externalTopics(config);
  await ensureTopicsWith(kafka, config, Object.values(topics));
  const encoders = {
    weather: await serde.encoderFor<WeatherObservation>(topics.weather, loadSchema('weather')),
    economic: await serde.encoderFor<EconomicIndicators>(topics.economic, loadSchema('economic')),
    calendar: await serde.encoderFor<CalendarEvent>(topics.calendar, loadSchema('calendar')),
  };
  // Not idempotent: a duplicate from a retried send is harmless here (consumers keep the latest per identity), and
  // one request in flight keeps each store's records in order.
  const producer = kafka.producer();
  try {
    await producer.connect();
  } catch (e) {
    throw mapKafkaError(e, config.kafka.brokers, 'connecting the collectors producer');
  }
  return {
    async publish(kind, records) {
      const encode = encoders[kind] as (v: ExternalRecordTypes[typeof kind]) => Buffer;
      for (let i = 0; i < records.length; i += SEND_CHUNK) {
        const messages = records
          .slice(i, i + SEND_CHUNK)
          .map((r) => ({ topic: topics[kind], key: Buffer.from(r.key), value: encode(r.value) }));
        try {
          await producer.send(messages);
        } catch (e) {
          throw mapKafkaError(e, config.kafka.brokers, `sending to ${topics[kind]}`);
        }
      }
    },
    async close() {
      await producer.disconnect();
    },
  };
}

// kafkajs errors mapped onto our codes: an unreachable cluster vs a request that failed.
import { describe, expect, it } from 'vitest';
import { TagstreamError } from '../../../src/errors.ts';
import { mapKafkaError } from '../../../src/io/kafka/client.ts';

const BROKERS = ['127.0.0.1:9092', '127.0.0.1:9093'];

/** An error shaped like kafkajs's: a name, a message and `retriable`. */
function kafkajsError(name: string, message: string, extra: Record<string, unknown> = {}): Error {
  const e = new Error(message);
  e.name = name;
  return Object.assign(e, extra);
}

describe('mapKafkaError', () => {
  it('a KafkaJSConnectionError (ECONNREFUSED) is KAFKA_UNAVAILABLE, retryable, with the hint', () => {
    const cause = kafkajsError('KafkaJSConnectionError', 'Connection error: connect ECONNREFUSED', {
      retriable: true,
    });
    const e = mapKafkaError(cause, BROKERS, 'connecting the producer');
    expect(e.code).toBe('KAFKA_UNAVAILABLE');
    expect(e.retryable).toBe(true);
    expect(e.cause).toBe(cause);
    expect(e.message).toContain('127.0.0.1:9092,127.0.0.1:9093');
    expect(e.message).toContain('connecting the producer');
    expect(e.message).toContain('Connection error: connect ECONNREFUSED');
    expect(e.message).toContain('npm run stack -- up');
    expect(e.message).toContain('KAFKA_BROKERS');
  });

  it.each([
    ['KafkaJSNumberOfRetriesExceeded', 'Connection timeout'],
    ['KafkaJSNonRetriableError', 'Connection error: connect ECONNREFUSED 127.0.0.1:9092'],
    ['KafkaJSBrokerNotFound', 'No brokers available'],
  ])('%s (%s) is KAFKA_UNAVAILABLE', (name, message) => {
    expect(mapKafkaError(kafkajsError(name, message), BROKERS, 'x').code).toBe('KAFKA_UNAVAILABLE');
  });

  it('an unreachable-kind error whose message is not about connecting is KAFKA_ERROR', () => {
    const e = mapKafkaError(
      kafkajsError('KafkaJSNonRetriableError', 'Invalid record batch'),
      BROKERS,
      'producing',
    );
    expect(e.code).toBe('KAFKA_ERROR');
  });

  it('a protocol error is KAFKA_ERROR keeping retriable=true and naming the type', () => {
    const cause = kafkajsError('KafkaJSProtocolError', 'There is no leader for this topic-partition', {
      retriable: true,
      type: 'LEADER_NOT_AVAILABLE',
    });
    const e = mapKafkaError(cause, BROKERS, 'producing to rfid.scans');
    expect(e.code).toBe('KAFKA_ERROR');
    expect(e.retryable).toBe(true);
    expect(e.cause).toBe(cause);
    expect(e.message).toBe(
      'Kafka error while producing to rfid.scans: LEADER_NOT_AVAILABLE There is no leader for this topic-partition',
    );
  });

  it('keeps retriable=false, and defaults to not retryable when kafkajs does not say', () => {
    const denied = kafkajsError('KafkaJSProtocolError', 'Not authorized', {
      retriable: false,
      type: 'TOPIC_AUTHORIZATION_FAILED',
    });
    expect(mapKafkaError(denied, BROKERS, 'x').retryable).toBe(false);
    const plain = mapKafkaError(new Error('boom'), BROKERS, 'x');
    expect(plain.code).toBe('KAFKA_ERROR');
    expect(plain.retryable).toBe(false);
    expect(plain.message).toBe('Kafka error while x: Error boom');
  });

  it('returns our own errors unchanged', () => {
    const ours = new TagstreamError('SHUTDOWN_TIMEOUT', 'too slow');
    expect(mapKafkaError(ours, BROKERS, 'x')).toBe(ours);
  });

  // @confluentinc/kafka-javascript (kafka.client: confluent): librdkafka's code name in `type`, flags beside it.
  const confluentError = (name: string, type: string, message: string, extra: Record<string, unknown> = {}) =>
    kafkajsError(name, message, {
      type,
      code: -1,
      retriable: false,
      abortable: false,
      fatal: false,
      ...extra,
    });

  it('confluent: a transport failure is KAFKA_UNAVAILABLE, retryable', () => {
    const e = mapKafkaError(
      confluentError('KafkaJSConnectionError', 'ERR__TRANSPORT', 'broker transport failure'),
      BROKERS,
      'connecting the producer',
    );
    expect(e.code).toBe('KAFKA_UNAVAILABLE');
    expect(e.retryable).toBe(true);
  });

  it('confluent: an abortable transaction error and a coordinator moving are retryable KAFKA_ERRORs', () => {
    const abortable = confluentError('KafkaJSError', 'ERR__STATE', 'abortable', { abortable: true });
    expect(mapKafkaError(abortable, BROKERS, 'x')).toMatchObject({ code: 'KAFKA_ERROR', retryable: true });
    const moved = confluentError('KafkaJSProtocolError', 'ERR_NOT_COORDINATOR', 'not coordinator');
    expect(mapKafkaError(moved, BROKERS, 'x').retryable).toBe(true);
  });

  it('confluent: a fenced producer (fatal) is not retryable', () => {
    const fenced = confluentError('KafkaJSError', 'ERR__FENCED', 'fenced', { fatal: true, abortable: true });
    const e = mapKafkaError(fenced, BROKERS, 'committing');
    expect(e.code).toBe('KAFKA_ERROR');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('ERR__FENCED');
  });
});

// Kafka security failures mapped onto our codes, one test per mapping: the shapes kafkajs and librdkafka give a
// refused login, a missing ACL, a failed handshake and a client speaking the wrong protocol; the guard around every
// client createKafka builds (naming the principal and the resource); and the early failure from a client's signals.
import { describe, expect, it } from 'vitest';
import { TagstreamError } from '../../src/errors.ts';
import { mapKafkaError } from '../../src/io/kafka/client.ts';
import { securitySignal } from '../../src/io/kafka/confluent.ts';
import { guarded } from '../../src/io/kafka/guarded.ts';
import {
  classifySecurityError,
  principalOf,
  scrub,
  scrubDeep,
  securityError,
  type KafkaSecurity,
} from '../../src/io/kafka/security.ts';
import { looksLikeTls, securitySignals, TlsListenerError, withSignals } from '../../src/io/kafka/signals.ts';
import type { KafkaClient, KafkaConsumer, KafkaProducer } from '../../src/io/kafka/types.ts';

const BROKERS = ['127.0.0.1:9192'];
const PASSWORD = 's3cret-pa55word';
const SASL: KafkaSecurity = {
  protocol: 'SASL_SSL',
  sasl: { mechanism: 'SCRAM-SHA-512', username: 'reader', password: PASSWORD },
  ssl: { caFile: '/ca.pem', certFile: '', keyFile: '', keyPassword: '' },
};
const PLAIN: KafkaSecurity = { protocol: 'PLAINTEXT' };

function err(name: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(Object.assign(new Error(message), { name }), extra);
}
/** kafkajs's wrapper after its retrier gave up on a non-retriable error. */
const nonRetriable = (cause: Error) => err('KafkaJSNonRetriableError', cause.message, { cause });

describe('classifySecurityError', () => {
  it('kafkajs: a refused SCRAM login', () => {
    const e = nonRetriable(
      err('KafkaJSSASLAuthenticationError', 'SASL SCRAM SHA512 authentication failed: invalid credentials'),
    );
    expect(classifySecurityError(e)?.kind).toBe('auth');
  });

  it('kafkajs: TOPIC_AUTHORIZATION_FAILED inside its wrapper, and in a createTopics aggregate with the topic', () => {
    const denied = err('KafkaJSProtocolError', 'Not authorized to access topics', {
      type: 'TOPIC_AUTHORIZATION_FAILED',
    });
    expect(classifySecurityError(nonRetriable(denied))).toEqual({
      kind: 'denied',
      resource: 'Topic',
      type: 'TOPIC_AUTHORIZATION_FAILED',
    });
    const aggregate = err('KafkaJSAggregateError', 'Topic creation errors', {
      errors: [
        err('KafkaJSCreateTopicError', 'no', { type: 'TOPIC_AUTHORIZATION_FAILED', topic: 'rfid.scans' }),
      ],
    });
    expect(classifySecurityError(aggregate)).toMatchObject({ kind: 'denied', topics: ['rfid.scans'] });
  });

  it.each([
    ['GROUP_AUTHORIZATION_FAILED', 'Group'],
    ['CLUSTER_AUTHORIZATION_FAILED', 'Cluster'],
    ['TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'TransactionalId'],
    ['ERR_TOPIC_AUTHORIZATION_FAILED', 'Topic'],
    ['ERR_GROUP_AUTHORIZATION_FAILED', 'Group'],
  ])('%s is a refusal on a %s', (type, resource) => {
    expect(classifySecurityError(err('E', 'x', { type }))).toMatchObject({ kind: 'denied', resource });
  });

  it('librdkafka log lines: a refused login, a failed handshake, a refusal naming the topic', () => {
    expect(
      classifySecurityError({
        message:
          'sasl_ssl://127.0.0.1:9192/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials',
      })?.kind,
    ).toBe('auth');
    expect(
      classifySecurityError({ message: 'error:0A000086:SSL routines::certificate verify failed' })?.kind,
    ).toBe('tls');
    expect(
      securitySignal(
        'Subscribed topic not available: predictions.demand: Broker: Topic authorization failed',
      ),
    ).toMatchObject({ topic: 'predictions.demand' });
    expect(securitySignal('Broker: Group authorization failed')).toBeInstanceOf(Error);
    expect(securitySignal('127.0.0.1:9192/1: Disconnected (after 5ms in state UP)')).toBeUndefined();
    expect(securitySignal('Configuration property ssl.ca.location is a TLS setting')).toBeUndefined();
    expect(
      securitySignal('SSL handshake failed: error:0A000086:SSL routines::certificate verify failed'),
    ).toBeInstanceOf(Error);
  });

  it("leaves another adapter's coded error alone, even when its text or cause speaks of TLS", () => {
    const mysql = new TagstreamError(
      'MYSQL_TLS_FAILED',
      'the MariaDB server certificate is not trusted (TLS)',
      {
        cause: err('Error', 'x', { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }),
      },
    );
    expect(classifySecurityError(nonRetriable(mysql))).toBeUndefined();
    expect(classifySecurityError(mysql)).toBeUndefined();
  });

  it('Node TLS errors by code, and the two protocol mismatches', () => {
    expect(classifySecurityError(err('Error', 'x', { code: 'SELF_SIGNED_CERT_IN_CHAIN' }))?.kind).toBe('tls');
    expect(classifySecurityError(err('Error', 'x', { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }))?.kind).toBe(
      'tls',
    );
    expect(classifySecurityError(new TlsListenerError('127.0.0.1:9192'))).toMatchObject({
      kind: 'mismatch',
      needsTls: true,
    });
    expect(
      classifySecurityError(
        err('KafkaJSConnectionError', 'Connection error: ssl3_get_record:wrong version number'),
      ),
    ).toMatchObject({ kind: 'mismatch', needsTls: false });
  });

  it('anything else is not a security failure', () => {
    expect(classifySecurityError(err('KafkaJSConnectionError', 'connect ECONNREFUSED 127.0.0.1:9092'))).toBe(
      undefined,
    );
    expect(classifySecurityError(err('KafkaJSProtocolError', 'x', { type: 'LEADER_NOT_AVAILABLE' }))).toBe(
      undefined,
    );
    expect(classifySecurityError(undefined)).toBe(undefined);
  });
});

describe('securityError', () => {
  it('KAFKA_AUTH_FAILED names the user, the brokers and the keys to check, never the password', () => {
    const e = securityError(
      err('KafkaJSSASLAuthenticationError', `SASL failed for password ${PASSWORD}`),
      BROKERS,
      SASL,
    )!;
    expect(e.code).toBe('KAFKA_AUTH_FAILED');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('reader');
    expect(e.message).toContain('127.0.0.1:9192');
    expect(e.message).toContain('kafka.sasl.password');
    expect(e.message).not.toContain(PASSWORD);
  });

  it('KAFKA_NOT_AUTHORIZED names the principal, the topic, the operation and the missing ACL', () => {
    const denied = err('KafkaJSProtocolError', 'Not authorized', { type: 'TOPIC_AUTHORIZATION_FAILED' });
    const e = securityError(nonRetriable(denied), BROKERS, SASL, {
      what: 'producing to rfid.scans',
      action: 'Write',
      topics: ['rfid.scans'],
    })!;
    expect(e.code).toBe('KAFKA_NOT_AUTHORIZED');
    expect(e.message).toMatch(
      /User:reader is not authorized to Write Topic rfid\.scans at 127\.0\.0\.1:9192/,
    );
    expect(e.message).toContain('--allow-principal User:reader --operation Write --topic rfid.scans');
    expect(e.details).toMatchObject({ principal: 'User:reader', resource: 'Topic', names: ['rfid.scans'] });
  });

  it('a group refusal names the group; a transactional id refusal the id', () => {
    const group = securityError(err('E', 'x', { type: 'GROUP_AUTHORIZATION_FAILED' }), BROKERS, SASL, {
      what: 'joining',
      action: 'Read',
      group: 'producer-g',
    })!;
    expect(group.message).toContain('Read Group producer-g');
    const tx = securityError(
      err('E', 'x', { type: 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED' }),
      BROKERS,
      SASL,
      {
        what: 'beginning a transaction',
        action: 'Write',
        transactionalId: 'other-1',
      },
    )!;
    expect(tx.message).toContain('Write TransactionalId other-1');
  });

  it('KAFKA_TLS_FAILED points at kafka.ssl.caFile; KAFKA_PROTOCOL_MISMATCH at kafka.security.protocol', () => {
    const tls = securityError(err('E', 'x', { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), BROKERS, SASL)!;
    expect(tls.code).toBe('KAFKA_TLS_FAILED');
    expect(tls.message).toContain('kafka.ssl.caFile (/ca.pem)');
    const mismatch = securityError(new TlsListenerError('127.0.0.1:9192'), BROKERS, PLAIN)!;
    expect(mismatch.code).toBe('KAFKA_PROTOCOL_MISMATCH');
    expect(mismatch.retryable).toBe(false);
    expect(mismatch.message).toMatch(
      /speaks TLS, but kafka\.security\.protocol is PLAINTEXT.*SSL or SASL_SSL/,
    );
  });

  it('principalOf: the SASL user, a certificate, or ANONYMOUS', () => {
    expect(principalOf(SASL)).toBe('User:reader');
    expect(principalOf(PLAIN)).toBe('User:ANONYMOUS');
    expect(
      principalOf({
        protocol: 'SSL',
        ssl: { caFile: '', certFile: '/c.pem', keyFile: '/k.pem', keyPassword: '' },
      }),
    ).toContain('/c.pem');
  });
});

describe('mapKafkaError', () => {
  it('maps security failures too, and hints at TLS when a plaintext client saw its connection closed', () => {
    const denied = err('KafkaJSProtocolError', 'x', { type: 'TOPIC_AUTHORIZATION_FAILED' });
    expect(mapKafkaError(denied, BROKERS, 'producing').code).toBe('KAFKA_NOT_AUTHORIZED');
    const closed = err('KafkaJSNumberOfRetriesExceeded', 'Closed connection');
    const e = mapKafkaError(closed, BROKERS, 'connecting', PLAIN);
    expect(e.code).toBe('KAFKA_UNAVAILABLE');
    expect(e.message).toContain('set kafka.security.protocol to SSL or SASL_SSL');
    expect(mapKafkaError(closed, BROKERS, 'connecting', SASL).message).not.toContain('SSL or SASL_SSL');
  });
});

describe('scrub', () => {
  it('replaces every secret in text and in nested log details', () => {
    expect(scrub(`a ${PASSWORD} b ${PASSWORD}`, [PASSWORD])).toBe('a *** b ***');
    expect(scrubDeep({ a: [`x${PASSWORD}`], b: { c: PASSWORD, n: 1 } }, [PASSWORD])).toEqual({
      a: ['x***'],
      b: { c: '***', n: 1 },
    });
    expect(scrub('abc', ['ab'])).toBe('abc'); // too short to hide without hiding words
  });
});

describe('signals', () => {
  it('looksLikeTls: a TLS alert or handshake record, never a Kafka response size', () => {
    expect(looksLikeTls(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02]))).toBe(true);
    expect(looksLikeTls(Buffer.from([0x16, 0x03, 0x01]))).toBe(true);
    expect(looksLikeTls(Buffer.from([0x00, 0x00, 0x01, 0x20]))).toBe(false);
  });
});

/** A client whose producer's connect hangs, send fails with `sendError`, and consumer can crash on demand. */
function fakeClient(sendError: unknown) {
  const signals = securitySignals();
  const crashes: Array<(e: Error, restarting: boolean) => void> = [];
  const producer: KafkaProducer = {
    connect: () => new Promise(() => undefined),
    send: () => Promise.reject(sendError),
    transaction: () => Promise.reject(new Error('no')),
    initTransactions: () => Promise.reject(new Error('no')),
    disconnect: async () => undefined,
  };
  const consumer = {
    connect: async () => undefined,
    subscribe: async () => undefined,
    run: async () => undefined,
    onCrash: (l: (e: Error, restarting: boolean) => void) => void crashes.push(l),
    disconnect: async () => undefined,
  } as unknown as KafkaConsumer;
  const client = withSignals<KafkaClient>(
    {
      implementation: 'fake',
      brokers: BROKERS,
      producer: () => producer,
      consumer: () => consumer,
      admin: () => {
        throw new Error('no admin');
      },
    },
    signals,
  );
  return { client, signals, crashes };
}

describe('guarded', () => {
  it('a refused send becomes KAFKA_NOT_AUTHORIZED naming the topic it was about', async () => {
    const { client } = fakeClient(
      nonRetriable(err('KafkaJSProtocolError', 'Not authorized', { type: 'TOPIC_AUTHORIZATION_FAILED' })),
    );
    const p = guarded(client, SASL).producer();
    const e = (await p
      .send([{ topic: 'rfid.scans', key: 'k', value: null }])
      .catch((x: unknown) => x)) as TagstreamError;
    expect(e).toBeInstanceOf(TagstreamError);
    expect(e.code).toBe('KAFKA_NOT_AUTHORIZED');
    expect(e.message).toContain('Write Topic rfid.scans');
  });

  it('other errors pass unchanged (their retriable flag is read by retries), marked for the hints', async () => {
    const original = err('KafkaJSProtocolError', 'no leader', {
      type: 'LEADER_NOT_AVAILABLE',
      retriable: true,
    });
    const { client } = fakeClient(original);
    const e = await guarded(client, PLAIN)
      .producer()
      .send([{ topic: 't', key: null, value: null }])
      .catch((x: unknown) => x);
    expect(e).toBe(original);
  });

  it('a signal fails a call in progress at once (a connect that would wait for its timeout)', async () => {
    const { client, signals } = fakeClient(new Error('unused'));
    const connecting = guarded(client, PLAIN)
      .producer()
      .connect()
      .catch((x: unknown) => x);
    signals.emit(new TlsListenerError('127.0.0.1:9192'));
    const e = (await connecting) as TagstreamError;
    expect(e.code).toBe('KAFKA_PROTOCOL_MISMATCH');
  });

  it('a refusal signal naming a subscribed topic crashes the consumer, once, not restarting', async () => {
    const { client, signals, crashes } = fakeClient(new Error('unused'));
    const consumer = guarded(client, SASL).consumer({ groupId: 'producer-g' });
    const seen: Array<[TagstreamError, boolean]> = [];
    consumer.onCrash((e, restarting) => seen.push([e as TagstreamError, restarting]));
    await consumer.subscribe(['predictions.demand']);
    signals.emit(
      securitySignal('Subscribed topic not available: other.topic: Broker: Topic authorization failed')!,
    );
    expect(seen).toEqual([]);
    signals.emit(
      securitySignal(
        'Subscribed topic not available: predictions.demand: Broker: Topic authorization failed',
      )!,
    );
    // The library reporting the same refusal afterwards is not a second crash.
    crashes[0]!(err('E', 'x', { type: 'TOPIC_AUTHORIZATION_FAILED' }), false);
    expect(seen).toHaveLength(1);
    expect(seen[0]![0].code).toBe('KAFKA_NOT_AUTHORIZED');
    expect(seen[0]![0].message).toContain('Read Topic predictions.demand');
    expect(seen[0]![1]).toBe(false);
  });
});

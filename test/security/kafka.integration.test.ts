// Kafka over SASL_SSL + SCRAM with ACLs, through our adapter, on the secure local Kafka (`npm run stack -- up
// --secure`; started here through the same stack code when it is not up, and stopped again after). For each client
// (kafkajs, confluent): the pipeline's principal creates a topic, produces, consumes and commits a transaction; logs in
// with SCRAM-SHA-256 and with a client certificate (mTLS, encrypted key); and the refusals, each a clear coded error
// with nothing written or read: a wrong password, `reader` producing to rfid.scans, `producer` reading
// predictions.demand, a plaintext client at the SASL_SSL listener. A rotated password: the old one refused, the new
// one taken from its file. No password reaches a log line or an error.
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refusal } from './secure-stack.ts';
import { loadConfig, parseConfig } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import {
  SECURE_PORTS,
  rotatePassword,
  secureBrokers,
  secureKafkaService,
  securePaths,
  type SecurePaths,
} from '../../src/dev/stack/secure.ts';
import { stackPaths, type StackService } from '../../src/dev/stack/services.ts';
import type { TagstreamError } from '../../src/errors.ts';
import {
  createKafka,
  ensureTopics,
  type ConsumedRecord,
  type KafkaAdmin,
  type KafkaClient,
} from '../../src/io/kafka/client.ts';
import { CONFLUENT_INSTALL_HINT, loadConfluent } from '../../src/io/kafka/confluent.ts';

const CLIENTS = ['kafkajs', 'confluent'] as const;
type Client = (typeof CLIENTS)[number];
const WRONG_PASSWORD = 'wrong-Passw0rd-for-the-test';

/** Every line any client of this file logs (debug and up), and every error it saw: searched for secrets at the end. */
const lines: string[] = [];
const errors: unknown[] = [];
const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });

let service: StackService;
let started = false;
let sp: SecurePaths;

beforeAll(async () => {
  const config = loadConfig();
  const paths = stackPaths(config);
  sp = securePaths(paths.stackDir);
  service = secureKafkaService(config, paths);
  const t0 = Date.now();
  // `up` is a no-op (but for the ACLs) when it runs; otherwise it makes the certificates and users and starts it.
  started = await service.up((l) => lines.push(l));
  console.log(`secure Kafka ${started ? 'started' : 'already up'} in ${Date.now() - t0} ms`);
}, 170_000);

afterAll(async () => {
  if (started) await service.down(() => undefined);
});

/** The config of a principal of the secure stack, its password read from its file as in production. */
function principal(client: Client, user: string, kafka: Record<string, unknown> = {}): Config {
  return parseConfig({
    kafka: {
      brokers: secureBrokers(),
      client,
      connectTimeoutMs: 10_000,
      security: { protocol: 'SASL_SSL' },
      sasl: { mechanism: 'SCRAM-SHA-512', username: user, passwordFile: sp.passwordFile(user as 'admin') },
      ssl: { caFile: sp.caFile },
      ...kafka,
    },
  });
}

const rejection = (p: Promise<unknown>): Promise<TagstreamError> => refusal(p, errors);

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each(CLIENTS)('secure Kafka through the adapter: %s', (client) => {
  const id = randomUUID().slice(0, 8);
  const topic = `tagstream.security-${id}`;
  let pipeline: KafkaClient;
  let admin: KafkaAdmin;
  let superAdmin: KafkaAdmin;

  /** Log end offsets of a topic, summed: "nothing written" means this did not move. */
  const written = async (t: string): Promise<bigint> =>
    (await admin.topicOffsets(t)).reduce((sum, p) => sum + BigInt(p.high), 0n);

  /** Reads `t` from the beginning in `groupId` until `count` records (read_committed). */
  async function read(
    kafka: KafkaClient,
    t: string,
    groupId: string,
    count: number,
  ): Promise<ConsumedRecord[]> {
    const consumer = kafka.consumer({ groupId, readCommitted: true });
    const records: ConsumedRecord[] = [];
    try {
      await consumer.connect();
      await consumer.subscribe([t], { fromBeginning: true });
      await consumer.run({ eachBatch: async (b) => void records.push(...b.records) });
      await until(`${count} records of ${t}`, () => records.length >= count);
      return records;
    } finally {
      await consumer.disconnect();
    }
  }

  beforeAll(async () => {
    if (client === 'confluent' && !loadConfluent())
      throw new Error(
        `kafka.client confluent: @confluentinc/kafka-javascript is not installed: ${CONFLUENT_INSTALL_HINT}`,
      );
    const config = principal(client, 'tagstream');
    pipeline = createKafka(config, log, 'security-test');
    admin = pipeline.admin();
    await admin.connect();
    // The pipeline's principal may create its topics (a prefixed Create ACL); the sources exist for the refusals.
    await ensureTopics(admin, [topic, 'rfid.scans', 'pos.transactions', 'predictions.demand'], config, {
      partitions: 1,
    });
    superAdmin = createKafka(principal(client, 'admin'), log, 'security-test-admin').admin();
    await superAdmin.connect();
  });

  afterAll(async () => {
    await admin?.disconnect();
    // The pipeline's principal may not delete topics: the super user cleans up.
    await superAdmin?.deleteTopics([topic]).catch(() => undefined);
    await superAdmin?.disconnect();
  });

  it('the pipeline principal over SASL_SSL + SCRAM-SHA-512: produces, consumes, commits a transaction', async () => {
    const producer = pipeline.producer();
    await producer.connect();
    await producer.send([{ topic, key: 'plain', value: Buffer.from('one') }]);
    await producer.disconnect();

    const tx = pipeline.producer({ transactionalId: `tagstream-security-${id}` });
    await tx.connect();
    const t = await tx.transaction();
    await t.send([{ topic, key: 'tx', value: Buffer.from('two') }]);
    await t.commit();
    await tx.disconnect();

    const records = await read(pipeline, topic, `tagstream-security-${id}`, 2);
    expect(records.map((r) => `${r.key?.toString()}=${r.value?.toString()}`)).toEqual([
      'plain=one',
      'tx=two',
    ]);
  });

  it('logs in with SCRAM-SHA-256, and with a client certificate (mTLS listener, encrypted key from a file)', async () => {
    const sha256 = createKafka(
      principal(client, 'tagstream', {
        sasl: {
          mechanism: 'SCRAM-SHA-256',
          username: 'tagstream',
          passwordFile: sp.passwordFile('tagstream'),
        },
      }),
      log,
    ).producer();
    await sha256.connect();
    await sha256.send([{ topic, key: 'sha256', value: null }]);
    await sha256.disconnect();
    const mtls = createKafka(
      parseConfig({
        kafka: {
          brokers: [`127.0.0.1:${SECURE_PORTS.mtls}`],
          client,
          security: { protocol: 'SSL' },
          ssl: {
            caFile: sp.caFile,
            certFile: sp.clientCert,
            keyFile: sp.clientKey,
            keyPasswordFile: sp.clientKeyPasswordFile,
          },
        },
      }),
      log,
    ).producer();
    await mtls.connect();
    await mtls.send([{ topic, key: 'mtls', value: null }]);
    await mtls.disconnect();
  });

  it('a wrong password: KAFKA_AUTH_FAILED naming the user and the keys to check; nothing written', async () => {
    const before = await written('rfid.scans');
    const wrong = createKafka(
      principal(client, 'tagstream', { sasl: { username: 'tagstream', password: WRONG_PASSWORD } }),
      log,
    ).producer();
    const e = await rejection(
      (async () => {
        await wrong.connect();
        await wrong.send([{ topic: 'rfid.scans', key: 'x', value: Buffer.from('x') }]);
      })(),
    );
    await wrong.disconnect().catch(() => undefined);
    expect(e.code).toBe('KAFKA_AUTH_FAILED');
    expect(e.message).toContain('refused the login of tagstream');
    expect(e.message).toContain('kafka.sasl.password');
    expect(await written('rfid.scans')).toBe(before);
  });

  it('reader producing to rfid.scans: KAFKA_NOT_AUTHORIZED naming the principal, the topic and the ACL; nothing written', async () => {
    const before = await written('rfid.scans');
    const producer = createKafka(principal(client, 'reader'), log).producer();
    const e = await rejection(
      (async () => {
        await producer.connect();
        await producer.send([{ topic: 'rfid.scans', key: 'x', value: Buffer.from('x') }]);
      })(),
    );
    await producer.disconnect().catch(() => undefined);
    expect(e.code).toBe('KAFKA_NOT_AUTHORIZED');
    expect(e.message).toContain('User:reader is not authorized to Write Topic rfid.scans');
    expect(await written('rfid.scans')).toBe(before);
  });

  it('producer reading predictions.demand: KAFKA_NOT_AUTHORIZED, nothing read; reader may read it', async () => {
    const p = pipeline.producer();
    await p.connect();
    await p.send([{ topic: 'predictions.demand', key: id, value: Buffer.from('forecast') }]);
    await p.disconnect();

    const consumer = createKafka(principal(client, 'producer'), log).consumer({ groupId: `producer-${id}` });
    const got: ConsumedRecord[] = [];
    const crashed = new Promise<Error>((resolve) => consumer.onCrash((err) => resolve(err)));
    const e = await rejection(
      (async () => {
        await consumer.connect();
        await consumer.subscribe(['predictions.demand'], { fromBeginning: true });
        await consumer.run({ eachBatch: async (b) => void got.push(...b.records) });
        throw await Promise.race([
          crashed,
          new Promise<Error>((resolve) => setTimeout(() => resolve(new Error('no refusal in 30 s')), 30_000)),
        ]);
      })(),
    );
    await consumer.disconnect().catch(() => undefined);
    expect(e.code).toBe('KAFKA_NOT_AUTHORIZED');
    expect(e.message).toMatch(
      /User:producer is not authorized to (Read|Describe) (Topic predictions\.demand|Group producer-)/,
    );
    expect(got).toEqual([]);

    const reader = createKafka(principal(client, 'reader'), log);
    const records = await read(reader, 'predictions.demand', `reader-${id}`, 1);
    expect(records.some((r) => r.key?.toString() === id)).toBe(true);
  });

  it('a plaintext client at the SASL_SSL listener fails fast with KAFKA_PROTOCOL_MISMATCH', async () => {
    const plain = createKafka(
      parseConfig({ kafka: { brokers: secureBrokers(), client, connectTimeoutMs: 10_000 } }),
      log,
    ).admin();
    const t0 = Date.now();
    const e = await rejection(
      (async () => {
        await plain.connect();
        await plain.listTopics();
      })(),
    );
    await plain.disconnect().catch(() => undefined);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(e.code).toBe('KAFKA_PROTOCOL_MISMATCH');
    expect(e.message).toContain('set it (KAFKA_SECURITY_PROTOCOL) to SSL or SASL_SSL');
  });
});

const rotated: string[] = [];

describe('rotating a SCRAM password', () => {
  it('`stack rotate reader`: the old password is refused, the new one (from the file) logs in', async () => {
    const old = readFileSync(sp.passwordFile('reader'), 'utf8').trim();
    rotated.push(old);
    const config = loadConfig();
    rotatePassword(config, stackPaths(config), 'reader', (l) => lines.push(l));
    const withOld = createKafka(
      principal('kafkajs', 'reader', { sasl: { username: 'reader', password: old } }),
      log,
    ).admin();
    const e = await rejection(withOld.connect());
    await withOld.disconnect().catch(() => undefined);
    expect(e.code).toBe('KAFKA_AUTH_FAILED');
    const withNew = createKafka(principal('kafkajs', 'reader'), log).admin();
    await withNew.connect();
    expect(await withNew.listTopics()).toContain('predictions.demand');
    await withNew.disconnect();
  });
});

describe('secrets', () => {
  it('no password appears in any captured log line or error of the runs above', () => {
    const secrets = [
      ...rotated,
      ...readdirSync(sp.secretsDir)
        .filter((f) => f.endsWith('.password') || f.endsWith('.key-password'))
        .map((f) => readFileSync(join(sp.secretsDir, f), 'utf8').trim()),
      WRONG_PASSWORD,
    ];
    expect(secrets.length).toBeGreaterThanOrEqual(7);
    expect(lines.length).toBeGreaterThan(0);
    expect(errors.length).toBeGreaterThanOrEqual(CLIENTS.length * 4);
    const texts = [
      ...lines,
      ...errors.flatMap((e) => {
        const t = e as TagstreamError;
        const cause = t.cause as Error | undefined;
        return [t.message, JSON.stringify(t.details), cause?.message ?? '', String(t.stack)];
      }),
    ];
    for (const secret of secrets) expect(texts.filter((t) => t.includes(secret))).toEqual([]);
  });
});

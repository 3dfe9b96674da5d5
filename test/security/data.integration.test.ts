// Redis and MariaDB of the secure local stack (`npm run stack -- up --secure`; started here through the same stack
// code when they are not up, and stopped again after): TLS only, the ACL users and least-privilege MariaDB users at
// work through our adapters (the feature store, the prediction cache, the model registry), and the refusals, each a
// clear coded error with nothing written: Redis without credentials, with a wrong password, over plaintext, without
// the CA, outside its keys or commands; MariaDB without TLS, with a wrong password, without the CA, the api user
// writing, the pipeline user writing the model registry or migrating. A sink node of the running job refused by
// MariaDB (the history sink as the api user, on the plain broker) stops its consumer within seconds with
// MYSQL_NOT_AUTHORIZED and commits nothing. `stack rotate redis api` and `rotate mariadb api`: the old password
// refused, the new one (from its file) logs in. No password reaches a log line or an error.
import { createHash, randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.ts';
import { cleanTopic, dlqTopic } from '../../config/topics.ts';
import { historyTopology } from '../../src/app/history-sink.ts';
import { runTopology } from '../../src/app/pipeline.ts';
import {
  SECURE_DATA_PORTS,
  rotateMariadbPassword,
  rotateRedisPassword,
} from '../../src/dev/stack/secure-data.ts';
import { stackPaths } from '../../src/dev/stack/services.ts';
import type { TagstreamError } from '../../src/errors.ts';
import { createKafka } from '../../src/io/kafka/client.ts';
import { MIGRATIONS_DIR, migrate } from '../../src/io/mysql/migrate.ts';
import { createSql, type Sql } from '../../src/io/mysql/pool.ts';
import { createUsers, DB_USERS } from '../../src/io/mysql/users.ts';
import { command, createRedisClient, type RedisClient } from '../../src/io/redis/client.ts';
import { AvroSerde, confluentRegistry } from '../../src/io/registry/registry.ts';
import { createMetricsRegistry } from '../../src/metrics/prometheus.ts';
import { exportOnnx } from '../../src/ml/onnx/export.ts';
import type { ModelSpec } from '../../src/ml/model-spec.ts';
import { createModelRegistry } from '../../src/ml/registry/registry.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import type { FeatureVector, Prediction, RfidScan } from '../../src/schemas/types.ts';
import { createPredictionCache } from '../../src/serving/prediction-cache.ts';
import { createFeatureStore } from '../../src/store/feature-store.ts';
import {
  rootUrl,
  secureConfig,
  stackSecrets,
  upSecure,
  type Paths,
  type SecureStack,
  refusal,
} from './secure-stack.ts';
import { requireStack, testConfig, testKafka } from '../helpers/stack.ts';

const ID = randomUUID().slice(0, 8);
const DATABASE = `tagstream_sec_${ID}`;
const PREFIX = `ts:sec-${ID}:`;
const WRONG_PASSWORD = 'wrong-Passw0rd-for-the-data-test';

/** Every line the stack logged, and every error this file saw: searched for secrets at the end. */
const lines: string[] = [];
const errors: unknown[] = [];

let stack: SecureStack;
let paths: Paths;
let root: Sql;
let admin: RedisClient;
const t0 = Date.now();

beforeAll(async () => {
  stack = await upSecure(['redis', 'mariadb'], (l) => lines.push(l));
  paths = stack.paths;
  console.log(
    `secure Redis and MariaDB: ${stack.started.length ? `started ${stack.started.join(', ')}` : 'already up'} (${JSON.stringify(stack.timings)} ms)`,
  );
  // A database of this file's own, migrated by root, the users granted on it as `up` does for `tagstream`.
  await migrate(rootUrl(paths, DATABASE));
  await createUsers(
    rootUrl(paths, DATABASE),
    DATABASE,
    Object.fromEntries(DB_USERS.map((u) => [u, readFileSync(paths.mariadbPasswordFile(u), 'utf8').trim()])),
  );
  root = createSql(rootUrl(paths, DATABASE), { connectionLimit: 1 });
  admin = createRedisClient(secureConfig(paths, { redis: 'admin' }).redis.url);
}, 120_000);

afterAll(async () => {
  await root?.execute(`DROP DATABASE IF EXISTS \`${DATABASE}\``).catch(() => undefined);
  await root?.end();
  if (admin) {
    const [[, keys]] = (await admin.pipeline([
      command('scan', 0, 'MATCH', `${PREFIX}*`, 'COUNT', 10_000),
    ])) as [[string, string[]]];
    if (keys.length) await admin.pipeline([command('del', ...keys)]);
    await admin.close();
  }
  await stack?.stop();
  console.log(`data.integration: ${Date.now() - t0} ms`);
});

const rejection = (p: Promise<unknown>): Promise<TagstreamError> => refusal(p, errors);

const vector = (entity: string, value: number): FeatureVector => ({
  entity_id: entity,
  entity_type: 'item',
  feature_name: 'quality_grade',
  feature_value: value,
  feature_type: 'numeric',
  timestamp: Date.UTC(2026, 0, 1),
  window: null,
  window_start: null,
  window_end: null,
  confidence: 1,
  source: 'security-test',
});

async function redisKeys(): Promise<string[]> {
  const [[, keys]] = (await admin.pipeline([command('scan', 0, 'MATCH', `${PREFIX}*`, 'COUNT', 10_000)])) as [
    [string, string[]],
  ];
  return keys.sort();
}

const rows = async (table: string): Promise<number> =>
  (await root.query<{ n: number }>(`SELECT COUNT(*) AS n FROM \`${table}\``))[0]!.n;

describe('secure Redis: TLS only, ACL users', () => {
  it('the pipeline user writes and reads the feature store over TLS (MariaDB as the pipeline user too)', async () => {
    const c = secureConfig(paths, { redis: 'tagstream', mysql: 'tagstream', database: DATABASE });
    const store = createFeatureStore({ mysqlUrl: c.mysql.url, redisUrl: c.redis.url, prefix: PREFIX });
    try {
      await store.write([vector('TAG-1', 4)]);
      const m = await store.getFeatures('TAG-1', [{ name: 'quality_grade' }]);
      expect(JSON.stringify(m)).toContain('4');
    } finally {
      await store.close();
    }
    expect(await redisKeys()).toEqual([`${PREFIX}feat:TAG-1`]);
    expect(await rows('ml_feature_store')).toBe(1);
  });

  it('the api user reads the prediction cache and may not write it: REDIS_NOT_AUTHORIZED, nothing written', async () => {
    const prediction: Prediction = {
      service: 'maintenance',
      entity_id: 'TAG-1',
      entity_type: 'item',
      prediction: 0.25,
      lower: null,
      upper: null,
      horizon: null,
      model_versions: ['v1'],
      feature_snapshot_at: Date.UTC(2026, 0, 1),
      inference_latency_us: 10,
      predicted_at: Date.UTC(2026, 0, 1),
      event_time: Date.UTC(2026, 0, 1),
      details: null,
    };
    const writer = createPredictionCache({
      redisUrl: secureConfig(paths, { redis: 'tagstream' }).redis.url,
      prefix: PREFIX,
    });
    expect(await writer.write([prediction])).toBe(1);
    await writer.close();
    const reader = createPredictionCache({
      redisUrl: secureConfig(paths, { redis: 'api' }).redis.url,
      prefix: PREFIX,
    });
    try {
      expect((await reader.latest('maintenance', 'TAG-1'))?.prediction).toBe(0.25);
      const before = await redisKeys();
      const e = await rejection(reader.write([{ ...prediction, entity_id: 'TAG-2' }]));
      expect(e.code).toBe('REDIS_NOT_AUTHORIZED');
      expect(e.message).toContain('user api may not');
      expect(await redisKeys()).toEqual(before);
    } finally {
      await reader.close();
    }
  });

  it('without credentials: REDIS_AUTH_FAILED (NOAUTH), nothing written', async () => {
    const url = secureConfig(paths, { redis: 'tagstream' }).redis.url.replace(/\/\/[^@]*@/, '//');
    const client = createRedisClient(url, { maxRetriesPerRequest: 0 });
    const e = await rejection(client.pipeline([command('set', `${PREFIX}anonymous`, '1')]));
    await client.close();
    expect(e.code).toBe('REDIS_AUTH_FAILED');
    expect(e.message).toContain('NOAUTH');
    expect(await redisKeys()).not.toContain(`${PREFIX}anonymous`);
  });

  it('a wrong password: REDIS_AUTH_FAILED naming the user, nothing written', async () => {
    const c = secureConfig(paths, { redis: 'tagstream' });
    const url = c.redis.url.replace(/\/\/tagstream:[^@]*@/, `//tagstream:${WRONG_PASSWORD}@`);
    const client = createRedisClient(url, { maxRetriesPerRequest: 0 });
    const e = await rejection(client.pipeline([command('set', `${PREFIX}wrong`, '1')]));
    await client.close();
    expect(e.code).toBe('REDIS_AUTH_FAILED');
    expect(e.message).toContain('refused the login of user tagstream');
    expect(await redisKeys()).not.toContain(`${PREFIX}wrong`);
  });

  it('a plaintext client at the TLS port: REDIS_TLS_FAILED at once, saying rediss://', async () => {
    const client = createRedisClient(`redis://127.0.0.1:${SECURE_DATA_PORTS.redis}`, {
      maxRetriesPerRequest: 0,
    });
    const started = Date.now();
    const e = await rejection(client.pipeline([command('ping')]));
    await client.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(e.code).toBe('REDIS_TLS_FAILED');
    expect(e.message).toContain('use a rediss:// URL');
  });

  it("without the stack's CA: REDIS_TLS_FAILED naming redis.tls.caFile", async () => {
    const url = secureConfig(paths, { redis: 'tagstream' }).redis.url.replace(/\?tls-ca=.*$/, '');
    const client = createRedisClient(url, { maxRetriesPerRequest: 0 });
    const e = await rejection(client.pipeline([command('ping')]));
    await client.close();
    expect(e.code).toBe('REDIS_TLS_FAILED');
    expect(e.message).toContain('redis.tls.caFile');
  });

  it('the pipeline user outside its key prefix or commands: REDIS_NOT_AUTHORIZED, nothing written', async () => {
    const client = createRedisClient(secureConfig(paths, { redis: 'tagstream' }).redis.url);
    try {
      const keys = await rejection(client.pipeline([command('set', `other-${ID}`, '1')]));
      expect(keys.code).toBe('REDIS_NOT_AUTHORIZED');
      expect(keys.message).toContain(`user tagstream may not set the keys other-${ID}`);
      const flush = await rejection(client.pipeline([command('flushall')]));
      expect(flush.code).toBe('REDIS_NOT_AUTHORIZED');
      expect(flush.message).toContain('+flushall');
    } finally {
      await client.close();
    }
    const [exists] = await admin.pipeline([command('exists', `other-${ID}`)]);
    expect(exists).toBe(0);
    expect(await redisKeys()).toContain(`${PREFIX}feat:TAG-1`);
  });
});

describe('secure MariaDB: TLS required, least-privilege users', () => {
  /** A constant model (each intercept its own ONNX bytes, so its own version): what is stored is what matters. */
  const constant = (p: number) => {
    const spec: ModelSpec = {
      service: 'maintenance',
      algorithm: 'linear',
      preprocessing: {
        numeric: ['prior_rentals'],
        impute: [0],
        categorical: [],
        categories: [],
        offset: [0],
        scale: [1],
      },
      estimator: { kind: 'linear-regressor', coefficients: [0], intercept: p },
    };
    return {
      service: 'maintenance',
      algorithm: 'linear',
      spec,
      onnx: exportOnnx(spec),
      metrics: { log_loss: 0.5 },
    };
  };
  const input = constant(0.2);

  it('the trainer registers and promotes a model; the pipeline and api users read it', async () => {
    const trainer = createSql(secureConfig(paths, { mysql: 'trainer', database: DATABASE }).mysql.url);
    const { version } = await createModelRegistry(trainer).register(input);
    await createModelRegistry(trainer).promote('maintenance', version);
    await trainer.end();
    for (const user of ['tagstream', 'api'] as const) {
      const sql = createSql(secureConfig(paths, { mysql: user, database: DATABASE }).mysql.url);
      expect((await createModelRegistry(sql).production('maintenance'))?.version).toBe(version);
      await sql.end();
    }
  });

  it('the api user writing: MYSQL_NOT_AUTHORIZED naming the user, the table and the grant; nothing written', async () => {
    const before = await rows('ml_models');
    const api = createSql(secureConfig(paths, { mysql: 'api', database: DATABASE }).mysql.url);
    const e = await rejection(createModelRegistry(api).register(constant(0.4)));
    await api.end();
    expect(e.code).toBe('MYSQL_NOT_AUTHORIZED');
    expect(e.message).toContain(`user api may not INSERT on ${DATABASE}.ml_models`);
    expect(e.message).toContain(`GRANT INSERT ON \`${DATABASE}\`.\`ml_models\` TO 'api'@'%'`);
    expect(await rows('ml_models')).toBe(before);
  });

  it("the api user as the feature store's sink: MYSQL_NOT_AUTHORIZED; nothing written to either store", async () => {
    const before = await rows('ml_feature_store');
    const c = secureConfig(paths, { redis: 'api', mysql: 'api', database: DATABASE });
    const store = createFeatureStore({ mysqlUrl: c.mysql.url, redisUrl: c.redis.url, prefix: PREFIX });
    const keys = await redisKeys();
    try {
      const e = await rejection(store.write([vector('TAG-API', 2)]));
      expect(['MYSQL_NOT_AUTHORIZED', 'REDIS_NOT_AUTHORIZED']).toContain(e.code);
      expect(e.message).toMatch(/user api may not/);
    } finally {
      await store.close();
    }
    expect(await rows('ml_feature_store')).toBe(before);
    expect(await redisKeys()).toEqual(keys);
  });

  it('the pipeline user writing the model registry: MYSQL_NOT_AUTHORIZED; nothing written', async () => {
    const before = await rows('ml_models');
    const sql = createSql(secureConfig(paths, { mysql: 'tagstream', database: DATABASE }).mysql.url);
    const e = await rejection(createModelRegistry(sql).register(constant(0.3)));
    await sql.end();
    expect(e.code).toBe('MYSQL_NOT_AUTHORIZED');
    expect(e.message).toContain('user tagstream may not INSERT');
    expect(await rows('ml_models')).toBe(before);
  });

  it('without TLS: MYSQL_AUTH_FAILED saying the server may require TLS; nothing written', async () => {
    const before = await rows('ml_feature_store');
    const url = secureConfig(paths, { mysql: 'tagstream', database: DATABASE }).mysql.url.replace(
      /\?.*$/,
      '',
    );
    const plain = createSql(url);
    const e = await rejection(
      plain.execute("INSERT INTO ml_feature_store (target_entity) VALUES ('plaintext')"),
    );
    await plain.end();
    expect(e.code).toBe('MYSQL_AUTH_FAILED');
    expect(e.message).toContain('refused the login of user tagstream over an unencrypted connection');
    expect(e.message).toContain('mysql.ssl.mode VERIFY_IDENTITY');
    expect(await rows('ml_feature_store')).toBe(before);
  });

  it('a wrong password over TLS: MYSQL_AUTH_FAILED naming the user', async () => {
    const url = secureConfig(paths, { mysql: 'tagstream', database: DATABASE }).mysql.url.replace(
      /\/\/tagstream:[^@]*@/,
      `//tagstream:${WRONG_PASSWORD}@`,
    );
    const sql = createSql(url);
    const e = await rejection(sql.query('SELECT 1'));
    await sql.end();
    expect(e.code).toBe('MYSQL_AUTH_FAILED');
    expect(e.message).toContain('refused the login of user tagstream: check');
  });

  it("without the stack's CA: MYSQL_TLS_FAILED naming mysql.ssl.caFile", async () => {
    const url = secureConfig(paths, { mysql: 'tagstream', database: DATABASE }).mysql.url.replace(
      /&ssl-ca=.*$/,
      '',
    );
    const sql = createSql(url);
    const e = await rejection(sql.query('SELECT 1'));
    await sql.end();
    expect(e.code).toBe('MYSQL_TLS_FAILED');
    expect(e.message).toContain('mysql.ssl.caFile');
  });

  it('the pipeline user starts on a migrated database, and cannot apply a new migration (only root migrates)', async () => {
    const url = secureConfig(paths, { mysql: 'tagstream', database: DATABASE }).mysql.url;
    expect(await migrate(url)).toEqual([]);
    const dir = mkdtempSync(join(tmpdir(), 'tagstream-migrations-'));
    try {
      for (const f of readdirSync(MIGRATIONS_DIR)) copyFileSync(join(MIGRATIONS_DIR, f), join(dir, f));
      writeFileSync(
        join(dir, '999_extra.sql'),
        'CREATE TABLE IF NOT EXISTS security_extra (id INT PRIMARY KEY);\n',
      );
      const e = await rejection(migrate(url, dir));
      expect(e.code).toBe('MYSQL_NOT_AUTHORIZED');
      expect(e.message).toContain('999_extra.sql cannot be applied');
      expect(e.message).toContain('Migrations need a user that may create and alter the tables');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(await root.query("SHOW TABLES LIKE 'security_extra'")).toEqual([]);
  });
});

describe('a sink node of the running job refused by MariaDB', () => {
  it('the history sink as the api user: its consumer stops within seconds with MYSQL_NOT_AUTHORIZED, nothing committed', async () => {
    // The plain broker and registry; MariaDB the secure one, as the read-only api user.
    const url = secureConfig(paths, { mysql: 'api', database: DATABASE }).mysql.url;
    const config = testConfig({ mysql: { url } });
    await requireStack(config);
    const topic = cleanTopic(config.topics, config.topics.scans);
    const groupId = `${config.pipeline.groupId}-history`;
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
    const kafka = testKafka(config);
    const kadmin = kafka.admin();
    await kadmin.connect();
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const api = createSql(url);
    const before = await rows('id_transactions');
    try {
      const runner = await runTopology(
        config,
        historyTopology(config, api),
        { kafka: createKafka(config, log), serde, log, metrics: createMetricsRegistry() },
        groupId,
      );
      try {
        const encode = await serde.encoderFor<RfidScan>(topic, loadSchema('rfidScan'));
        const scan: RfidScan = {
          tag_id: `TAG-${ID}`,
          rental_class_num: 'TENT-40x60',
          scan_type: 'out',
          scan_date: Date.UTC(2026, 0, 1),
          reader_id: 'R-dock',
          store_id: 'S1',
          quality_grade: 4,
          notes: null,
        };
        await producer.send({ topic, acks: -1, messages: [{ key: scan.tag_id, value: encode(scan) }] });
        const sent = Date.now();
        const failure = await Promise.race([
          runner.failure,
          new Promise<Error>((_, reject) =>
            setTimeout(() => reject(new Error('the runner did not stop within 30 s')), 30_000),
          ),
        ]);
        const seconds = (Date.now() - sent) / 1000;
        errors.push(failure);
        console.log(
          `history sink as the api user: stopped ${seconds.toFixed(1)} s after the record was sent`,
        );
        // The record reaches the consumer once the group has joined (a few seconds); then the refusal is at once.
        expect(seconds).toBeLessThan(15);
        const e = failure as TagstreamError;
        expect(e.code).toBe('MYSQL_NOT_AUTHORIZED');
        expect(e.message).toMatch(/user api may not (INSERT|SELECT|UPDATE|DELETE)/);
        expect(
          lines.some((l) => l.includes('MYSQL_NOT_AUTHORIZED') && l.includes('the consumer stops')),
        ).toBe(true);
        await runner.stop();
      } finally {
        await runner.stop().catch(() => undefined);
      }
      // Nothing committed: no offset for the group, no row.
      const [committed] = await kadmin.fetchOffsets({ groupId, topics: [topic] });
      expect(committed?.partitions.every((p) => p.offset === '-1')).toBe(true);
      expect(await rows('id_transactions')).toBe(before);
    } finally {
      await api.end();
      await producer.disconnect();
      await kadmin.deleteTopics({ topics: [topic, dlqTopic(config.topics, topic)] }).catch(() => undefined);
      await kadmin.deleteGroups([groupId]).catch(() => undefined);
      await kadmin.disconnect();
    }
  }, 60_000);
});

/** The passwords rotated away: searched for as well. */
const rotated: string[] = [];

describe('rotating a Redis or MariaDB password (`npm run stack -- rotate redis|mariadb <user>`)', () => {
  const secret = (file: string): string => readFileSync(file, 'utf8').trim();

  it('`rotate redis api`: set live, the old password refused, the new one (from its file) logs in', async () => {
    const old = secret(paths.redisPasswordFile('api'));
    rotated.push(old);
    const config = loadConfig();
    await rotateRedisPassword(config, stackPaths(config), 'api', (l) => lines.push(l));
    const now = secret(paths.redisPasswordFile('api'));
    expect(now).not.toBe(old);
    expect(now).toMatch(/^[0-9a-f]{48}$/);
    // The ACL file the server starts with holds the new password's hash, never the password.
    const acl = readFileSync(join(paths.redisDir, 'users.acl'), 'utf8');
    expect(acl).toContain(`#${createHash('sha256').update(now).digest('hex')}`);
    expect(acl).not.toContain(now);
    const url = secureConfig(paths, { redis: 'api' }).redis.url;
    const withOld = createRedisClient(url.replace(/\/\/api:[^@]*@/, `//api:${old}@`), {
      maxRetriesPerRequest: 0,
    });
    const e = await rejection(withOld.pipeline([command('exists', `${PREFIX}feat:TAG-1`)]));
    await withOld.close();
    expect(e.code).toBe('REDIS_AUTH_FAILED');
    const withNew = createRedisClient(url);
    try {
      // Its rules are those of `up`: reads under the prefix, still no writes.
      expect(await withNew.pipeline([command('exists', `${PREFIX}feat:TAG-1`)])).toEqual([1]);
      expect((await rejection(withNew.pipeline([command('set', `${PREFIX}rotated`, '1')]))).code).toBe(
        'REDIS_NOT_AUTHORIZED',
      );
    } finally {
      await withNew.close();
    }
  });

  it('`rotate mariadb api`: set live, TLS still required, the old password refused, the new one logs in', async () => {
    const old = secret(paths.mariadbPasswordFile('api'));
    rotated.push(old);
    const config = loadConfig();
    await rotateMariadbPassword(stackPaths(config), 'api', (l) => lines.push(l));
    expect(secret(paths.mariadbPasswordFile('api'))).not.toBe(old);
    const url = secureConfig(paths, { mysql: 'api', database: DATABASE }).mysql.url;
    const withOld = createSql(url.replace(/\/\/api:[^@]*@/, `//api:${old}@`));
    const e = await rejection(withOld.query('SELECT 1'));
    await withOld.end();
    expect(e.code).toBe('MYSQL_AUTH_FAILED');
    const withNew = createSql(url);
    try {
      expect(await withNew.query<{ n: number }>('SELECT COUNT(*) AS n FROM ml_models')).toHaveLength(1);
    } finally {
      await withNew.end();
    }
    const [account] = await root.query<{ ssl_type: string }>(
      "SELECT ssl_type FROM mysql.user WHERE User = 'api' AND Host = '%'",
    );
    expect(account?.ssl_type).toBe('ANY');
  });
});

describe('secrets', () => {
  it('no password or key appears in any captured log line or error of the runs above', () => {
    const secrets = [...stackSecrets(paths), WRONG_PASSWORD, ...rotated];
    expect(secrets.length).toBeGreaterThanOrEqual(8);
    expect(errors.length).toBeGreaterThanOrEqual(12);
    const texts = [
      ...lines,
      ...errors.flatMap((e) => {
        const t = e as TagstreamError;
        const cause = t.cause as Error | undefined;
        return [
          t.message,
          JSON.stringify(t.details),
          cause?.message ?? '',
          String(t.stack),
          String(cause?.stack),
        ];
      }),
    ];
    for (const secret of secrets) expect(texts.filter((t) => t.includes(secret))).toEqual([]);
  });
});

// The REST API end to end on the real Kafka, schema registry, MariaDB and Redis: predictions and alerts produced as
// Avro reach the cache through the prediction sink and come back over HTTP; features, models, readiness, the DLQ
// summary, and replay of dead letters to their source topic exactly once, across filtered, limited, dry and repeated
// calls. Every route is called with good and bad requests, with the bearer token switched on.
// The file gets its own topics, groups, Redis prefix and database (tagstream_test_<id>, dropped after).
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProbes, kafkaProbe, mysqlProbe, registryProbe } from '../../src/api/readiness.ts';
import { startApiService, type RunningApiService } from '../../src/app/api.ts';
import { onlineRefill, runTopology } from '../../src/app/pipeline.ts';
import { predictionCacheTopology, predictionSinkTopics } from '../../src/app/prediction-sink.ts';
import { createMetricsRegistry } from '../../src/metrics/prometheus.ts';
import { createSql, type Sql } from '../../src/io/mysql/pool.ts';
import { AvroSerde, confluentRegistry } from '../../src/io/registry/registry.ts';
import { createLogger } from '../../src/log.ts';
import type { ModelSpec } from '../../src/ml/model-spec.ts';
import { exportOnnx } from '../../src/ml/onnx/export.ts';
import { createModelRegistry } from '../../src/ml/registry/registry.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import type { Alert, DeadLetter, FeatureVector, Prediction, RfidScan } from '../../src/schemas/types.ts';
import { createPredictionCache, predictionCacheOptions } from '../../src/serving/prediction-cache.ts';
import { createFeatureStore, featureStoreOptions } from '../../src/store/feature-store.ts';
import { createKafka } from '../../src/io/kafka/client.ts';
import { command, createRedisClient } from '../../src/io/redis/client.ts';
import {
  createTestDatabase,
  dropTestDatabase,
  readTopic,
  requireStack,
  testConfig,
  testDatabaseUrl,
  testKafka,
} from '../helpers/stack.ts';
import { alert, at, prediction, T0, type ApiBody } from './fakes.ts';

const ID = randomUUID().slice(0, 8);
const TOKEN = `token-${randomUUID()}`;
const base = testConfig();
const MYSQL_URL = testDatabaseUrl(base, ID);
const config = testConfig({
  mysql: { url: MYSQL_URL },
  // testConfig gives predictions.* and alerts topics of their own; the DLQ summary lists <dlqPrefix>*: ours only.
  topics: { dlqPrefix: `t-${ID}.dlq.` },
  api: { adminToken: TOKEN, port: 0, historyPerEntity: 3 },
});
const SOURCE = config.topics.scans;
const DLQ = `${config.topics.dlqPrefix}${SOURCE}`;
const log = createLogger('api-test', 'warn');

let kafka: Kafka;
let admin: Admin;
let producer: Producer;
let serde: AvroSerde;
let sql: Sql;
let api: RunningApiService;
let modelVersion: string;

const auth = { authorization: `Bearer ${TOKEN}` };

async function call(path: string, init: RequestInit = {}) {
  const res = await fetch(`${api.url}${path}`, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as ApiBody };
}

const replay = (body: unknown, topic = SOURCE) =>
  call(`/v1/dlq/${encodeURIComponent(topic)}/replay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const SPEC: ModelSpec = {
  service: 'demand',
  algorithm: 'linear',
  preprocessing: {
    numeric: ['rentals_7d', 'temp_f'],
    impute: [0, 0],
    categorical: [],
    categories: [],
    offset: [0, 0],
    scale: [1, 1],
  },
  estimator: { kind: 'linear-regressor', coefficients: [2, 3], intercept: 1 },
};

const scan = (tag: string): RfidScan => ({
  tag_id: tag,
  rental_class_num: 'TENT-40x60',
  scan_type: 'out',
  scan_date: T0,
  reader_id: 'R-dock',
  store_id: 'S9',
  quality_grade: 4,
  notes: null,
});

beforeAll(async () => {
  await requireStack(config);
  await createTestDatabase(MYSQL_URL);
  sql = createSql(MYSQL_URL);
  ({ version: modelVersion } = await createModelRegistry(sql).register({
    service: 'demand',
    algorithm: 'linear',
    spec: SPEC,
    onnx: exportOnnx(SPEC),
    metrics: { mae: 1.25 },
    validationScore: 0.7,
  }));
  kafka = testKafka(config);
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [SOURCE, DLQ].map((topic) => ({ topic, numPartitions: 3 })),
    waitForLeaders: true,
  });
  producer = kafka.producer({ idempotent: true });
  await producer.connect();
  serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
  api = await startApiService(config, { log });
});

afterAll(async () => {
  await api?.stop();
  await producer?.disconnect();
  const topics = [SOURCE, DLQ, ...predictionSinkTopics(config)];
  await admin?.deleteTopics({ topics }).catch(() => undefined);
  const groups = (await admin?.listGroups().catch(() => ({ groups: [] })))?.groups ?? [];
  const ours = groups.map((g) => g.groupId).filter((g) => g.startsWith(config.pipeline.groupId));
  await admin?.deleteGroups(ours).catch(() => undefined);
  await admin?.disconnect();
  const redis = createRedisClient(config.redis.url);
  const pattern = `${config.featureStore.redisPrefix}*`;
  await redis
    .pipeline([
      command(
        'eval',
        "for _, k in ipairs(redis.call('keys', ARGV[1])) do redis.call('del', k) end",
        0,
        pattern,
      ),
    ])
    .catch(() => undefined);
  await redis.close();
  await dropTestDatabase(sql, MYSQL_URL);
  await sql?.end();
});

async function produce<T>(
  topic: string,
  schema: 'prediction' | 'alert',
  records: readonly T[],
  key: (r: T) => string,
) {
  const encode = await serde.encoderFor<T>(topic, loadSchema(schema));
  await producer.send({ topic, messages: records.map((r) => ({ key: key(r), value: encode(r) })) });
}

describe('health', () => {
  it('/healthz, /readyz and /openapi.json answer without the token; /readyz checks all four dependencies', async () => {
    for (const path of ['/healthz', '/readyz', '/openapi.json']) {
      const res = await fetch(`${api.url}${path}`);
      expect(res.status, path).toBe(200);
    }
    const ready = (await (await fetch(`${api.url}/readyz`)).json()) as ApiBody;
    expect(ready.status).toBe('ready');
    expect(ready.checks.map((c) => [c.name, c.ok])).toEqual([
      ['kafka', true],
      ['schema_registry', true],
      ['mysql', true],
      ['redis', true],
    ]);
  });

  it('probes report a dependency that is down with our code', async () => {
    const badSql = createSql('mysql://root@127.0.0.1:1/none');
    const downKafka = createKafka(
      { ...config, kafka: { ...config.kafka, brokers: ['127.0.0.1:1'], connectTimeoutMs: 500 } },
      createLogger('down', 'silent'),
    );
    const probes = [
      kafkaProbe(downKafka, ['127.0.0.1:1']),
      registryProbe('http://127.0.0.1:1/apis/ccompat/v7'),
      mysqlProbe(badSql),
    ];
    const r = await runProbes(probes, 3_000);
    await Promise.all(probes.map((p) => p.close?.()));
    await badSql.end();
    expect(r.ready).toBe(false);
    expect(r.checks.map((c) => [c.name, c.ok, c.error?.code])).toEqual([
      ['kafka', false, 'KAFKA_UNAVAILABLE'],
      ['schema_registry', false, 'REGISTRY_UNAVAILABLE'],
      ['mysql', false, 'MYSQL_UNAVAILABLE'],
    ]);
  });

  it('every other route needs the token', async () => {
    const res = await fetch(`${api.url}/v1/alerts`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as ApiBody).error.code).toBe('API_UNAUTHORIZED');
  });
});

describe('predictions and alerts through the sink', () => {
  const entity = 'S1|TENT-40x60';
  const at = (m: number, value: number) =>
    prediction({
      entity_id: entity,
      event_time: T0 + m * 60_000,
      predicted_at: T0 + m * 60_000 + 7,
      prediction: value,
    });
  const alerts: Alert[] = [
    alert({ alert_id: `${ID}-1`, raised_at: T0 + 1, severity: 'warning' }),
    alert({ alert_id: `${ID}-2`, raised_at: T0 + 2, severity: 'critical', rule: 'restock_shortfall' }),
  ];

  beforeAll(async () => {
    const demand = `${config.topics.predictionsPrefix}demand`;
    await produce<Prediction>(
      demand,
      'prediction',
      [at(0, 10), at(2, 12), at(1, 11), at(3, 13)],
      (p) => p.entity_id,
    );
    await produce<Prediction>(
      `${config.topics.predictionsPrefix}maintenance`,
      'prediction',
      [prediction({ service: 'maintenance', entity_id: 'tag-1', prediction: 0.7, details: null })],
      (p) => p.entity_id,
    );
    // Alerts, one of them delivered twice.
    await produce<Alert>(config.topics.alerts, 'alert', [...alerts, alerts[0]!], (a) => a.entity_id);
    await until('the sink to cache everything', async () => {
      const c = await api.cache.counts();
      return c.predictions['demand'] === 4 && c.predictions['maintenance'] === 1 && c.alerts.total === 2
        ? c
        : undefined;
    });
  });

  it('latest: the highest event time, details parsed; 404 with a code otherwise', async () => {
    const r = await call(`/v1/predictions/demand/${encodeURIComponent(entity)}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      ...at(3, 13),
      model_versions: [...at(3, 13).model_versions],
      details: { reason: 'weekend' },
    });
    expect((await call('/v1/predictions/maintenance/tag-1')).body['prediction']).toBe(0.7);
    const none = await call('/v1/predictions/maintenance/tag-2');
    expect(none.status).toBe(404);
    expect(none.body['error']['code']).toBe('PREDICTION_NOT_FOUND');
    const unknown = await call('/v1/predictions/weather/tag-1');
    expect(unknown.status).toBe(404);
    expect(unknown.body['error']['code']).toBe('UNKNOWN_SERVICE');
  });

  it('history: newest first, bounded to historyPerEntity, filtered by from/to (ISO or ms) and limit', async () => {
    const e = encodeURIComponent(entity);
    const values = async (q: string) => {
      const r = await call(`/v1/predictions/demand/${e}/history${q}`);
      expect(r.status, q).toBe(200);
      return r.body['items'].map((p) => p['prediction']);
    };
    expect(await values('')).toEqual([13, 12, 11]); // historyPerEntity 3: the first one was trimmed
    expect(await values(`?from=${T0 + 60_000}&to=${new Date(T0 + 120_000).toISOString()}`)).toEqual([12, 11]);
    expect(await values('?limit=1')).toEqual([13]);
    expect(await values('?from=2030-01-01')).toEqual([]);
    for (const [q, message] of [
      ['?limit=0', /limit: must be >= 1/],
      ['?limit=ten', /limit: must be integer/],
      ['?from=2026-06-15T12:00&to=2026-06-15T11:00', /is after to/],
      ['?to=last-week', /to: expected an ISO 8601/],
    ] as const) {
      const r = await call(`/v1/predictions/demand/${e}/history${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body['error']['code']).toBe('API_BAD_REQUEST');
      expect(r.body['error']['message']).toMatch(message);
    }
    expect((await call('/v1/predictions/prices/x/history')).status).toBe(404);
  });

  it('alerts: each alert_id once, newest first, filtered; bad filters are 400', async () => {
    let r = await call('/v1/alerts');
    expect(r.status).toBe(200);
    expect(r.body['items']).toEqual([alerts[1], alerts[0]]);
    r = await call('/v1/alerts?severity=critical');
    expect(r.body['items']).toEqual([alerts[1]]);
    r = await call('/v1/alerts?rule=maintenance_risk&limit=1');
    expect(r.body['items']).toEqual([alerts[0]]);
    expect((await call('/v1/alerts?severity=loud')).status).toBe(400);
    expect((await call('/v1/alerts?limit=1001')).status).toBe(400);
    expect((await api.cache.counts()).alerts).toEqual({
      total: 2,
      bySeverity: { warning: 1, critical: 1 },
      byRule: { maintenance_risk: 1, restock_shortfall: 1 },
    });
  });

  it('a second sink re-reading every record from the start changes nothing (idempotent writes)', async () => {
    const before = await api.cache.counts();
    const cache = createPredictionCache(predictionCacheOptions(config));
    const groupId = `${config.pipeline.groupId}-predictions-again`;
    const stored = { predictions: 0, alerts: 0 };
    const again = await runTopology(
      config,
      predictionCacheTopology(config, cache, (n) => {
        stored.predictions += n.predictions;
        stored.alerts += n.alerts;
      }),
      { kafka: createKafka(config, log), serde, log, metrics: createMetricsRegistry() },
      groupId,
    );
    try {
      // 4 demand and 1 maintenance prediction, 3 alert records (one alert twice).
      await until('the second sink to read everything', async () =>
        again.recordsProcessed >= 8 ? true : undefined,
      );
      expect(again.recordsProcessed).toBe(8);
      expect(stored).toEqual({ predictions: 0, alerts: 0 });
    } finally {
      await again.stop();
      await cache.close();
    }
    expect(await api.cache.counts()).toEqual(before);
    expect(
      (await call(`/v1/predictions/demand/${encodeURIComponent(entity)}/history`)).body['items'],
    ).toHaveLength(3);
  });

  it('dead-letters a record that is not Avro instead of blocking its partition', async () => {
    const topic = `${config.topics.predictionsPrefix}quality`;
    await producer.send({ topic, messages: [{ key: 'tag-x', value: Buffer.from('not avro') }] });
    await produce<Prediction>(
      topic,
      'prediction',
      [prediction({ service: 'quality', entity_id: 'tag-x', prediction: 4 })],
      (p) => p.entity_id,
    );
    const p = await until('the quality prediction', async () => {
      const r = await call('/v1/predictions/quality/tag-x');
      return r.status === 200 ? r.body : undefined;
    });
    expect(p['prediction']).toBe(4);
    const [dead] = await readTopic(kafka, `${config.topics.dlqPrefix}${topic}`, 1, 30_000);
    const letter = (await serde.decode(dead?.value ?? null)) as DeadLetter;
    expect(letter).toMatchObject({ topic, error_code: 'DECODE_MAGIC_BYTE', stage: 'decode' });
    expect(letter.value?.toString()).toBe('not avro');
  });
});

describe('features and models', () => {
  it('features: the online values, defaults for the missing; bad lists are 400', async () => {
    const store = createFeatureStore(featureStoreOptions(config));
    const f = (name: string, value: number, window: string | null): FeatureVector => ({
      entity_id: 'S1|TENT-40x60',
      entity_type: 'class_store',
      feature_name: name,
      feature_value: value,
      feature_type: 'numeric',
      timestamp: Date.now() - 1_000,
      window,
      window_start: null,
      window_end: null,
      confidence: 1,
      source: 'test',
    });
    try {
      await store.write([f('available_stock', 17, null), f('rentals', 5, '1h')]);
    } finally {
      await store.close();
    }
    const r = await call(
      `/v1/features/${encodeURIComponent('S1|TENT-40x60')}?features=available_stock,rentals@1h,temperature_f`,
    );
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      entity_id: 'S1|TENT-40x60',
      features: { available_stock: 17, 'rentals@1h': 5, temperature_f: 70 },
    });
    expect((await call('/v1/features/x')).status).toBe(400);
    expect((await call('/v1/features/x?features=a@b@c')).status).toBe(400);
  });

  it('after Redis comes back empty, the refill rebuilds the online store and the API serves the same features', async () => {
    const entity = 'S2|CHAIR-WHITE';
    const store = createFeatureStore(featureStoreOptions(config));
    const f = (name: string, value: number, window: string | null, ageMs: number): FeatureVector => ({
      entity_id: entity,
      entity_type: 'class_store',
      feature_name: name,
      feature_value: value,
      feature_type: 'numeric',
      timestamp: Date.now() - ageMs,
      window,
      window_start: null,
      window_end: null,
      confidence: 1,
      source: 'test',
    });
    // Features the models read, so the offline log keeps them (featureStore.offlineFeatures: models); two values of
    // one series: the newest one must come back.
    await store.write([
      f('available_stock', 9, null, 60_000),
      f('available_stock', 11, null, 1_000),
      f('rentals', 4, '1d', 1_000),
      f('rentals', 30, '7d', 1_000),
    ]);
    let refill: { stop(): Promise<void> } | undefined;
    const path = `/v1/features/${encodeURIComponent(entity)}?features=available_stock,rentals@1d,rentals@7d`;
    try {
      const before = await call(path);
      expect(before.body).toEqual({
        entity_id: entity,
        features: { available_stock: 11, 'rentals@1d': 4, 'rentals@7d': 30 },
      });
      // A Redis restarted without its data: every key of this test's prefix gone, the refill's marker with them.
      const redis = createRedisClient(config.redis.url);
      try {
        await redis.pipeline([
          command(
            'eval',
            "for _, k in ipairs(redis.call('keys', ARGV[1])) do redis.call('del', k) end",
            0,
            `${config.featureStore.redisPrefix}*`,
          ),
        ]);
      } finally {
        await redis.close();
      }
      const emptied = await call(path);
      expect(emptied.body).not.toEqual(before.body);
      refill = onlineRefill(
        { ...config, featureStore: { ...config.featureStore, onlineCheckMs: 200 } },
        store,
        createLogger('api-test', 'error'), // its warning, that Redis came back empty, is the expected here
      );
      await until('the online store refilled', async () => {
        const now = await call(path);
        return JSON.stringify(now.body) === JSON.stringify(before.body) ? now : undefined;
      });
    } finally {
      await refill?.stop();
      await store.close();
    }
  });

  it('models: list and one version from the registry, without ONNX bytes; unknown ones are 404', async () => {
    let r = await call('/v1/models');
    expect(r.status).toBe(200);
    expect(r.body['items']).toHaveLength(1);
    expect(r.body['items'][0]).toMatchObject({
      service: 'demand',
      version: modelVersion,
      status: 'candidate',
      feature_names: ['rentals_7d', 'temp_f'],
      metrics: { mae: 1.25 },
      validation_score: 0.7,
    });
    expect(at(r.body, 'items', 0, 'onnx_bytes')).toBeGreaterThan(0);
    expect((await call('/v1/models?service=quality')).body['items']).toEqual([]);
    r = await call(`/v1/models/demand/${modelVersion}`);
    expect(r.status).toBe(200);
    expect(r.body['spec']).toEqual(SPEC);
    expect(r.body).not.toHaveProperty('onnx');
    expect((await call('/v1/models/demand/demand-nope')).body['error']['code']).toBe('MODEL_NOT_FOUND');
    expect((await call('/v1/models?service=nope')).body['error']['code']).toBe('UNKNOWN_SERVICE');
  });
});

describe('dead letters', () => {
  const originals = new Map<string, Buffer>();
  let dlEncode: (d: DeadLetter) => Buffer;
  let seq = 0;

  async function deadLetters(items: Array<{ tag: string; code: string; stage: string; value?: Buffer }>) {
    const scanEncode = await serde.encoderFor<RfidScan>(SOURCE, loadSchema('rfidScan'));
    // Written in a transaction, like the pipeline does: the topic holds commit markers between the records.
    const tx = kafka.producer({
      transactionalId: `t-${ID}-dlq-writer`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await tx.connect();
    const committedEnd = async (): Promise<number> =>
      (await admin.fetchTopicOffsets(DLQ)).reduce((sum, o) => sum + Number(o.high), 0);
    const before = await committedEnd();
    const t = await tx.transaction();
    await t.send({
      topic: DLQ,
      messages: items.map((i) => {
        const value = i.value ?? scanEncode(scan(i.tag));
        originals.set(i.tag, value);
        return {
          key: i.tag,
          value: dlEncode({
            key: Buffer.from(i.tag),
            value,
            topic: SOURCE,
            partition: 0,
            offset: seq++,
            error_code: i.code,
            error_message: `${i.code} for ${i.tag}`,
            failed_at: T0 + seq * 1_000,
            pipeline: 'ingest',
            pipeline_version: '0.1.0',
            stage: i.stage,
          }),
        };
      }),
    });
    await t.commit();
    await tx.disconnect();
    // The commit returns before the coordinator has written the markers; until then a read_committed end offset
    // (what a replay reads up to) stops before these records. Wait for them to be stable, as a later caller would.
    const deadline = Date.now() + 15_000;
    while ((await committedEnd()) < before + items.length) {
      if (Date.now() > deadline) throw new Error(`dead letters not committed in ${DLQ} after 15 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  beforeAll(async () => {
    dlEncode = await serde.encoderFor<DeadLetter>(DLQ, loadSchema('deadLetter'));
    await deadLetters([
      { tag: 'k1', code: 'UNKNOWN_STORE', stage: 'validate' },
      { tag: 'k2', code: 'UNKNOWN_STORE', stage: 'validate' },
      { tag: 'k3', code: 'BAD_QUALITY_GRADE', stage: 'validate' },
    ]);
    await deadLetters([
      { tag: 'k4', code: 'UNKNOWN_STORE', stage: 'validate' },
      { tag: 'k5', code: 'DECODE_MAGIC_BYTE', stage: 'decode', value: Buffer.from('garbage') },
    ]);
  });

  it('summary: counts by code and stage and the failed_at range of every dead-letter topic', async () => {
    const r = await call('/v1/dlq');
    expect(r.status).toBe(200);
    // The prediction cache sink's dead-letter topics are listed too (one record: the quality record above).
    const topics = r.body['topics'] as ApiBody[];
    expect(
      topics.filter((t) => t['topic'] !== DLQ).map((t) => [t['topic'], t['records'], t['by_code']]),
    ).toEqual(
      predictionSinkTopics(config)
        .map((t) => `${config.topics.dlqPrefix}${t}`)
        .sort()
        .map((t) => [
          t,
          t.endsWith('quality') ? 1 : 0,
          t.endsWith('quality') ? { DECODE_MAGIC_BYTE: 1 } : {},
        ]),
    );
    expect(topics.filter((t) => t['topic'] === DLQ)).toEqual([
      {
        topic: DLQ,
        source_topic: SOURCE,
        partitions: 3,
        records: 5,
        complete: true,
        by_code: { UNKNOWN_STORE: 3, BAD_QUALITY_GRADE: 1, DECODE_MAGIC_BYTE: 1 },
        by_stage: { validate: 4, decode: 1 },
        oldest_failed_at: T0 + 1_000,
        newest_failed_at: T0 + 5_000,
        undecodable: 0,
      },
    ]);
  });

  it('replays each dead letter to its source topic exactly once across dry, filtered, limited and repeated calls', async () => {
    const counts = (b: ApiBody) => [
      b['replayed'],
      b['already_replayed'],
      b['skipped_other_code'],
      b['complete'],
    ];
    let r = await replay({ codes: ['UNKNOWN_STORE'], dryRun: true });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      dry_run: true,
      replayed: 3,
      replayed_by_code: { UNKNOWN_STORE: 3 },
      scanned: 5,
    });
    r = await replay({ codes: ['UNKNOWN_STORE'], limit: 2 });
    expect(r.body['replayed']).toBe(2);
    expect(r.body['complete']).toBe(false);
    // The rest: reading resumes where the limit stopped, so the first two are not even read again.
    r = await replay({ codes: ['UNKNOWN_STORE'] });
    expect(r.body).toMatchObject({ replayed: 1, already_replayed: 0, complete: true });
    r = await replay({ codes: ['UNKNOWN_STORE'] });
    expect(r.body['replayed']).toBe(0);
    // Every code: the two others now, the three UNKNOWN_STORE ones are remembered.
    r = await replay({ dryRun: true });
    expect(counts(r.body)).toEqual([2, 3, 0, true]);
    r = await replay({});
    expect(r.body).toMatchObject({
      replayed: 2,
      already_replayed: 3,
      replayed_by_code: { BAD_QUALITY_GRADE: 1, DECODE_MAGIC_BYTE: 1 },
    });
    r = await replay({});
    expect(r.body).toMatchObject({ replayed: 0, scanned: 0, complete: true });
    r = await replay({ codes: ['BAD_QUALITY_GRADE'] });
    expect(r.body['replayed']).toBe(0);

    // A new dead letter after the replays: only it goes.
    await deadLetters([{ tag: 'k6', code: 'UNKNOWN_STORE', stage: 'validate' }]);
    r = await replay({ codes: ['UNKNOWN_STORE', 'BAD_PRICE'] });
    expect(r.body).toMatchObject({ replayed: 1, replayed_by_code: { UNKNOWN_STORE: 1 } });
    r = await replay({});
    expect(r.body['replayed']).toBe(0);

    const records = await readTopic(kafka, SOURCE, 6, 30_000);
    expect(records).toHaveLength(6);
    const byKey = new Map(records.map((m) => [m.key?.toString(), m.value]));
    expect([...byKey.keys()].sort()).toEqual(['k1', 'k2', 'k3', 'k4', 'k5', 'k6']);
    for (const [tag, value] of byKey) expect(value?.equals(originals.get(tag!)!), tag).toBe(true);
    // The replay group remembers the position, as committed offsets.
    const [committed] = await admin.fetchOffsets({
      groupId: `${config.pipeline.groupId}-dlq-replay`,
      topics: [DLQ],
    });
    expect(committed?.partitions.some((p) => Number(p.offset) > 0)).toBe(true);
  });

  it('bad requests: unknown DLQ 404, bad body 400', async () => {
    let r = await replay({}, 'no.such.topic');
    expect(r.status).toBe(404);
    expect(r.body['error']['code']).toBe('DLQ_NOT_FOUND');
    r = await replay({ limit: -1 });
    expect(r.status).toBe(400);
    r = await replay({ codes: 'UNKNOWN_STORE' });
    expect(r.status).toBe(400);
    r = await replay({ everything: true });
    expect(r.status).toBe(400);
    expect(r.body['error']['message']).toMatch(/unknown property 'everything'/);
  });
});

describe('errors', () => {
  it('unknown routes are 404 JSON', async () => {
    const r = await call('/v1/nothing');
    expect(r.status).toBe(404);
    expect(r.body['error']['code']).toBe('API_NOT_FOUND');
  });
});

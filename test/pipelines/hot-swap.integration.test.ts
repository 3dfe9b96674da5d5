// A running serving pipeline receives a new production version and switches to it while events keep flowing:
// every `out` scan gets exactly one maintenance prediction (none lost, none twice), the first ones carry v1, the last
// ones v2, and no partition goes back to v1 once it served v2. Real Kafka, schema registry, MariaDB and Redis.
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServing, servingConfig, type RunningServing } from '../../src/app/serving.ts';
import { createSql, type Sql } from '../../src/io/mysql/pool.ts';
import { AvroSerde, confluentRegistry } from '../../src/io/registry/registry.ts';
import { createKafka } from '../../src/io/kafka/client.ts';
import { createLogger } from '../../src/log.ts';
import type { ModelSpec } from '../../src/ml/model-spec.ts';
import { exportOnnx } from '../../src/ml/onnx/export.ts';
import {
  kafkaModelPublisher,
  promoteAndPublish,
  type ModelVersionPublisher,
} from '../../src/ml/registry/publisher.ts';
import { createModelRegistry, type ModelRegistry } from '../../src/ml/registry/registry.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import type { Prediction, RfidScan } from '../../src/schemas/types.ts';
import {
  createTestDatabase,
  dropTestDatabase,
  readTopic,
  requireStack,
  testConfig,
  testDatabaseUrl,
  testKafka,
  waitForCommitted,
} from '../helpers/stack.ts';

const ID = randomUUID().slice(0, 8);
const MYSQL_URL = testDatabaseUrl(testConfig(), ID);
// No history sink runs here (serving alone, on scans written straight to the clean topic): nothing to wait for.
const config = testConfig({ mysql: { url: MYSQL_URL }, serving: { maxWaitMs: 2, sinkWaitMs: 0 } });
const SCANS = `${config.topics.cleanPrefix}${config.topics.scans}`;
const PREDICTIONS = `${config.topics.predictionsPrefix}maintenance`;
const log = createLogger('hot-swap-test', 'warn');

/** A constant model over the rental frame's first column: v1 says 0.1, v2 says 0.6. */
function constant(p: number): ModelSpec {
  return {
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
}

let sql: Sql;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;
let serde: AvroSerde;
let registry: ModelRegistry;
let publisher: ModelVersionPublisher;
let serving: RunningServing | undefined;

beforeAll(async () => {
  await requireStack(config);
  await createTestDatabase(MYSQL_URL);
  sql = createSql(MYSQL_URL);
  registry = createModelRegistry(sql);
  kafka = testKafka(config);
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ idempotent: true });
  await producer.connect();
  serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
  publisher = await kafkaModelPublisher(config, createKafka(config, log), serde);
});

afterAll(async () => {
  await serving?.stop();
  await publisher?.close();
  await producer?.disconnect();
  await admin?.disconnect();
  await dropTestDatabase(sql, MYSQL_URL);
  await sql?.end();
});

async function register(p: number): Promise<string> {
  const spec = constant(p);
  const { version } = await registry.register({
    service: 'maintenance',
    algorithm: 'linear',
    spec,
    onnx: exportOnnx(spec),
    metrics: { log_loss: 0.5 },
    validationScore: 0.5,
  });
  return version;
}

describe('hot swap under load', () => {
  it('switches a running pipeline to the new production version with no event lost', async () => {
    const v1 = await register(0.1);
    await promoteAndPublish(registry, publisher, 'maintenance', v1);
    serving = await startServing(config, { log });
    expect(serving.watcher.current('maintenance')?.version).toBe(v1);

    const encode = await serde.encoderFor<RfidScan>(SCANS, loadSchema('rfidScan'));
    let sent = 0;
    const t0 = Date.now() - 3_600_000;
    const send = async (n: number): Promise<void> => {
      const messages = Array.from({ length: n }, () => {
        const i = sent++;
        const scan: RfidScan = {
          tag_id: `TAG-${i}`,
          rental_class_num: 'TENT',
          scan_type: 'out',
          scan_date: t0 + i,
          reader_id: 'R1',
          store_id: 'S1',
          quality_grade: 4,
          notes: null,
        };
        return { key: scan.tag_id, value: encode(scan), timestamp: String(scan.scan_date) };
      });
      await producer.send({ topic: SCANS, messages, acks: -1 });
    };

    // Events flow before, during and after the promotion.
    const v2 = await register(0.6);
    let promoted = false;
    for (let round = 0; round < 40; round++) {
      await send(50);
      if (round === 15) {
        await promoteAndPublish(registry, publisher, 'maintenance', v2);
        promoted = true;
      }
      if (promoted && serving.watcher.current('maintenance')?.version === v2 && round >= 30) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // Keep sending until the swap has certainly been served for a while.
    const deadline = Date.now() + 20_000;
    while (serving.watcher.current('maintenance')?.version !== v2 && Date.now() < deadline) {
      await send(20);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(serving.watcher.current('maintenance')?.version).toBe(v2);
    await send(200);

    await waitForCommitted(admin, servingConfig(config).pipeline.groupId, [SCANS], 60_000);
    const records = await readTopic(kafka, PREDICTIONS, sent, 60_000);
    const predictions = await Promise.all(
      records.map(async (r) => ({
        partition: r.partition,
        offset: BigInt(r.offset),
        value: (await serde.decode(r.value)) as Prediction,
      })),
    );
    // None lost, none twice.
    expect(predictions).toHaveLength(sent);
    expect(new Set(predictions.map((p) => p.value.entity_id)).size).toBe(sent);
    // Each carries the version that computed it, and the value that version gives.
    for (const p of predictions) {
      expect(p.value.model_versions).toHaveLength(1);
      const [version] = p.value.model_versions;
      expect([v1, v2]).toContain(version);
      expect(p.value.prediction).toBeCloseTo(version === v1 ? 0.1 : 0.6, 5);
    }
    const byVersion = (v: string) => predictions.filter((p) => p.value.model_versions[0] === v).length;
    expect(byVersion(v1)).toBeGreaterThan(0);
    expect(byVersion(v2)).toBeGreaterThan(0);
    // Per partition, in offset order: v1 … v1 v2 … v2.
    for (const partition of new Set(predictions.map((p) => p.partition))) {
      const versions = predictions
        .filter((p) => p.partition === partition)
        .sort((a, b) => (a.offset < b.offset ? -1 : 1))
        .map((p) => p.value.model_versions[0]);
      const firstV2 = versions.indexOf(v2);
      if (firstV2 >= 0) expect(versions.slice(firstV2).every((v) => v === v2)).toBe(true);
    }
    // The last scans sent were scored by v2.
    const last = predictions.find((p) => p.value.entity_id === `TAG-${sent - 1}`);
    expect(last?.value.model_versions).toEqual([v2]);
  }, 180_000);
});

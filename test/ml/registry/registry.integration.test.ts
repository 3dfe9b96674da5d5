// The model registry end to end on the real MariaDB, Kafka and schema registry: register two hand-built linear
// models, promote them and roll back while a ModelWatcher serves predictions in a tight loop (no error, no gap,
// every value from one whole model), stale and failed announcements, and a second watcher that starts later. A
// model's drift reference and prediction interval go through register → get → the watcher's loaded model.
// The file gets its own database (tagstream_test_<id>, dropped after) and its own models.versions topic.
import { randomUUID } from 'node:crypto';
import { table } from 'arquero';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql, type Sql } from '../../../src/io/mysql/pool.ts';
import { AvroSerde, confluentRegistry } from '../../../src/io/registry/registry.ts';
import { createKafka } from '../../../src/io/kafka/client.ts';
import { createLogger } from '../../../src/log.ts';
import { driftReference } from '../../../src/ml/drift.ts';
import type { ModelSpec } from '../../../src/ml/model-spec.ts';
import { exportOnnx } from '../../../src/ml/onnx/export.ts';
import { predictSpec } from '../../../src/ml/predict.ts';
import {
  kafkaModelPublisher,
  promoteAndPublish,
  rollbackAndPublish,
  type ModelVersionPublisher,
} from '../../../src/ml/registry/publisher.ts';
import { createModelRegistry, sha256Hex, type ModelRegistry } from '../../../src/ml/registry/registry.ts';
import { ModelWatcher } from '../../../src/ml/registry/watcher.ts';
import type { TagstreamError } from '../../../src/errors.ts';
import type { ModelVersion } from '../../../src/schemas/types.ts';
import { rejectionOf } from '../../helpers/errors.ts';
import {
  createTestDatabase,
  dropTestDatabase,
  requireStack,
  testConfig,
  testDatabaseUrl,
  testKafka,
} from '../../helpers/stack.ts';

const ID = randomUUID().slice(0, 8);
const base = testConfig();
const MYSQL_URL = testDatabaseUrl(base, ID);
const config = testConfig({
  mysql: { url: MYSQL_URL },
  topics: { modelVersions: `t-${ID}.models.versions` },
});
const TOPIC = config.topics.modelVersions;
const GROUPS = [`t-${ID}-watcher-a`, `t-${ID}-watcher-b`];
const SERVICE = 'demand';
const GRACE_MS = 300;
const log = createLogger('model-registry-test', 'warn');
/** The product's Kafka client (our adapter), for the code under test; `kafka` is kafkajs, for the test's own reads. */
const client = createKafka(config, log);

/** A linear demand model on two numeric inputs; coefficients chosen so float32 ONNX output is exact. */
function linear(
  coefficients: [number, number],
  intercept: number,
  numeric = ['rentals_7d', 'temp_f'],
): ModelSpec {
  return {
    service: SERVICE,
    algorithm: 'linear',
    preprocessing: {
      numeric,
      impute: numeric.map(() => 0),
      categorical: [],
      categories: [],
      offset: numeric.map(() => 0),
      scale: numeric.map(() => 1),
    },
    estimator: {
      kind: 'linear-regressor',
      coefficients: numeric.map((_, i) => coefficients[i] ?? 1),
      intercept,
    },
  };
}

const SPEC1 = linear([2, 3], 1);
const SPEC2 = linear([-1, 0.5], 100);
/** v2's training data binned, and its interval: stored with v2, absent for v1. */
const TRAIN2 = table({
  rentals_7d: Array.from({ length: 50 }, (_, i) => i % 13),
  temp_f: Array.from({ length: 50 }, (_, i) => 50 + (i % 7) * 3),
});
const REFERENCE2 = driftReference(
  SPEC2,
  TRAIN2,
  predictSpec(
    SPEC2,
    TRAIN2.objects().map((r) => Object.values(r) as number[]),
  ),
);
const INTERVAL2 = { coverage: 0.9, lower: -2.5, upper: 3.25 };
const ROWS = [
  [1, 2],
  [3, 4],
  [10, -6],
];
const ROWS32 = Float32Array.from(ROWS.flat());
const EXPECTED: Record<'v1' | 'v2', number[]> = {
  v1: [...predictSpec(SPEC1, ROWS)],
  v2: [...predictSpec(SPEC2, ROWS)],
};

let sql: Sql;
let kafka: Kafka;
let admin: Admin;
let serde: AvroSerde;
let registry: ModelRegistry;
let publisher: ModelVersionPublisher;
const watchers: ModelWatcher[] = [];
let v1 = '';
let v2 = '';

beforeAll(async () => {
  await requireStack(config);
  await createTestDatabase(MYSQL_URL);
  sql = createSql(MYSQL_URL);
  registry = createModelRegistry(sql);
  kafka = testKafka(config);
  admin = kafka.admin();
  await admin.connect();
  serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
  publisher = await kafkaModelPublisher(config, client, serde);
});

afterAll(async () => {
  for (const w of watchers) await w.stop();
  await publisher?.close();
  await admin?.deleteGroups(GROUPS).catch(() => undefined);
  await admin?.deleteTopics({ topics: [TOPIC] }).catch(() => undefined);
  await admin?.disconnect();
  await dropTestDatabase(sql, MYSQL_URL);
  await sql?.end();
});

async function waitFor(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function expectValues(values: Float32Array | readonly number[], which: 'v1' | 'v2'): void {
  expect(values).toHaveLength(ROWS.length);
  [...values].forEach((v, i) => expect(v).toBeCloseTo(EXPECTED[which][i]!, 4));
}

interface Swap {
  readonly service: string;
  readonly version: string;
  readonly previous: string | null;
  readonly at: number;
}

function startWatcher(group: string): { watcher: ModelWatcher; swaps: Swap[]; errors: TagstreamError[] } {
  const swaps: Swap[] = [];
  const errors: TagstreamError[] = [];
  const watcher = new ModelWatcher({
    config,
    kafka: client,
    serde,
    registry,
    log,
    groupId: group,
    graceMs: GRACE_MS,
    onSwap: (service, version, previous) => swaps.push({ service, version, previous, at: Date.now() }),
    onError: (e) => errors.push(e),
  });
  watchers.push(watcher);
  return { watcher, swaps, errors };
}

async function productionRows(): Promise<Array<{ version: string }>> {
  return sql.query("SELECT version FROM ml_models WHERE service = ? AND status = 'production'", [SERVICE]);
}

/** Promotion (or rollback) to swap on the watcher, in ms. */
const latencies: Array<{ what: string; ms: number }> = [];

describe('model registry', () => {
  it('registers models as candidates with a version named after time and checksum', async () => {
    ({ version: v1 } = await registry.register({
      service: SERVICE,
      algorithm: 'linear',
      spec: SPEC1,
      onnx: exportOnnx(SPEC1),
      metrics: { mae: 1.25, rmse: 2 },
      validationScore: 0.7,
    }));
    ({ version: v2 } = await registry.register({
      service: SERVICE,
      algorithm: 'linear',
      spec: SPEC2,
      onnx: exportOnnx(SPEC2),
      metrics: { mae: 1.1, rmse: 1.9 },
      validationScore: 0.8,
      featureNames: ['rentals_7d', 'temp_f'],
      notes: 'hand-built',
      reference: REFERENCE2,
      interval: INTERVAL2,
    }));
    const bytes1 = exportOnnx(SPEC1);
    expect(v1).toMatch(new RegExp(`^demand-\\d{14}-${sha256Hex(bytes1).slice(0, 8)}$`));
    expect(v2).not.toBe(v1);

    const row = await registry.get(SERVICE, v1);
    expect(row).toMatchObject({
      service: SERVICE,
      version: v1,
      algorithm: 'linear',
      status: 'candidate',
      sha256: sha256Hex(bytes1),
      featureNames: ['rentals_7d', 'temp_f'],
      metrics: { mae: 1.25, rmse: 2 },
      validationScore: 0.7,
      notes: null,
      promotedAt: null,
      onnxBytes: bytes1.byteLength,
      spec: SPEC1,
    });
    expect([...row!.onnx]).toEqual([...bytes1]);
    expect(row).not.toHaveProperty('reference');
    expect(row).not.toHaveProperty('interval');
    expect(await registry.get(SERVICE, v2)).toMatchObject({ reference: REFERENCE2, interval: INTERVAL2 });
    expect((await registry.list(SERVICE)).map((m) => m.status)).toEqual(['candidate', 'candidate']);
    expect(await registry.get(SERVICE, 'nope')).toBeUndefined();
    expect(await registry.production(SERVICE)).toBeUndefined();

    // The same bytes within the same second: the existing version (a retried register).
    const fixed = createModelRegistry(sql, { now: () => Date.UTC(2026, 0, 2, 3, 4, 5) });
    const input = { service: 'quality', algorithm: 'linear', spec: { ...SPEC1, service: 'quality' } };
    const once = await fixed.register({ ...input, onnx: exportOnnx(input.spec), metrics: {} });
    expect(once.version).toMatch(/^quality-20260102030405-[0-9a-f]{8}$/);
    expect(await fixed.register({ ...input, onnx: exportOnnx(input.spec), metrics: {} })).toEqual(once);
    expect(await registry.list('quality')).toHaveLength(1);
  });

  it('refuses an artefact that is not the spec’s model, and a spec of another service', async () => {
    const three = linear([1, 1], 0, ['a', 'b', 'c']);
    const wrongShape = await rejectionOf(
      registry.register({
        service: SERVICE,
        algorithm: 'linear',
        spec: SPEC1,
        onnx: exportOnnx(three),
        metrics: {},
      }),
    );
    expect(wrongShape.code).toBe('MODEL_ERROR');
    const notOnnx = await rejectionOf(
      registry.register({
        service: SERVICE,
        algorithm: 'linear',
        spec: SPEC1,
        onnx: Uint8Array.of(1, 2, 3),
        metrics: {},
      }),
    );
    expect(notOnnx.code).toBe('MODEL_ERROR');
    const otherService = await rejectionOf(
      registry.register({
        service: 'quality',
        algorithm: 'linear',
        spec: SPEC1,
        onnx: exportOnnx(SPEC1),
        metrics: {},
      }),
    );
    expect(otherService.code).toBe('MODEL_ERROR');
    const input = {
      service: SERVICE,
      algorithm: 'linear',
      spec: SPEC1,
      onnx: exportOnnx(SPEC1),
      metrics: {},
    };
    const badInterval = await rejectionOf(
      registry.register({ ...input, interval: { coverage: 1.5, lower: 1, upper: 0 } }),
    );
    expect(badInterval.details).toMatchObject({ path: 'interval' });
    const badReference = await rejectionOf(
      registry.register({ ...input, reference: { rows: 3 } as unknown as typeof REFERENCE2 }),
    );
    expect(badReference.details).toMatchObject({ path: 'reference' });
    expect(await registry.list(SERVICE)).toHaveLength(2);
  });

  it('gives coded errors for an unknown version and for a rollback with no history', async () => {
    expect((await rejectionOf(registry.promote(SERVICE, 'demand-nope'))).code).toBe('MODEL_NOT_FOUND');
    const e = await rejectionOf(registry.rollback(SERVICE));
    expect(e.code).toBe('MODEL_NO_ROLLBACK');
    expect(e.message).toContain('npm run models -- promote demand');
    expect(await productionRows()).toEqual([]);
  });

  const a = {
    watcher: undefined as unknown as ModelWatcher,
    swaps: [] as Swap[],
    errors: [] as TagstreamError[],
  };

  it('promote v1: a running watcher loads it from models.versions and predicts with it', async () => {
    Object.assign(a, startWatcher(GROUPS[0]!));
    await a.watcher.start();
    expect(a.watcher.current(SERVICE)).toBeUndefined();

    const t0 = Date.now();
    const record = await promoteAndPublish(registry, publisher, SERVICE, v1);
    expect(record).toMatchObject({
      service: SERVICE,
      version: v1,
      status: 'production',
      algorithm: 'linear',
    });
    expect(JSON.parse(record.metrics_json)).toEqual({ mae: 1.25, rmse: 2 });
    await waitFor('v1 on watcher A', () => a.watcher.current(SERVICE)?.version === v1, 30_000);
    latencies.push({ what: 'first promotion (includes the new group joining)', ms: a.swaps[0]!.at - t0 });

    const model = a.watcher.current(SERVICE)!;
    expect(model).toMatchObject({ version: v1, algorithm: 'linear', validationScore: 0.7, spec: SPEC1 });
    expectValues(await model.predict(ROWS32, ROWS.length), 'v1');
    expect(a.swaps).toEqual([expect.objectContaining({ version: v1, previous: null })]);
    expect(await productionRows()).toEqual([{ version: v1 }]);
  });

  it('promote v2: the watcher swaps within seconds while predictions keep flowing with no error and no gap', async () => {
    const old = a.watcher.current(SERVICE)!;
    const results: Array<{ version: string; values: Float32Array; end: number }> = [];
    const failures: unknown[] = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        try {
          const r = await a.watcher.predict(SERVICE, ROWS32, ROWS.length);
          results.push({ ...r, end: performance.now() });
        } catch (e) {
          failures.push(e);
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    await new Promise((r) => setTimeout(r, 200));

    const t0 = Date.now();
    const record = await promoteAndPublish(registry, publisher, SERVICE, v2);
    await waitFor('v2 on watcher A', () => a.swaps.some((s) => s.version === v2));
    const latency = a.swaps.find((s) => s.version === v2)!.at - t0;
    latencies.push({ what: 'promotion v1 → v2', ms: latency });
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await loop;

    expect(failures).toEqual([]);
    expect(latency).toBeLessThan(5_000);
    // Every prediction came from one whole model, v1 until the swap and v2 after it, never back.
    const versions = results.map((r) => r.version);
    const firstV2 = versions.indexOf(v2);
    expect(firstV2).toBeGreaterThan(0);
    expect(versions.slice(0, firstV2).every((v) => v === v1)).toBe(true);
    expect(versions.slice(firstV2).every((v) => v === v2)).toBe(true);
    for (const r of results) expectValues(r.values, r.version === v1 ? 'v1' : 'v2');
    // No gap: predictions kept completing every few ms through the swap.
    const gaps = results.slice(1).map((r, i) => r.end - results[i]!.end);
    const maxGap = Math.max(...gaps);
    latencies.push({ what: `max gap between predictions (${results.length} calls)`, ms: Math.round(maxGap) });
    expect(maxGap).toBeLessThan(250);

    expectValues((await a.watcher.predict(SERVICE, ROWS32, ROWS.length)).values, 'v2');
    expect(a.watcher.current(SERVICE)!.promotedAt).toBe(record.promoted_at);
    expect(a.watcher.current(SERVICE)).toMatchObject({ reference: REFERENCE2, interval: INTERVAL2 });
    // The replaced session closes after the grace period, once nothing runs on it.
    await old.whenClosed();
    expect(old.state).toBe('closed');
    expect(await productionRows()).toEqual([{ version: v2 }]);
    expect((await registry.get(SERVICE, v1))!.status).toBe('archived');
  });

  it('an old announcement arriving after a newer one does not replace it; re-promoting is idempotent', async () => {
    const stale = (await registry.get(SERVICE, v1))!;
    const before = a.watcher.stats();
    await publisher.publish({
      service: SERVICE,
      version: v1,
      algorithm: stale.algorithm,
      status: 'production',
      sha256: stale.sha256,
      feature_names: [...stale.featureNames],
      metrics_json: JSON.stringify(stale.metrics),
      promoted_at: stale.promotedAt!,
    });
    const again = await promoteAndPublish(registry, publisher, SERVICE, v2);
    expect(again.promoted_at).toBe(a.watcher.current(SERVICE)!.promotedAt);
    await waitFor('two more records on watcher A', () => a.watcher.stats().records >= before.records + 2);
    expect(a.watcher.stats().swaps).toBe(before.swaps);
    expect(a.watcher.stats().skipped).toBe(before.skipped + 2);
    expect(a.watcher.current(SERVICE)!.version).toBe(v2);
    expect(a.errors).toEqual([]);
  });

  it('rollback: back to v1 everywhere, as a new promotion', async () => {
    const v2At = (await registry.get(SERVICE, v2))!.promotedAt!;
    const t0 = Date.now();
    const record = await rollbackAndPublish(registry, publisher, SERVICE);
    expect(record.version).toBe(v1);
    expect(record.promoted_at).toBeGreaterThan(v2At);
    await waitFor('v1 again on watcher A', () => a.watcher.current(SERVICE)?.version === v1);
    latencies.push({ what: 'rollback v2 → v1', ms: a.swaps.at(-1)!.at - t0 });
    expectValues((await a.watcher.predict(SERVICE, ROWS32, ROWS.length)).values, 'v1');
    expect(await productionRows()).toEqual([{ version: v1 }]);
    expect((await registry.get(SERVICE, v2))!.status).toBe('archived');
  });

  it('a failed announcement leaves the promotion in place; promoting again announces it', async () => {
    const failing: ModelVersionPublisher = {
      topic: TOPIC,
      publish: () => Promise.reject(new Error('broker unreachable')),
      close: async () => undefined,
    };
    const e = await rejectionOf(rollbackAndPublish(registry, failing, SERVICE));
    expect(e.code).toBe('MODEL_PUBLISH_FAILED');
    expect(e.message).toContain(`npm run models -- promote ${SERVICE} ${v2}`);
    expect(await productionRows()).toEqual([{ version: v2 }]);
    await new Promise((r) => setTimeout(r, 300));
    expect(a.watcher.current(SERVICE)!.version).toBe(v1); // nothing was announced

    const t0 = Date.now();
    await promoteAndPublish(registry, publisher, SERVICE, v2);
    await waitFor(
      'v2 on watcher A after the re-announcement',
      () => a.watcher.current(SERVICE)?.version === v2,
    );
    latencies.push({ what: 're-announced promotion v1 → v2', ms: a.swaps.at(-1)!.at - t0 });
    expectValues((await a.watcher.predict(SERVICE, ROWS32, ROWS.length)).values, 'v2');
  });

  it('a watcher started later serves the current production at once and ignores the older announcements', async () => {
    const b = startWatcher(GROUPS[1]!);
    await b.watcher.start();
    // Loaded from the registry before the topic was read.
    expect(b.watcher.current(SERVICE)?.version).toBe(v2);
    expect(b.swaps).toEqual([expect.objectContaining({ version: v2, previous: null })]);
    expectValues((await b.watcher.predict(SERVICE, ROWS32, ROWS.length)).values, 'v2');
    // Everything on the topic so far: v1, v2, stale v1, v2 again, rollback v1, v2.
    await waitFor('watcher B to read the whole topic', () => b.watcher.stats().records >= 6, 30_000);
    expect(b.watcher.stats()).toMatchObject({ records: 6, swaps: 1, skipped: 6, errors: 0 });
    expect(b.watcher.current(SERVICE)?.version).toBe(v2);
  });

  it('an artefact whose bytes do not match its checksum is refused and the current model keeps serving', async () => {
    const spec3 = linear([5, 5], 5);
    const { version: v3 } = await registry.register({
      service: SERVICE,
      algorithm: 'linear',
      spec: spec3,
      onnx: exportOnnx(spec3),
      metrics: {},
    });
    const before = a.watcher.stats();
    // Bytes changed behind the registry's back (storage corruption, a hand-edited row).
    await sql.execute('UPDATE ml_models SET onnx = ? WHERE service = ? AND version = ?', [
      Buffer.from(exportOnnx(SPEC1)),
      SERVICE,
      v3,
    ]);
    const record: ModelVersion = await promoteAndPublish(registry, publisher, SERVICE, v3);
    expect(record.version).toBe(v3);
    await waitFor('watcher A to report the bad artefact', () => a.errors.length > 0);
    expect(a.errors[0]!.code).toBe('MODEL_CHECKSUM_MISMATCH');
    expect(a.watcher.stats()).toMatchObject({ swaps: before.swaps, errors: before.errors + 1 });
    expect(a.watcher.current(SERVICE)!.version).toBe(v2);
    expectValues((await a.watcher.predict(SERVICE, ROWS32, ROWS.length)).values, 'v2');
  });

  afterAll(() => {
    // Measured promotion-to-swap latencies, for the record (docs/models.md claims name this test).
    console.log(`model registry timings:\n${latencies.map((l) => `  ${l.what}: ${l.ms} ms`).join('\n')}`);
  });
});

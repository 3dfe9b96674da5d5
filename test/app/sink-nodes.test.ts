// The three sink nodes (feature store, history, prediction cache) on the in-process driver, with in-memory stores
// that fail on command: a garbage record and a record the store refuses land in dlq.<topic> with their codes while
// the records around them are written; a dependency failure leaves the batch uncommitted, and piping it again
// (what the runner does) writes it once the dependency is back.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import { featureStoreTopology } from '../../src/app/feature-sink.ts';
import { progressEntity, progressRow } from '../../src/features/progress-rows.ts';
import { featureProgressTopic, onlineProgress } from '../../src/serving/sink-progress.ts';
import { INSERT_COLUMNS, historyTopology } from '../../src/app/history-sink.ts';
import { predictionCacheTopology } from '../../src/app/prediction-sink.ts';
import { TagstreamError, recordError } from '../../src/errors.ts';
import type { Sql } from '../../src/io/mysql/pool.ts';
import { TestDriver } from '../../src/runtime/test-driver.ts';
import type { Topology } from '../../src/runtime/topology.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import type {
  Alert,
  DeadLetter,
  FeatureRow,
  FeatureVector,
  Prediction,
  RfidScan,
} from '../../src/schemas/types.ts';
import type { PredictionCache } from '../../src/serving/prediction-cache.ts';
import type { FeatureStore } from '../../src/store/types.ts';
import { alert, prediction, T0 } from '../api/fakes.ts';

const config = parseConfig({});
const GARBAGE = Buffer.from([0, 0, 0, 0x7f, 0xff, 1, 2, 3]);
const down = () =>
  new TagstreamError('MYSQL_UNAVAILABLE', 'MariaDB at 127.0.0.1:3306 is not reachable', { retryable: true });

/** What the fakes do on the next write: succeed, refuse records whose id is in `refuse`, or be unreachable. */
interface Behaviour {
  unreachable: boolean;
  refuse: Set<string>;
}

function feature(entity: string, value = 1): FeatureRow {
  return {
    entity_id: entity,
    entity_type: 'item',
    timestamp: T0,
    window: null,
    window_start: null,
    window_end: null,
    source: 'rfid',
    features: { usage_frequency_7d: value },
  };
}

function fakeStore(b: Behaviour): { store: FeatureStore; written: FeatureVector[] } {
  const written: FeatureVector[] = [];
  const store: FeatureStore = {
    async write(features) {
      if (b.unreachable) throw down();
      const bad = features.find((f) => b.refuse.has(f.entity_id));
      if (bad) throw recordError('SINK_REJECTED', `MySQL refused a row: ER_DATA_TOO_LONG (${bad.entity_id})`);
      written.push(...features);
    },
    getFeatures: () => Promise.reject(new Error('not used')),
    getFeatureMatrix: () => Promise.reject(new Error('not used')),
    getTrainingFrame: () => Promise.reject(new Error('not used')),
    close: () => Promise.resolve(),
  };
  return { store, written };
}

/** A Sql that keeps inserted id_transactions rows, refuses rows whose tag is in `refuse`, or is unreachable. */
function fakeSql(b: Behaviour): { sql: Sql; rows: unknown[][] } {
  const rows: unknown[][] = [];
  const width = INSERT_COLUMNS.length;
  const sql: Sql = {
    async query() {
      if (b.unreachable) throw down();
      return [];
    },
    async execute(statement, params = []) {
      if (b.unreachable) throw down();
      if (!statement.startsWith('INSERT INTO id_transactions')) return { affectedRows: 0 };
      const batch: unknown[][] = [];
      for (let i = 0; i < params.length; i += width) batch.push(params.slice(i, i + width));
      const bad = batch.find((r) => b.refuse.has(String(r[0])));
      if (bad)
        throw recordError('SINK_REJECTED', `MySQL refused a row: ER_DATA_TOO_LONG (${String(bad[0])})`);
      rows.push(...batch);
      return { affectedRows: batch.length };
    },
    end: () => Promise.resolve(),
    async transaction(fn) {
      const before = rows.length;
      try {
        return await fn(sql);
      } catch (e) {
        rows.length = before;
        throw e;
      }
    },
  };
  return { sql, rows };
}

function fakeCache(b: Behaviour): { cache: PredictionCache; predictions: Prediction[]; alerts: Alert[] } {
  const predictions: Prediction[] = [];
  const alerts: Alert[] = [];
  const unused = () => Promise.reject(new Error('not used'));
  const cache = {
    async write(ps: readonly Prediction[]) {
      if (b.unreachable) throw new TagstreamError('REDIS_UNAVAILABLE', 'Redis is away', { retryable: true });
      const bad = ps.find((p) => b.refuse.has(p.entity_id));
      if (bad) throw recordError('SINK_REJECTED', `the cache refused ${bad.entity_id}`);
      predictions.push(...ps);
      return ps.length;
    },
    async writeAlerts(as: readonly Alert[]) {
      if (b.unreachable) throw new TagstreamError('REDIS_UNAVAILABLE', 'Redis is away', { retryable: true });
      alerts.push(...as);
      return as.length;
    },
    latest: unused,
    range: unused,
    alerts: unused,
    counts: unused,
    ping: unused,
    close: () => Promise.resolve(),
  } as unknown as PredictionCache;
  return { cache, predictions, alerts };
}

function scan(tag: string): RfidScan {
  return {
    tag_id: tag,
    rental_class_num: 'TENT-40x60',
    scan_type: 'out',
    scan_date: T0,
    reader_id: 'R1',
    store_id: 'S1',
    quality_grade: 4,
    notes: null,
  };
}

async function deadLetters(driver: TestDriver, topic: string): Promise<DeadLetter[]> {
  return (await driver.read<DeadLetter>(`dlq.${topic}`)).map((r) => r.value);
}

interface Case {
  readonly name: string;
  readonly topic: string;
  readonly schema: ReturnType<typeof loadSchema>;
  /** Five good values; the one at index 2 is refused by the store when asked to. */
  readonly values: readonly unknown[];
  readonly refusedId: string;
  make(b: Behaviour): { topology: Topology; written: () => number };
}

const CASES: Case[] = [
  {
    name: 'feature store',
    topic: config.topics.featuresRealtime,
    schema: loadSchema('featureRow'),
    values: ['e0', 'e1', 'e2', 'e3', 'e4'].map((e) => feature(e)),
    refusedId: 'e2',
    make(b) {
      const { store, written } = fakeStore(b);
      return { topology: featureStoreTopology(config, store), written: () => written.length };
    },
  },
  {
    name: 'history',
    topic: `${config.topics.cleanPrefix}${config.topics.scans}`,
    schema: loadSchema('rfidScan'),
    values: ['T0', 'T1', 'T2', 'T3', 'T4'].map(scan),
    refusedId: 'T2',
    make(b) {
      const { sql, rows } = fakeSql(b);
      return { topology: historyTopology(config, sql), written: () => rows.length };
    },
  },
  {
    name: 'prediction cache',
    topic: `${config.topics.predictionsPrefix}demand`,
    schema: loadSchema('prediction'),
    values: ['p0', 'p1', 'p2', 'p3', 'p4'].map((e) => prediction({ entity_id: e })),
    refusedId: 'p2',
    make(b) {
      const { cache, predictions } = fakeCache(b);
      return { topology: predictionCacheTopology(config, cache), written: () => predictions.length };
    },
  },
];

describe.each(CASES)('the $name sink node', (c) => {
  const setup = async () => {
    const b: Behaviour = { unreachable: false, refuse: new Set() };
    const { topology, written } = c.make(b);
    const driver = await TestDriver.create(topology);
    const encoded = await Promise.all(c.values.map((v) => driver.encode(c.topic, c.schema, v)));
    return { b, driver, written, encoded };
  };

  it('dead-letters a garbage record with its code and writes the records around it', async () => {
    const { driver, written, encoded } = await setup();
    await driver.pipeRawBatch(c.topic, [
      { value: encoded[0]! },
      { value: GARBAGE },
      { value: encoded[1]! },
      { value: Buffer.from('not avro at all') },
      { value: encoded[3]! },
    ]);
    expect(written()).toBe(3);
    const dead = await deadLetters(driver, c.topic);
    expect(dead.map((d) => [d.offset, d.error_code, d.stage])).toEqual([
      [1, 'DECODE_UNKNOWN_SCHEMA', 'decode'],
      [3, 'DECODE_MAGIC_BYTE', 'decode'],
    ]);
    expect(dead[0]!.value).toEqual(GARBAGE);
    expect(driver.committed(c.topic)).toBe(5);
  });

  it('narrows a refused batch down to the record at fault, dead-letters it and writes the others', async () => {
    const { b, driver, written, encoded } = await setup();
    b.refuse.add(c.refusedId);
    await driver.pipeRawBatch(
      c.topic,
      encoded.map((value) => ({ value })),
    );
    expect(written()).toBe(4);
    const dead = await deadLetters(driver, c.topic);
    expect(dead.map((d) => [d.offset, d.error_code])).toEqual([[2, 'SINK_REJECTED']]);
    expect(dead[0]!.stage).toMatch(/^sink:/);
    expect(dead[0]!.value).toEqual(encoded[2]);
    expect(driver.committed(c.topic)).toBe(5);
  });

  it('leaves the batch uncommitted while the store is away, and writes it once when retried', async () => {
    const { b, driver, written, encoded } = await setup();
    b.unreachable = true;
    const batch = encoded.map((value) => ({ value }));
    await expect(driver.pipeRawBatch(c.topic, batch)).rejects.toMatchObject({ retryable: true });
    expect(driver.committed(c.topic)).toBe(0);
    expect(driver.topicsWritten()).toEqual([]);
    b.unreachable = false;
    await driver.pipeRawBatch(c.topic, batch);
    expect(written()).toBe(5);
    expect(driver.committed(c.topic)).toBe(5);
    expect(driver.topicsWritten()).toEqual([]);
  });
});

describe('the prediction cache sink node', () => {
  it("takes alerts from the alerts topic and dead-letters a record written with another topic's schema", async () => {
    const b: Behaviour = { unreachable: false, refuse: new Set() };
    const { cache, alerts } = fakeCache(b);
    const driver = await TestDriver.create(predictionCacheTopology(config, cache));
    const topic = config.topics.alerts;
    await driver.pipeBatch(topic, loadSchema('alert'), [{ value: alert() }]);
    // A scan written to the alerts topic by mistake: valid Avro, registered under another subject.
    const wrong = await driver.serde.encoderFor<RfidScan>('rfid.scans', loadSchema('rfidScan'));
    await driver.pipeRaw(topic, wrong(scan('T9')));
    expect(alerts).toEqual([alert()]);
    const dead = await deadLetters(driver, topic);
    expect(dead.map((d) => [d.error_code, d.stage])).toEqual([['DECODE_WRONG_SUBJECT', 'decode']]);
  });
});

describe('the feature store sink node and serving, on progress rows', () => {
  it("writes a progress row's offsets after its batch's rows, where serving's wait reads them", async () => {
    const b: Behaviour = { unreachable: false, refuse: new Set() };
    const { store, written } = fakeStore(b);
    const driver = await TestDriver.create(featureStoreTopology(config, store));
    const topic = config.topics.featuresWindowed;
    await driver.pipeBatch(
      topic,
      loadSchema('featureRow'),
      [
        { value: feature('e0') },
        { value: progressRow({ 'clean.rfid.scans:4': 120, 'clean.pos.transactions:1': 7 }, T0) },
        { value: feature('e1') },
      ],
      3,
    );
    // The rows' cells first, then the progress (stamped with the offset: the online store keeps the highest).
    expect(written.map((f) => [f.entity_id, f.feature_name, f.timestamp])).toEqual([
      ['e0', 'usage_frequency_7d', T0],
      ['e1', 'usage_frequency_7d', T0],
      [progressEntity(topic, 3), 'clean.rfid.scans:4', 120],
      [progressEntity(topic, 3), 'clean.pos.transactions:1', 7],
    ]);
    // Serving's reader finds them under the feature topic's partition and the clean topic.
    const read = onlineProgress({
      read: async (ids, refs) =>
        ids.map((id) =>
          refs.map((r) => {
            const f = written.find((w) => w.entity_id === id && w.feature_name === r.name);
            return f ? { timestamp: f.timestamp, value: f.feature_value } : null;
          }),
        ),
    });
    expect(await read(featureProgressTopic(topic, 3, 'clean.rfid.scans'), [4, 5])).toEqual(
      new Map([[4, 120n]]),
    );
    expect(await read(featureProgressTopic(topic, 2, 'clean.rfid.scans'), [4])).toEqual(new Map());
  });
});

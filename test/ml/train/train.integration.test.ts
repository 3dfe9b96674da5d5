// The training job end to end on the real MariaDB, Redis, Kafka and schema registry: a small synthetic history written
// straight to id_transactions (the history sink's statements) and ml_feature_store (the store's write()), then
// - the label/feature alignment through the real store: each demand label sees the day that just ended, not its own;
// - demand (next day, next 7 days) and maintenance trained with a small grid: models registered with ONNX, every
//   model and the baseline logged to ml_model_performance, gate decisions recorded, passing ones promoted and
//   announced on models.versions;
// - a second run whose gate cannot pass (required improvement 99%): production stays and the reason is recorded.
// The file gets its own database (tagstream_test_<id>, dropped after), Redis prefix and models.versions topic.
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { xoroshiro128plus } from 'pure-rand';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zoneOf } from '../../../src/features/zones.ts';
import { insertScansStatement, scanParams, type SourcedScan } from '../../../src/app/history-sink.ts';
import { createKafka } from '../../../src/io/kafka/client.ts';
import { migrate } from '../../../src/io/mysql/migrate.ts';
import { createLogger } from '../../../src/log.ts';
import { createSql, splitDatabase, type Sql } from '../../../src/io/mysql/pool.ts';
import { AvroSerde, confluentRegistry } from '../../../src/io/registry/registry.ts';
import { kafkaModelPublisher, type ModelVersionPublisher } from '../../../src/ml/registry/publisher.ts';
import { createModelRegistry, type ModelRegistry } from '../../../src/ml/registry/registry.ts';
import { demandFrame } from '../../../src/ml/train/features.ts';
import { loadScans } from '../../../src/ml/train/history.ts';
import {
  memberService,
  runTrainingJob,
  type GroundTruth,
  type JobOptions,
  type JobResult,
} from '../../../src/ml/train/job.ts';
import {
  countedScans,
  dailyUnits,
  demandLabels,
  localMidnight,
  maintenanceLabels,
} from '../../../src/ml/train/labels.ts';
import type { FeatureVector, RfidScan } from '../../../src/schemas/types.ts';
import {
  createFeatureStore,
  featureStoreOptions,
  type FeatureStoreHandle,
} from '../../../src/store/feature-store.ts';
import { dropTestDatabase, HINT, requireStack, testConfig, testKafka } from '../../helpers/stack.ts';

const ID = randomUUID().slice(0, 8);
const base = testConfig();
const { serverUrl } = splitDatabase(base.mysql.url);
const MYSQL_URL = `${serverUrl.replace(/\/$/, '')}/tagstream_test_${ID}`;
const config = testConfig({
  mysql: { url: MYSQL_URL },
  topics: { modelVersions: `t-${ID}.models.versions` },
  featureStore: { redisPrefix: `t-${ID}:` },
});
const DAY = 86_400_000;
const H = 3_600_000;
const STORE = 'S1';
const ZONE = zoneOf(config)(STORE);
const CLASSES = ['TENT', 'CHAIR', 'LIGHT'];
const BASE = [3, 8, 5];
const ITEMS = 16;
const FIRST = Date.UTC(2026, 0, 5) / DAY; // a Monday
const DAYS = 150;
const WEEKDAY = [0.6, 0.5, 0.5, 0.7, 1.0, 1.5, 1.8];

interface World {
  scans: SourcedScan[];
  features: FeatureVector[];
  /** units[class][day index] */
  units: number[][];
}

const fv = (
  entity: string,
  type: string,
  name: string,
  value: number,
  t: number,
  window: string | null = null,
): FeatureVector => ({
  entity_id: entity,
  entity_type: type,
  feature_name: name,
  feature_value: value,
  feature_type: 'test',
  timestamp: t,
  window,
  window_start: null,
  window_end: null,
  confidence: 1,
  source: 'test',
});

/**
 * One store, three classes. Demand per day: base × weekday × (0.3 if it rains) + noise, so a model that reads the
 * day's precipitation beats "same weekday last week". Items lose a grade now and then and the damage probability
 * rises steeply as the grade falls, so the grade at checkout predicts maintenance.
 */
function world(): World {
  const g = xoroshiro128plus(42);
  const u = (): number => (g.unsafeNext() >>> 0) / 4294967296;
  const scans: SourcedScan[] = [];
  const features: FeatureVector[] = [];
  let offset = 0;
  const push = (s: RfidScan): void => {
    scans.push({ scan: s, topic: 'clean.rfid.scans', partition: 0, offset: String(offset++) });
  };
  const items = CLASSES.map((c) =>
    Array.from({ length: ITEMS }, (_, i) => ({
      tag: `${STORE}-${c}-${String(i).padStart(3, '0')}`,
      grade: 5,
      freeFrom: 0,
      rentals: 0,
    })),
  );
  const units: number[][] = CLASSES.map(() => []);
  for (let d = 0; d < DAYS; d++) {
    const day = FIRST + d;
    const rain = u() < 0.3;
    features.push(fv(STORE, 'store', 'precipitation_in', rain ? 0.8 : 0, day * DAY));
    features.push(fv(STORE, 'store', 'temperature_f', 60 + 10 * u(), day * DAY));
    if (d % 7 === 0) features.push(fv('global', 'global', 'consumer_confidence', 100 + 5 * u(), day * DAY));
    const midnightEnd = localMidnight(day + 1, ZONE);
    CLASSES.forEach((cls, c) => {
      const want = Math.round(BASE[c]! * WEEKDAY[d % 7]! * (rain ? 0.3 : 1) + (u() < 0.3 ? 1 : 0));
      const free = items[c]!.filter((it) => it.freeFrom <= d).slice(0, want);
      units[c]!.push(free.length);
      free.forEach((it, k) => {
        const out = day * DAY + 14 * H + k * 60_000;
        const gradeOut = it.grade;
        push({
          tag_id: it.tag,
          rental_class_num: cls,
          scan_type: 'out',
          scan_date: out,
          reader_id: 'D',
          store_id: STORE,
          quality_grade: gradeOut,
          notes: null,
        });
        if (u() < 0.05)
          push({
            tag_id: it.tag,
            rental_class_num: cls,
            scan_type: 'out',
            scan_date: out + 900,
            reader_id: 'D2',
            store_id: STORE,
            quality_grade: gradeOut,
            notes: null,
          });
        it.rentals++;
        features.push(
          fv(it.tag, 'item', 'quality_grade', gradeOut, out),
          fv(it.tag, 'item', 'turnover_ltd', it.rentals, out),
        );
        const ret = out + DAY + H;
        if (u() < 0.25) it.grade = Math.max(1, it.grade - 1);
        push({
          tag_id: it.tag,
          rental_class_num: cls,
          scan_type: 'return',
          scan_date: ret,
          reader_id: 'R',
          store_id: STORE,
          quality_grade: it.grade,
          notes: null,
        });
        features.push(fv(it.tag, 'item', 'quality_grade', it.grade, ret));
        const pDamage = gradeOut <= 2 ? 0.7 : gradeOut === 3 ? 0.3 : 0.03;
        if (u() < pDamage) {
          push({
            tag_id: it.tag,
            rental_class_num: cls,
            scan_type: 'damage',
            scan_date: ret + H,
            reader_id: 'I',
            store_id: STORE,
            quality_grade: it.grade,
            notes: null,
          });
          it.grade = Math.min(5, it.grade + 2);
          push({
            tag_id: it.tag,
            rental_class_num: cls,
            scan_type: 'repair',
            scan_date: ret + DAY,
            reader_id: 'P',
            store_id: STORE,
            quality_grade: it.grade,
            notes: null,
          });
          it.freeFrom = d + 3;
        } else it.freeFrom = d + 2;
        push({
          tag_id: it.tag,
          rental_class_num: cls,
          scan_type: 'in',
          scan_date: day * DAY + 2 * DAY + 11 * H,
          reader_id: 'W',
          store_id: STORE,
          quality_grade: it.grade,
          notes: null,
        });
      });
      features.push(fv(`${STORE}|${cls}`, 'class', 'rentals', free.length, midnightEnd, '1d'));
      features.push(
        fv(
          `${STORE}|${cls}`,
          'class',
          'available_stock',
          items[c]!.filter((it) => it.freeFrom <= d + 1).length,
          midnightEnd,
        ),
      );
    });
  }
  return { scans, features, units };
}

const W = world();
let sql: Sql;
let store: FeatureStoreHandle;
let registry: ModelRegistry;
let kafka: Kafka;
let admin: Admin;
let publisher: ModelVersionPublisher | undefined;
const progress: string[] = [];

const jobOptions = (over: Partial<JobOptions> = {}): JobOptions => ({
  services: ['demand', 'maintenance'],
  holdoutDays: 21,
  k: 2,
  folds: 2,
  seed: 7,
  grid: 'small',
  promote: true,
  zoneOf: zoneOf(config),
  dedupWindowMs: config.windows.dedupWindowMs,
  historicalWindow: '90d',
  ...over,
});

const deps = () => ({
  sql,
  store,
  registry,
  publisher: async () => {
    publisher ??= await kafkaModelPublisher(
      config,
      createKafka(config, createLogger('train-test', 'warn')),
      new AvroSerde(confluentRegistry(config.schemaRegistry.url)),
    );
    return publisher;
  },
  now: () => Date.now(),
  progress: (line: string) => progress.push(line),
});

beforeAll(async () => {
  await requireStack(config);
  try {
    await migrate(MYSQL_URL);
  } catch (e) {
    throw new Error(`MariaDB/MySQL at ${serverUrl} is not usable (${(e as Error).message}): ${HINT}`);
  }
  sql = createSql(MYSQL_URL);
  store = createFeatureStore(featureStoreOptions(config));
  registry = createModelRegistry(sql);
  kafka = testKafka(config);
  admin = kafka.admin();
  await admin.connect();
  for (let i = 0; i < W.scans.length; i += 500) {
    const part = W.scans.slice(i, i + 500);
    await sql.execute(insertScansStatement(part.length), part.flatMap(scanParams));
  }
  await store.write(W.features);
});

afterAll(async () => {
  await publisher?.close();
  await admin?.deleteTopics({ topics: [config.topics.modelVersions] }).catch(() => undefined);
  await admin?.disconnect();
  await store?.close();
  await dropTestDatabase(sql, MYSQL_URL);
  await sql?.end();
});

interface PerfRow {
  service_name: string;
  model_type: string;
  model_version: string;
  performance_metrics: string;
  accuracy_score: number | null;
  is_active: number;
  params: string | null;
}

describe('training job', () => {
  it('aligns labels and features through the real store: day D sees the window of D-1, never its own', async () => {
    const scans = countedScans(await loadScans(sql), config.windows.dedupWindowMs);
    const series = dailyUnits(scans, { zoneOf: zoneOf(config) });
    const labels = demandLabels(series, zoneOf(config));
    const frame = await demandFrame(labels, store, '90d'); // throws if any value is stamped after its label
    expect(frame.report.maxLeadMs).toBeLessThanOrEqual(0);
    const rentals = frame.table.array('rentals@1d');
    const units = frame.table.array('units_1d');
    const lag1 = frame.table.array('units_lag_1');
    labels.forEach((l, i) => {
      const c = CLASSES.indexOf(l.rentalClass);
      const d = l.day - FIRST;
      // The label: counted out scans of the local day (double reads once); none after the last simulated day.
      expect(units[i]).toBe(W.units[c]![d] ?? 0);
      expect(rentals[i]).toBe(W.units[c]![d - 1] ?? null); // stamped exactly at the cut-off: visible
      expect(lag1[i]).toBe(W.units[c]![d - 1] ?? 0);
    });
  });

  let first: JobResult;

  it('trains demand and maintenance, registers, logs every model and promotes through the gate', async () => {
    // Ground truth that knows each rental's outcome: the ceiling it reports must be perfect, on every holdout row.
    const outcome = new Map(
      maintenanceLabels(countedScans(await loadScans(sql), config.windows.dedupWindowMs), jobOptions().k).map(
        (l) => [`${l.tagId}|${l.time}`, l.needs_repair],
      ),
    );
    const groundTruth: GroundTruth = {
      maintenance: (rows) => Float64Array.from(rows, (r) => outcome.get(`${r.tagId}|${r.time}`) ?? NaN),
    };
    first = await runTrainingJob(jobOptions({ groundTruth }), deps());
    if (process.env['TRAIN_TEST_VERBOSE']) console.log(progress.join('\n'));
    expect(first.failures).toEqual([]);
    expect(first.reports.map((r) => r.service)).toEqual(['demand', 'demand_7d', 'maintenance']);
    for (const r of first.reports) {
      const row = await registry.get(r.service, r.version);
      expect(row, r.service).toBeDefined();
      expect(row!.onnx.byteLength).toBeGreaterThan(0);
      expect(row!.status).toBe(r.promoted ? 'production' : 'candidate');
      expect(row!.notes).toMatch(r.gate.pass ? /^gate passed: / : /^gate failed: /);
      expect(r.promoted).toBe(r.gate.pass);
      if (r.promoted) expect((await registry.production(r.service))!.version).toBe(r.version);
    }
    // The synthetic demand follows the day's rain, which the naive forecast cannot know.
    const demand = first.reports.find((r) => r.service === 'demand')!;
    expect(demand.gate.pass).toBe(true);
    expect(demand.holdout.mae!).toBeLessThan(demand.baseline.metrics.mae!);
    const maintenance = first.reports.find((r) => r.service === 'maintenance')!;
    expect(maintenance.holdout.auc!).toBeGreaterThan(0.6);
    expect(maintenance.holdout.pr_auc!).toBeGreaterThan(maintenance.holdout.base_rate!);
    expect(maintenance.ceiling).toMatchObject({ rows: maintenance.rows.holdout, auc: 1, prAuc: 1 });
    expect(maintenance.ceiling!.ratio).toBeCloseTo(maintenance.holdout.auc!, 12);
    expect(maintenance.interval).toBeNull();

    // Ensembles: the members beside the primary, weighted by inverse CV score, promoted only when the ensemble
    // serves; the primary's spec names them exactly then.
    for (const r of first.reports) {
      const algorithms = r.algorithms.map((a) => a.algorithm);
      expect(r.ensemble.members.map((m) => m.algorithm).sort()).toEqual(
        algorithms.filter((a) => a !== r.best.algorithm).sort(),
      );
      const inverse = r.ensemble.weights.map(
        (w) => 1 / r.algorithms.find((a) => a.algorithm === w.algorithm)!.cvScore,
      );
      const total = inverse.reduce((a, b) => a + b, 0);
      r.ensemble.weights.forEach((w, i) => expect(w.weight).toBeCloseTo(inverse[i]! / total, 12));
      const best = Math.min(
        ...r.algorithms.map((a) => (r.task === 'regression' ? a.holdout.mae! : a.holdout.log_loss!)),
      );
      const ensembleValue = r.task === 'regression' ? r.ensemble.metrics.mae! : r.ensemble.metrics.log_loss!;
      expect(r.ensemble.served).toBe(ensembleValue < best);
      const primary = (await registry.get(r.service, r.version))!;
      expect(primary.spec.members).toEqual(
        r.ensemble.served ? r.ensemble.members.map((m) => m.service) : undefined,
      );
      expect(primary.reference).toBeDefined();
      for (const m of r.ensemble.members) {
        expect(m.service).toBe(memberService(r.service, m.algorithm));
        const row = (await registry.get(m.service, m.version))!;
        expect(row.spec.service).toBe(m.service);
        expect(row.status).toBe(r.promoted && r.ensemble.served ? 'production' : 'candidate');
      }
    }

    // Intervals for the regression services: calibrated before the holdout, stored with the model.
    for (const r of first.reports.filter((x) => x.task === 'regression')) {
      expect(r.interval, r.service).not.toBeNull();
      const i = r.interval!;
      expect(i.coverage).toBe(0.8);
      expect(i.calibrationRows).toBeGreaterThan(0);
      expect(i.lower).toBeLessThanOrEqual(i.upper);
      // In this small world demand_7d's three-week holdout does not look like its calibration block (79% and 6%
      // coverage when written): conformal coverage assumes the two alike, so it is measured on the simulated year.
      if (r.service === 'demand') expect(i.holdoutCoverage).toBeGreaterThan(0.6);
      expect((await registry.get(r.service, r.version))!.interval).toEqual({
        coverage: i.coverage,
        lower: i.lower,
        upper: i.upper,
      });
    }

    const rows = await sql.query<PerfRow>(
      'SELECT * FROM ml_model_performance ORDER BY service_name, model_type',
    );
    for (const r of first.reports) {
      const mine = rows.filter((x) => x.service_name === r.service);
      // One row per algorithm and one for the naive baseline.
      expect(mine.map((x) => x.model_type).sort()).toEqual(
        (r.task === 'regression'
          ? ['gradient_boosting', 'linear', 'naive_baseline', 'random_forest']
          : ['gradient_boosting', 'logistic', 'naive_baseline', 'random_forest']
        ).sort(),
      );
      const chosen = mine.find((x) => x.model_version === r.version)!;
      expect(chosen.model_type).toBe(r.best.algorithm);
      const metrics = JSON.parse(chosen.performance_metrics) as {
        gate: { pass: boolean; reasons: string[] };
      };
      expect(metrics.gate.pass).toBe(r.gate.pass);
      expect(metrics.gate.reasons.length).toBeGreaterThanOrEqual(2);
      expect(Boolean(chosen.is_active)).toBe(r.promoted);
      expect(JSON.parse(chosen.params!)).toHaveProperty('candidates');
      expect(Number(chosen.accuracy_score)).toBeCloseTo(
        r.task === 'regression' ? r.holdout.mae! : r.holdout.auc!,
        9,
      );
    }
    // Progress: folds and candidates, the gate's reasons.
    expect(progress.some((l) => /^\[demand\] fold 1\/2 candidate 1\/3 linear mae=/.test(l))).toBe(true);
    expect(progress.some((l) => /^\[maintenance\] gate: /.test(l))).toBe(true);
  });

  it('keeps production when the gate fails, and records why', async () => {
    const before = await registry.production('demand');
    // Versions are named to the second and tied to the bytes: the same data retrained within the second of the
    // previous test's registration is that same version (registration is idempotent), not a new candidate.
    await new Promise((r) => setTimeout(r, 1_000 - (Date.now() % 1_000) + 10));
    const second = await runTrainingJob(jobOptions({ services: ['demand'], minImprovement: 0.99 }), deps());
    const r = second.reports.find((x) => x.service === 'demand')!;
    expect(r.gate.pass).toBe(false);
    expect(r.promoted).toBe(false);
    expect(r.production?.version).toBe(before!.version);
    expect(r.gate.reasons.join(' ')).toMatch(/99.0% required/);
    expect((await registry.production('demand'))!.version).toBe(before!.version);
    expect((await registry.get('demand', r.version))!.status).toBe('candidate');
    const [row] = await sql.query<PerfRow>(
      'SELECT * FROM ml_model_performance WHERE service_name = ? AND model_version = ?',
      ['demand', r.version],
    );
    expect(JSON.parse(row!.performance_metrics).gate.pass).toBe(false);
    expect(Boolean(row!.is_active)).toBe(false);
    expect(progress.some((l) => l === `[demand] gate failed: production stays ${before!.version}`)).toBe(
      true,
    );
  });
});

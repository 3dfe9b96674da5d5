// `npm run bench:inference`: microseconds per event for one model served through onnxruntime-node (one row per
// call, and batches) and through the JS predictor; then the whole item-scoring stage (online feature read, item
// history, derived features, two ONNX models, encoding) on the in-process driver, one event per consumed batch and
// micro-batched. In process, no services needed (the online store and the history are in memory).
import { cleanTopic, predictionTopic } from '../config/topics.ts';
import { Command } from 'commander';
import type { ModelSpec } from '../src/ml/model-spec.ts';
import { exportOnnx } from '../src/ml/onnx/export.ts';
import { type OnnxModel, loadModel } from '../src/ml/onnx/session.ts';
import { compilePredictor, predictSpec } from '../src/ml/predict.ts';
import { type Kind, maxRelativeError, randomFixture, randomRows, seeded } from '../test/ml/random-spec.ts';
import { parseConfig } from '../config/load.ts';
import { scoringBranches } from '../pipelines/serving.ts';
import { LoadedModel } from '../src/ml/registry/watcher.ts';
import { columnName } from '../src/features/keys.ts';
import { RENTAL_HISTORY, RENTAL_ITEM_REFS, rentalClassRefs } from '../src/features/vocabulary.ts';
import { createLogger } from '../src/log.ts';
import { TestDriver } from '../src/runtime/test-driver.ts';
import { topology } from '../src/runtime/topology.ts';
import { loadSchema } from '../src/schemas/catalog.ts';
import type { RfidScan } from '../src/schemas/types.ts';
import { noopServingMetrics } from '../src/serving/metrics.ts';

const opts = new Command('bench:inference')
  .description('Time model inference per event: onnxruntime-node (single rows, batches) and the JS predictor')
  .option('-n, --rows <n>', 'events per measurement', '20000')
  .option('--trees <n>', 'trees in the tree model', '100')
  .option('--depth <n>', 'depth of every tree', '6')
  .option('--numeric <n>', 'numeric features', '25')
  .option('--categorical <n>', 'categorical features', '2')
  .option('--threads <list>', 'onnxruntime intra-op threads to try (0 = onnxruntime default)', '1,0')
  .option('--stage-events <n>', 'events through the item-scoring stage per measurement', '5000')
  .parse()
  .opts<{
    rows: string;
    trees: string;
    depth: string;
    numeric: string;
    categorical: string;
    threads: string;
    stageEvents: string;
  }>();

const n = Number(opts.rows);
const threadOptions = opts.threads.split(',').map(Number);
const BATCHES = [1, 64, 256];

/** Microseconds per event for `run` over all n rows in slices of `batch`, after one untimed warm-up pass. */
async function time(batch: number, run: (start: number, count: number) => unknown): Promise<number> {
  for (let pass = 0; pass < 2; pass++) {
    const started = performance.now();
    for (let start = 0; start < n; start += batch) await run(start, Math.min(batch, n - start));
    if (pass === 1) return ((performance.now() - started) * 1000) / n;
  }
  return Number.NaN;
}

interface Row {
  readonly label: string;
  readonly cells: string[];
}

async function benchModel(
  kind: Kind,
  title: string,
): Promise<{ title: string; rows: Row[]; parity: number }> {
  const rng = seeded(2026);
  const fx = randomFixture(rng, {
    kind,
    numeric: Number(opts.numeric),
    categorical: Number(opts.categorical),
    trees: Number(opts.trees),
    maxDepth: Number(opts.depth),
    fullTrees: true,
  });
  const spec: ModelSpec = fx.spec;
  const data = randomRows(rng, fx, n, { missing: 0.05, unknown: 0.05 });
  const f = spec.preprocessing.numeric.length;
  const k = spec.preprocessing.categorical.length;
  const bytes = exportOnnx(spec);

  const rows: Row[] = [];
  let parity = 0;
  for (const threads of threadOptions) {
    const model: OnnxModel = await loadModel(bytes, threads > 0 ? { threads } : {});
    const cells: string[] = [];
    for (const batch of BATCHES) {
      const us = await time(batch, (start, count) =>
        model.predict(
          data.numeric32.subarray(start * f, (start + count) * f),
          count,
          k > 0 ? data.categoricalFlat.slice(start * k, (start + count) * k) : undefined,
        ),
      );
      cells.push(us.toFixed(2));
    }
    const all = await model.predict(data.numeric32, n, k > 0 ? data.categoricalFlat : undefined);
    parity = Math.max(parity, maxRelativeError(all, predictSpec(spec, data.numeric, data.categorical)));
    await model.close();
    rows.push({
      label: `onnxruntime, ${threads > 0 ? `${threads} thread${threads > 1 ? 's' : ''}` : 'default threads'}`,
      cells,
    });
  }
  const predict = compilePredictor(spec);
  const cells: string[] = [];
  for (const batch of BATCHES) {
    const us =
      batch === 1
        ? await time(1, (start) => predict(data.numeric[start]!, data.categorical[start]))
        : await time(batch, (start, count) =>
            predictSpec(
              spec,
              data.numeric.slice(start, start + count),
              data.categorical.slice(start, start + count),
            ),
          );
    cells.push(us.toFixed(2));
  }
  rows.push({ label: 'JS predictor', cells });
  return { title, rows, parity };
}

const results = [
  await benchModel(
    'boosted-regressor',
    `tree-regressor: ${opts.trees} trees, depth ${opts.depth} (${Number(opts.trees) * (2 ** (Number(opts.depth) + 1) - 1)} nodes)`,
  ),
  await benchModel('logistic-classifier', 'logistic-classifier'),
];

const header = ['', ...BATCHES.map((b) => (b === 1 ? '1 row/call' : `${b} rows/call`))];
const width = (i: number) =>
  Math.max(
    ...[header[i]!, ...results.flatMap((r) => r.rows.map((row) => [row.label, ...row.cells][i]!))].map(
      (s) => s.length,
    ),
  );
const line = (cells: readonly string[]) =>
  cells.map((c, i) => (i === 0 ? c.padEnd(width(0)) : c.padStart(width(i)))).join('  ');

console.log(
  `bench:inference: ${n} events per measurement, ${opts.numeric} numeric + ${opts.categorical} categorical features ` +
    `(5% missing, 5% unknown categories); microseconds per event`,
);
for (const r of results) {
  console.log(`\n${r.title}   (max relative difference ONNX vs JS: ${r.parity.toExponential(1)})`);
  console.log(line(header));
  for (const row of r.rows) console.log(line([row.label, ...row.cells]));
}

/**
 * The item-scoring stage: maintenance and quality models (the benchmark's tree model, its columns named after the
 * rental frame's) scored for `out` scans fed as consumed batches of `batch` records.
 */
async function benchStage(): Promise<string[]> {
  const config = parseConfig({});
  const columns = [...RENTAL_HISTORY, ...[...RENTAL_ITEM_REFS, ...rentalClassRefs('90d')].map(columnName)];
  const rng = seeded(7);
  const model = async (service: string): Promise<LoadedModel> => {
    const fx = randomFixture(rng, {
      kind: 'boosted-regressor',
      numeric: columns.length,
      categorical: 2,
      trees: Number(opts.trees),
      maxDepth: Number(opts.depth),
      fullTrees: true,
    });
    const spec: ModelSpec = {
      ...fx.spec,
      service,
      preprocessing: {
        ...fx.spec.preprocessing,
        numeric: columns,
        categorical: ['store_id', 'rental_class_num'],
      },
    };
    const info = {
      service,
      version: `${service}-bench`,
      promotedAt: 0,
      algorithm: 'gradient_boosting',
      sha256: '',
      featureNames: columns,
      spec,
      metrics: {},
      validationScore: null,
    };
    return new LoadedModel(info, await loadModel(exportOnnx(spec), { threads: 1 }));
  };
  const models = new Map([
    ['maintenance', await model('maintenance')],
    ['quality', await model('quality')],
  ]);
  const values = new Map(columns.map((c, i) => [c, { value: i % 7, timestamp: 0 }]));
  const deps = {
    online: {
      read: async (entities: readonly string[], refs: readonly { name: string; window?: string }[]) =>
        entities.map(() => refs.map((r) => values.get(columnName(r)) ?? null)),
      readAsOf: async (points: readonly unknown[], refs: readonly { name: string; window?: string }[]) =>
        points.map(() => refs.map((r) => values.get(columnName(r)) ?? null)),
    },
    models: {
      current: (s: string) => models.get(s),
      versions: () => Object.fromEntries([...models].map(([s, m]) => [s, m.version])),
    },
    demandHistory: { forDay: async () => () => ({}) as never },
    classRentals: { forDay: async () => () => [] },
    rentalHistory: async (items: readonly unknown[]) =>
      items.map((_, i) => ({
        prior_rentals: i % 9,
        prior_damages: i % 2,
        days_since_last_use: i % 5,
        usage_frequency_7d: (i % 4) / 7,
      })),
    metrics: noopServingMetrics,
    log: createLogger('bench', 'error'),
    now: Date.now,
    zoneOf: () => 'UTC',
    storeIds: ['S1'],
    historicalWindow: '90d',
    batch: { maxBatch: 256, maxWaitMs: 1 },
    pricing: config.serving.pricing,
    packHorizonDays: 7,
    maintenanceK: 3,
  };
  const driver = await TestDriver.create(topology('bench', scoringBranches(config, deps)));
  const topic = cleanTopic(config.topics, config.topics.scans);
  const schema = loadSchema('rfidScan');
  const n = Number(opts.stageEvents);
  const scans = Array.from({ length: n }, (_, i) => ({
    value: {
      tag_id: `TAG-${i}`,
      rental_class_num: `C${i % 40}`,
      scan_type: 'out',
      scan_date: Date.UTC(2026, 5, 1) + i,
      reader_id: 'R1',
      store_id: 'S1',
      quality_grade: 1 + (i % 5),
      notes: null,
    } satisfies RfidScan,
  }));
  const cells: string[] = [];
  for (const batch of [1, 256]) {
    for (let pass = 0; pass < 2; pass++) {
      const started = performance.now();
      for (let i = 0; i < n; i += batch) await driver.pipeBatch(topic, schema, scans.slice(i, i + batch));
      if (pass === 1) cells.push((((performance.now() - started) * 1000) / n).toFixed(1));
      await driver.read(predictionTopic(config.topics, 'maintenance'));
      await driver.read(predictionTopic(config.topics, 'quality'));
    }
  }
  for (const m of models.values()) await m.close();
  return cells;
}

const stage = await benchStage();
console.log(
  `\nitem-scoring stage (features + item history + derived + maintenance and quality models + Avro), ${opts.stageEvents} out scans:`,
);
console.log(
  `  one event per consumed batch: ${stage[0]} µs/event; consumed batches of 256 (micro-batched): ${stage[1]} µs/event`,
);

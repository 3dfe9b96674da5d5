// `npm run bench:inference`: microseconds per event for one model served through onnxruntime-node (one row per
// call, and batches) and through the JS predictor. In process, no services needed.
import { Command } from 'commander';
import type { ModelSpec } from '../src/ml/model-spec.ts';
import { exportOnnx } from '../src/ml/onnx/export.ts';
import { type OnnxModel, loadModel } from '../src/ml/onnx/session.ts';
import { compilePredictor, predictSpec } from '../src/ml/predict.ts';
import { type Kind, maxRelativeError, randomFixture, randomRows, seeded } from '../test/ml/random-spec.ts';

const opts = new Command('bench:inference')
  .description('Time model inference per event: onnxruntime-node (single rows, batches) and the JS predictor')
  .option('-n, --rows <n>', 'events per measurement', '20000')
  .option('--trees <n>', 'trees in the tree model', '100')
  .option('--depth <n>', 'depth of every tree', '6')
  .option('--numeric <n>', 'numeric features', '25')
  .option('--categorical <n>', 'categorical features', '2')
  .option('--threads <list>', 'onnxruntime intra-op threads to try (0 = onnxruntime default)', '1,0')
  .parse()
  .opts<{
    rows: string;
    trees: string;
    depth: string;
    numeric: string;
    categorical: string;
    threads: string;
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

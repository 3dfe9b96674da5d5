// `npm run bench:train`: on a year of daily demand for 40 classes x 3 stores (43,800 rows), (1) the time to train every
// candidate of the default grids (3 time-ordered folds) as regression and as classification, and (2) the histogram
// tree learner against the exact one (the same code with one bin per distinct value) and, where Debian's `xgboost`
// CLI is installed, against xgboost on the same CSV: gradient boosting with the same rounds, rate and depth, trained
// on the first 80% of the days and scored on the rest. The last line compares hist with exact.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainCandidates } from '../src/ml/cv.ts';
import { mae } from '../src/ml/metrics.ts';
import {
  fitGradientBoosting,
  predictTrees,
  prepareTreeData,
  type BoostParams,
} from '../src/ml/models/trees.ts';
import { deriveFeatures, fitPreprocessing, toMatrix32 } from '../src/ml/preprocess.ts';
import { CATEGORICAL, NUMERIC, demandRows, tableOf } from '../test/ml/demand-rows.ts';

const say = (line: string): void => console.log(line);
const seconds = (started: number): number => (performance.now() - started) / 1000;

const rows = demandRows({ classes: 40, stores: 3, days: 365, seed: 1 });
say(`bench:train: ${rows.length} rows (40 classes x 3 stores x 365 days)`);

// (1) Model selection with the default grids.
for (const task of ['regression', 'classification'] as const) {
  const t = tableOf(
    task === 'regression' ? rows : rows.map((r) => ({ ...r, busy: (r['demand'] as number) > 6 ? 1 : 0 })),
  );
  const started = performance.now();
  const result = trainCandidates(t, {
    target: task === 'regression' ? 'demand' : 'busy',
    time: 'day',
    numeric: NUMERIC,
    categorical: CATEGORICAL,
    task,
    seed: 7,
    refit: 'all',
  });
  say(
    `${task}: every candidate, 3 folds and the refits in ${seconds(started).toFixed(1)} s; ` +
      result.algorithms.map((a) => `${a.algorithm} ${result.metric} ${a.score.toFixed(4)}`).join('; '),
  );
}

// (2) One boosted ensemble: histogram vs exact split search vs xgboost, on the same preprocessed rows.
const split = 292; // first 80% of the days train
const all = deriveFeatures(tableOf(rows));
const days = all.array('day') as ArrayLike<number>;
const trainIdx: number[] = [];
const testIdx: number[] = [];
for (let i = 0; i < all.numRows(); i++) (days[i]! < split ? trainIdx : testIdx).push(i);
const train = all.reify(trainIdx);
const test = all.reify(testIdx);
const pre = fitPreprocessing(train, { numeric: NUMERIC, categorical: CATEGORICAL, scale: false });
const X = toMatrix32(train, pre);
const Xt = toMatrix32(test, pre);
const y = Float64Array.from(train.array('demand') as ArrayLike<number>);
const yt = Float64Array.from(test.array('demand') as ArrayLike<number>);
const params: BoostParams = { nTrees: 200, learningRate: 0.1, maxDepth: 6, minSamplesLeaf: 20, seed: 7 };
say(
  `gradient boosting, ${params.nTrees} rounds, rate ${params.learningRate}, depth ${params.maxDepth}, ` +
    `min leaf ${params.minSamplesLeaf}: ${X.length} training rows x ${X[0]!.length} features, ${Xt.length} test rows`,
);

function fit(maxBins: number, label: string): { seconds: number; mae: number } {
  const started = performance.now();
  const data = prepareTreeData(X, maxBins);
  const bins = data.histOffset[data.p]!;
  const model = fitGradientBoosting(data, y, params, 'regression');
  const s = seconds(started);
  const m = mae(
    yt,
    Xt.map((x) => predictTrees(model, x)),
  );
  say(
    `  ${label}: ${bins} bins over all features, fit ${s.toFixed(2)} s (binning included), test MAE ${m.toFixed(4)}`,
  );
  return { seconds: s, mae: m };
}

const hist = fit(255, 'hist  (maxBins 255)');
const exact = fit(65536, 'exact (one bin per distinct value)');

const xgboost = spawnSync('xgboost', ['--help'], { encoding: 'utf8' });
if (xgboost.error !== undefined)
  say('  xgboost: skipped (no `xgboost` CLI here; Debian: apt-get install xgboost)');
else {
  const dir = mkdtempSync(join(tmpdir(), 'bench-train-'));
  try {
    const csv = (file: string, Xs: readonly Float32Array[], ys: Float64Array): string => {
      const path = join(dir, file);
      writeFileSync(path, Xs.map((x, i) => `${ys[i]},${Array.from(x).join(',')}`).join('\n') + '\n');
      return `${path}?format=csv&label_column=0`;
    };
    const trainCsv = csv('train.csv', X, y);
    const testCsv = csv('test.csv', Xt, yt);
    const model = join(dir, 'model.bin');
    const pred = join(dir, 'pred.txt');
    // lambda 0: no L2 on leaf values, as here; min_child_weight is the least hessian (= rows, squared loss) per leaf.
    const common = [
      'booster=gbtree',
      'objective=reg:squarederror',
      `eta=${params.learningRate}`,
      `max_depth=${params.maxDepth}`,
      `min_child_weight=${params.minSamplesLeaf}`,
      'lambda=0',
      `num_round=${params.nTrees}`,
    ];
    const conf = join(dir, 'train.conf');
    writeFileSync(conf, '');
    for (const [method, threads] of [
      ['hist', 1],
      ['exact', 1],
    ] as const) {
      const started = performance.now();
      execFileSync(
        'xgboost',
        [
          conf,
          ...common,
          `tree_method=${method}`,
          'max_bin=255',
          `nthread=${threads}`,
          `data=${trainCsv}`,
          `model_out=${model}`,
        ],
        { stdio: 'ignore' },
      );
      const s = seconds(started);
      execFileSync(
        'xgboost',
        [conf, 'task=pred', `model_in=${model}`, `test:data=${testCsv}`, `name_pred=${pred}`],
        {
          stdio: 'ignore',
        },
      );
      const p = readFileSync(pred, 'utf8').trim().split('\n').map(Number);
      say(
        `  xgboost ${method.padEnd(5)} (CLI, ${threads} thread): fit ${s.toFixed(2)} s (CSV parsing included), ` +
          `test MAE ${mae(yt, p).toFixed(4)}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

say(
  `train: hist ${(exact.seconds / hist.seconds).toFixed(1)}x faster than exact, MAE ratio ${(hist.mae / exact.mae).toFixed(4)}`,
);

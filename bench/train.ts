// `npm run bench:train`: time to train every candidate (default grids, 3 time-ordered folds) on a year of daily
// demand for 40 classes x 3 stores (43,800 rows), as regression and as classification.
import { trainCandidates } from '../src/ml/cv.ts';
import { CATEGORICAL, NUMERIC, demandRows, tableOf } from '../test/ml/demand-rows.ts';

const rows = demandRows({ classes: 40, stores: 3, days: 365, seed: 1 });
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
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${task}: ${rows.length} rows in ${seconds.toFixed(1)} s; ` +
      result.algorithms.map((a) => `${a.algorithm} ${result.metric} ${a.score.toFixed(4)}`).join('; '),
  );
}

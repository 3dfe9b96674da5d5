// Every kind of model export.ts writes passes onnx's own checker with full_check (type and shape inference
// over the whole graph), run by Debian's python3-onnx under /usr/bin/python3. That package is a test
// dependency (.ci/run installs it); when it is missing these tests fail and say how to install it, no skipping.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelSpec } from '../../../src/ml/model-spec.ts';
import { exportOnnx } from '../../../src/ml/onnx/export.ts';
import { KINDS, randomFixture, seeded } from '../random-spec.ts';

/** Debian's interpreter, not the `python3` on PATH (which may be a pyenv or venv without onnx). */
const PYTHON = '/usr/bin/python3';
const INSTALL_HINT =
  `onnx is not importable by ${PYTHON}: run \`apt-get install -y --no-install-recommends python3-onnx\` ` +
  '(Debian’s package, onnx 1.12 on Debian 12; .ci/run installs it)';

/** Checks each file; prints one JSON object: path → null when it passes, else the checker's message. */
const CHECK = `
import json, sys
import onnx
result = {}
for path in sys.argv[1:]:
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
        result[path] = None
    except Exception as e:
        result[path] = f"{type(e).__name__}: {e}"
print(json.dumps(result))
`;

function python(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(PYTHON, [...args], { encoding: 'utf8' });
  if (res.error) throw new Error(`${INSTALL_HINT} (${res.error.message})`);
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** onnx's version as /usr/bin/python3 sees it; throws with the install hint when it cannot import onnx. */
function onnxVersion(): string {
  const res = python(['-c', 'import onnx; print(onnx.__version__)']);
  if (res.status !== 0) throw new Error(`${INSTALL_HINT}\n${res.stderr.trim()}`);
  return res.stdout.trim();
}

/** Runs the checker once over all the files: path → null (passes) or the checker's message. */
function checkModels(paths: readonly string[]): Record<string, string | null> {
  onnxVersion();
  const res = python(['-c', CHECK, ...paths]);
  if (res.status !== 0) throw new Error(`the checker script failed (exit ${res.status}):\n${res.stderr}`);
  return JSON.parse(res.stdout) as Record<string, string | null>;
}

const isTree = (kind: string): boolean => kind !== 'linear-regressor' && kind !== 'logistic-classifier';

/** A linear model on one numeric column and the given categorical columns (no features from an empty one). */
function smallLinear(categories: readonly (readonly string[])[]): ModelSpec {
  const width = 1 + categories.reduce((s, c) => s + c.length, 0);
  return {
    service: 'test',
    algorithm: 'edge',
    preprocessing: {
      numeric: ['a'],
      impute: [0.5],
      categorical: categories.map((_, j) => `k${j}`),
      categories,
      offset: Array.from({ length: width }, () => 0),
      scale: Array.from({ length: width }, () => 1),
    },
    estimator: {
      kind: 'logistic-classifier',
      coefficients: Array.from({ length: width }, (_, i) => i + 1),
      intercept: -1,
    },
  };
}

interface Case {
  readonly name: string;
  readonly spec: ModelSpec;
}

// Every estimator kind with and without categorical inputs (trees also unscaled and scaled, linear models are
// always scaled), a single numeric column, and categorical columns that add no feature (no known category).
const rng = seeded(12);
const cases: Case[] = [
  ...KINDS.flatMap((kind) =>
    [0, 2].flatMap((categorical) =>
      (isTree(kind) ? [false, true] : [true]).map((scaled) => ({
        name: `${kind}, ${categorical} categorical, scaled ${scaled}`,
        spec: randomFixture(rng, { kind, numeric: 5, categorical, scaled, trees: 5 }).spec,
      })),
    ),
  ),
  {
    name: 'boosted-classifier, one numeric column',
    spec: randomFixture(rng, { kind: 'boosted-classifier', numeric: 1, categorical: 0, trees: 3 }).spec,
  },
  {
    name: 'logistic-classifier, one categorical column without categories',
    spec: smallLinear([[], ['x', 'y']]),
  },
  { name: 'logistic-classifier, only categorical columns without categories', spec: smallLinear([[]]) },
];

describe(`onnx.checker.check_model(full_check=True) under ${PYTHON} (python3-onnx)`, () => {
  let dir = '';
  // A checker that cannot run fails every case below with its reason (a throwing beforeAll would mark them
  // skipped).
  let results: Record<string, string | null> | Error = {};
  const pathOf = (i: number): string => join(dir, `model-${i}.onnx`);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tagstream-onnx-checker-'));
    await Promise.all(cases.map((c, i) => writeFile(pathOf(i), exportOnnx(c.spec))));
    try {
      results = checkModels(cases.map((_, i) => pathOf(i)));
    } catch (e) {
      results = e instanceof Error ? e : new Error(String(e));
    }
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('python3-onnx is installed', () => {
    expect(onnxVersion()).toMatch(/^1\.\d+/);
  });

  it.each(cases.map((c, i) => ({ ...c, i })))('$name passes', ({ i }) => {
    if (results instanceof Error) throw results;
    const path = pathOf(i);
    expect(path in results, `the checker did not report on ${path}`).toBe(true);
    expect(results[path], `onnx.checker: ${results[path]}`).toBeNull();
  });
});

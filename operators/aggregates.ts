// Aggregates shaped { init, add, remove?, merge, result } (arquero's aggregate ops, Beam's CombineFn); accumulators
// are plain JSON values so that window state can be written to a changelog and restored.

export interface Aggregate<V, A, R> {
  init(): A;
  add(acc: A, value: V): A;
  /** Present when a value can be taken out again (sliding windows use it; without it they recompute). */
  remove?(acc: A, value: V): A;
  merge(a: A, b: A): A;
  result(acc: A): R;
}

export type NumericAggregate = Aggregate<number, unknown, number>;

export const count: Aggregate<unknown, number, number> = {
  init: () => 0,
  add: (a) => a + 1,
  remove: (a) => a - 1,
  merge: (a, b) => a + b,
  result: (a) => a,
};

export const sum: Aggregate<number, number, number> = {
  init: () => 0,
  add: (a, v) => a + v,
  remove: (a, v) => a - v,
  merge: (a, b) => a + b,
  result: (a) => a,
};

/** [count, sum]; the mean of nothing is 0 (a feature needs a number; the store documents its default). */
export const mean: Aggregate<number, [number, number], number> = {
  init: () => [0, 0],
  add: ([n, s], v) => [n + 1, s + v],
  remove: ([n, s], v) => [n - 1, s - v],
  merge: ([n1, s1], [n2, s2]) => [n1 + n2, s1 + s2],
  result: ([n, s]) => (n === 0 ? 0 : s / n),
};

/** min and max have no `remove`: a sliding window recomputes them from its buffered values. Empty gives 0. */
export const min: Aggregate<number, number | null, number> = {
  init: () => null,
  add: (a, v) => (a === null || v < a ? v : a),
  merge: (a, b) => (a === null ? b : b === null ? a : Math.min(a, b)),
  result: (a) => a ?? 0,
};

export const max: Aggregate<number, number | null, number> = {
  init: () => null,
  add: (a, v) => (a === null || v > a ? v : a),
  merge: (a, b) => (a === null ? b : b === null ? a : Math.max(a, b)),
  result: (a) => a ?? 0,
};

/**
 * Distinct values with their multiplicity, so that `remove` is exact. Keys carry a 'v:' prefix so that values
 * such as "__proto__" or "toString" are plain keys, never the object's prototype.
 */
export const distinctCount: Aggregate<string | number, Record<string, number>, number> = {
  init: () => ({}),
  add: (a, v) => {
    const k = `v:${String(v)}`;
    return { ...a, [k]: (a[k] ?? 0) + 1 };
  },
  remove: (a, v) => {
    const k = `v:${String(v)}`;
    const n = (a[k] ?? 0) - 1;
    const { [k]: _gone, ...rest } = a;
    return n > 0 ? { ...rest, [k]: n } : rest;
  },
  merge: (a, b) => {
    const out = { ...a };
    for (const [k, n] of Object.entries(b)) out[k] = (out[k] ?? 0) + n;
    return out;
  },
  result: (a) => Object.keys(a).length,
};

/** One field of an input value fed to one aggregate, e.g. sum of quantity. */
export interface Measure<In> {
  readonly aggregate: Aggregate<never, unknown, number>;
  readonly value: (input: In) => number | string;
}

export function measure<In, V extends number | string>(
  aggregate: Aggregate<V, never, number> | Aggregate<V, unknown, number>,
  value: (input: In) => V,
): Measure<In> {
  return { aggregate: aggregate as unknown as Aggregate<never, unknown, number>, value };
}

/**
 * Several named measures as one aggregate over the input records: accumulators side by side, results by name.
 * `remove` exists only when every measure has one.
 */
export function combine<In>(
  measures: Readonly<Record<string, Measure<In>>>,
): Aggregate<In, Record<string, unknown>, Record<string, number>> {
  const entries = Object.entries(measures);
  const canRemove = entries.every(([, m]) => m.aggregate.remove !== undefined);
  // Plain loops into a fresh object: this runs for every record and window (Object.fromEntries over a mapped
  // array was a quarter of bench:windows' time).
  const each = (f: (k: string, m: Measure<In>) => unknown): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [k, m] of entries) out[k] = f(k, m);
    return out;
  };
  const agg: Aggregate<In, Record<string, unknown>, Record<string, number>> = {
    init: () => each((_k, m) => m.aggregate.init()),
    add: (acc, input) => each((k, m) => m.aggregate.add(acc[k], m.value(input) as never)),
    merge: (a, b) => each((k, m) => m.aggregate.merge(a[k], b[k])),
    result: (acc) => each((k, m) => m.aggregate.result(acc[k])) as Record<string, number>,
  };
  if (canRemove)
    agg.remove = (acc, input) =>
      each((k, m) =>
        (m.aggregate.remove as NonNullable<typeof m.aggregate.remove>)(acc[k], m.value(input) as never),
      );
  return agg;
}

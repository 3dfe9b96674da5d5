// Aggregates shaped { init, add, remove?, merge, result } (arquero's aggregate ops, Beam's CombineFn); accumulators
// are plain JSON values so that window state can be written to a changelog and restored.

export interface Aggregate<V, A, R> {
  init(): A;
  add(acc: A, value: V): A;
  /** Present when a value can be taken out again. */
  remove?(acc: A, value: V): A;
  /** Associative: sliding windows merge their per-hop partial aggregates (in hop order) into the window's value. */
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

/** min and max have no `remove` (they need none: a sliding window merges per-hop minima). Empty gives 0. */
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
 * Several named measures as one aggregate over the input records: accumulators side by side in an array (in the
 * order of `measures`), results by name. `remove` exists only when every measure has one. Accumulators kept as
 * records by name (the layout of earlier versions) are read too, so state restored from an older changelog folds on.
 */
export function combine<In>(
  measures: Readonly<Record<string, Measure<In>>>,
): Aggregate<In, unknown[], Record<string, number>> {
  const names = Object.keys(measures);
  const aggs = names.map((k) => (measures[k] as Measure<In>).aggregate);
  const values = names.map((k) => (measures[k] as Measure<In>).value);
  const n = names.length;
  const canRemove = aggs.every((a) => a.remove !== undefined);
  const byName = (acc: Record<string, unknown>): unknown[] => names.map((k) => acc[k]);
  // Indexed loops into arrays, no closure per call: this runs for every record and window and for every merge of a
  // sliding window's buckets (arrays are about three times faster to build here than records by name, and shorter
  // in the changelog).
  const agg: Aggregate<In, unknown[], Record<string, number>> = {
    init: () => {
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++) out[i] = (aggs[i] as Measure<In>['aggregate']).init();
      return out;
    },
    add: (acc, input) => {
      const a = Array.isArray(acc) ? acc : byName(acc);
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++)
        out[i] = (aggs[i] as Measure<In>['aggregate']).add(
          a[i],
          (values[i] as Measure<In>['value'])(input) as never,
        );
      return out;
    },
    merge: (x, y) => {
      const a = Array.isArray(x) ? x : byName(x);
      const b = Array.isArray(y) ? y : byName(y);
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++) out[i] = (aggs[i] as Measure<In>['aggregate']).merge(a[i], b[i]);
      return out;
    },
    result: (acc) => {
      const a = Array.isArray(acc) ? acc : byName(acc);
      const out: Record<string, number> = {};
      for (let i = 0; i < n; i++)
        out[names[i] as string] = (aggs[i] as Measure<In>['aggregate']).result(a[i]);
      return out;
    },
  };
  if (canRemove)
    agg.remove = (acc, input) => {
      const a = Array.isArray(acc) ? acc : byName(acc);
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++) {
        const m = aggs[i] as Measure<In>['aggregate'];
        out[i] = (m.remove as NonNullable<typeof m.remove>)(
          a[i],
          (values[i] as Measure<In>['value'])(input) as never,
        );
      }
      return out;
    };
  return agg;
}

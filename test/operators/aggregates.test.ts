// The aggregates against direct computation, property-based: results, merge of partial folds, remove as the inverse
// of add, combine of several measures, and accumulators surviving a JSON round trip (they are changelogged).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  combine,
  count,
  distinctCount,
  max,
  mean,
  measure,
  min,
  sum,
  type Aggregate,
} from '../../operators/aggregates.ts';

const fold = <V, A, R>(agg: Aggregate<V, A, R>, xs: readonly V[]): A =>
  xs.reduce((a, v) => agg.add(a, v), agg.init());
const roundTrip = <A>(a: A): A => JSON.parse(JSON.stringify(a)) as A;

// Integers keep sums exact whatever the order, so results compare with toEqual.
const ints = fc.array(fc.integer({ min: -1_000_000, max: 1_000_000 }), { maxLength: 40 });
// Prototype-named strings ('toString', '__proto__') are a known bug, covered in distinct-count-prototype-keys.test.ts.
const tags = fc.array(fc.constantFrom('a', 'b', 'c', 'TAG-1', 'TAG-2', 'x y', ''), { maxLength: 40 });
const nums = fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 40 });

interface NumCase {
  readonly name: string;
  readonly agg: Aggregate<number, unknown, number>;
  readonly direct: (xs: readonly number[]) => number;
}

const numeric: NumCase[] = [
  { name: 'count', agg: count, direct: (xs) => xs.length },
  { name: 'sum', agg: sum, direct: (xs) => xs.reduce((a, b) => a + b, 0) },
  {
    name: 'mean',
    agg: mean as Aggregate<number, unknown, number>,
    direct: (xs) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length),
  },
  {
    name: 'min',
    agg: min as Aggregate<number, unknown, number>,
    direct: (xs) => (xs.length === 0 ? 0 : Math.min(...xs)),
  },
  {
    name: 'max',
    agg: max as Aggregate<number, unknown, number>,
    direct: (xs) => (xs.length === 0 ? 0 : Math.max(...xs)),
  },
  {
    name: 'distinctCount',
    agg: distinctCount as Aggregate<number, unknown, number>,
    direct: (xs) => new Set(xs).size,
  },
];

describe.each(numeric)('$name', ({ agg, direct }) => {
  it('result(fold(xs)) equals the direct computation', () => {
    fc.assert(
      fc.property(ints, (xs) => {
        expect(agg.result(fold(agg, xs))).toBe(direct(xs));
      }),
    );
  });

  it('merge(fold(xs), fold(ys)) == fold(xs ++ ys), in either order', () => {
    fc.assert(
      fc.property(ints, ints, (xs, ys) => {
        const whole = fold(agg, [...xs, ...ys]);
        expect(agg.merge(fold(agg, xs), fold(agg, ys))).toEqual(whole);
        expect(agg.result(agg.merge(fold(agg, ys), fold(agg, xs)))).toBe(agg.result(whole));
      }),
    );
  });

  it('merge with init() is the identity', () => {
    fc.assert(
      fc.property(ints, (xs) => {
        const a = fold(agg, xs);
        expect(agg.merge(a, agg.init())).toEqual(a);
        expect(agg.merge(agg.init(), a)).toEqual(a);
      }),
    );
  });

  it('keeps its result across a JSON round trip of the accumulator, and folds on from it', () => {
    fc.assert(
      fc.property(ints, ints, (xs, ys) => {
        const restored = roundTrip(fold(agg, xs));
        expect(agg.result(restored)).toBe(direct(xs));
        const continued = ys.reduce((a, v) => agg.add(a, v), restored);
        expect(agg.result(continued)).toBe(direct([...xs, ...ys]));
      }),
    );
  });

  it('does not mutate the accumulator it is given', () => {
    fc.assert(
      fc.property(ints, fc.integer(), (xs, v) => {
        const a = fold(agg, xs);
        const before = structuredClone(a);
        agg.add(a, v);
        agg.merge(a, fold(agg, [v]));
        if (agg.remove && xs.length > 0) agg.remove(a, xs[0] as number);
        expect(a).toEqual(before);
      }),
    );
  });
});

describe.each(numeric.filter((c) => c.agg.remove !== undefined))('$name remove', ({ agg, direct }) => {
  const remove = (a: unknown, v: number): unknown => (agg.remove as NonNullable<typeof agg.remove>)(a, v);

  it('undoes add: remove(add(fold(xs), v), v) == fold(xs)', () => {
    fc.assert(
      fc.property(ints, fc.integer({ min: -1000, max: 1000 }), (xs, v) => {
        expect(remove(agg.add(fold(agg, xs), v), v)).toEqual(fold(agg, xs));
      }),
    );
  });

  it('takes out any earlier value: fold(xs ++ [v] ++ ys) minus v == fold(xs ++ ys)', () => {
    fc.assert(
      fc.property(nums, fc.integer({ min: 0, max: 6 }), nums, (xs, v, ys) => {
        const a = remove(fold(agg, [...xs, v, ...ys]), v);
        expect(agg.result(a)).toBe(direct([...xs, ...ys]));
        expect(a).toEqual(fold(agg, [...xs, ...ys]));
      }),
    );
  });

  it('after a JSON round trip too (accumulators are restored from a changelog)', () => {
    fc.assert(
      fc.property(nums, nums, (xs, ys) => {
        let a = roundTrip(fold(agg, [...xs, ...ys]));
        for (const v of xs) a = roundTrip(remove(a, v));
        expect(agg.result(a)).toBe(direct(ys));
      }),
    );
  });
});

describe('min and max', () => {
  it('have no remove (sliding windows merge per-hop partials instead)', () => {
    expect(min.remove).toBeUndefined();
    expect(max.remove).toBeUndefined();
  });

  it('of nothing are 0, and null accumulators merge as the identity', () => {
    expect(min.result(min.init())).toBe(0);
    expect(max.result(max.init())).toBe(0);
    expect(min.merge(null, null)).toBeNull();
    expect(max.merge(null, 7)).toBe(7);
  });

  it('keep a negative extreme, not 0', () => {
    expect(max.result(fold(max, [-5, -3]))).toBe(-3);
    expect(min.result(fold(min, [3, 5]))).toBe(3);
  });
});

describe('mean', () => {
  it('of nothing is 0, and of everything removed is 0 again', () => {
    expect(mean.result(mean.init())).toBe(0);
    const remove = mean.remove as NonNullable<typeof mean.remove>;
    expect(mean.result(remove(mean.add(mean.init(), 42), 42))).toBe(0);
  });
});

describe('distinctCount', () => {
  it('counts repeated string values once', () => {
    fc.assert(
      fc.property(tags, (xs) => {
        expect(distinctCount.result(fold(distinctCount, xs))).toBe(new Set(xs).size);
      }),
    );
  });

  it('keeps multiplicities: removing one of two copies keeps the value', () => {
    const remove = distinctCount.remove as NonNullable<typeof distinctCount.remove>;
    const a = fold(distinctCount, ['a', 'a', 'b']);
    expect(distinctCount.result(a)).toBe(2);
    expect(distinctCount.result(remove(a, 'a'))).toBe(2);
    expect(distinctCount.result(remove(remove(a, 'a'), 'a'))).toBe(1);
    expect(remove(remove(a, 'a'), 'a')).toEqual(fold(distinctCount, ['b']));
    expect(remove(remove(remove(a, 'a'), 'a'), 'b')).toEqual(distinctCount.init());
  });

  it('remove of strings: multiset difference, for any order of removal', () => {
    const remove = distinctCount.remove as NonNullable<typeof distinctCount.remove>;
    fc.assert(
      fc.property(
        tags.chain((xs) => fc.tuple(fc.constant(xs), fc.shuffledSubarray(xs.map((_, i) => i)))),
        ([xs, gone]) => {
          let a = fold(distinctCount, xs);
          for (const i of gone) a = remove(a, xs[i] as string);
          const kept = xs.filter((_, i) => !gone.includes(i));
          expect(a).toEqual(fold(distinctCount, kept));
          expect(distinctCount.result(a)).toBe(new Set(kept).size);
        },
      ),
    );
  });

  it('merge of string folds equals the fold of the concatenation', () => {
    fc.assert(
      fc.property(tags, tags, (xs, ys) => {
        expect(distinctCount.merge(fold(distinctCount, xs), fold(distinctCount, ys))).toEqual(
          fold(distinctCount, [...xs, ...ys]),
        );
      }),
    );
  });

  it('compares values by their string form: the number 1 and the string "1" are one value', () => {
    // Documents a consequence of keying by String(v); feature values are either all strings or all numbers.
    expect(distinctCount.result(fold(distinctCount, [1, '1']))).toBe(1);
  });
});

interface Item {
  readonly qty: number;
  readonly price: number;
  readonly tag: string;
}

const items = fc.array(
  fc.record({
    qty: fc.integer({ min: -50, max: 50 }),
    price: fc.integer({ min: 0, max: 10_000 }),
    tag: fc.constantFrom('a', 'b', 'c', 'd'),
  }),
  { maxLength: 40 },
);

function directItems(xs: readonly Item[]): Record<string, number> {
  const qty = xs.map((x) => x.qty);
  const total = qty.reduce((a, b) => a + b, 0);
  return {
    n: xs.length,
    total,
    avg: xs.length === 0 ? 0 : total / xs.length,
    lo: xs.length === 0 ? 0 : Math.min(...qty),
    hi: xs.length === 0 ? 0 : Math.max(...xs.map((x) => x.price)),
    tags: new Set(xs.map((x) => x.tag)).size,
  };
}

describe('combine', () => {
  const all = combine<Item>({
    n: measure(count, () => 1),
    total: measure(sum, (x: Item) => x.qty),
    avg: measure(mean, (x: Item) => x.qty),
    lo: measure(min, (x: Item) => x.qty),
    hi: measure(max, (x: Item) => x.price),
    tags: measure(distinctCount, (x: Item) => x.tag),
  });
  const removable = combine<Item>({
    n: measure(count, () => 1),
    total: measure(sum, (x: Item) => x.qty),
    avg: measure(mean, (x: Item) => x.qty),
    tags: measure(distinctCount, (x: Item) => x.tag),
  });
  const pick = (r: Record<string, number>, names: readonly string[]) =>
    Object.fromEntries(names.map((k) => [k, r[k]]));

  it('gives every measure its result by name', () => {
    fc.assert(
      fc.property(items, (xs) => {
        expect(all.result(fold(all, xs))).toEqual(directItems(xs));
      }),
    );
  });

  it('merges measure by measure', () => {
    fc.assert(
      fc.property(items, items, (xs, ys) => {
        expect(all.merge(fold(all, xs), fold(all, ys))).toEqual(fold(all, [...xs, ...ys]));
        expect(all.result(all.merge(fold(all, xs), fold(all, ys)))).toEqual(directItems([...xs, ...ys]));
      }),
    );
  });

  it('has remove only when every measure has one', () => {
    expect(all.remove).toBeUndefined();
    expect(removable.remove).toBeDefined();
    expect(combine({}).remove).toBeDefined();
  });

  it('remove undoes add for removable measures', () => {
    const remove = removable.remove as NonNullable<typeof removable.remove>;
    fc.assert(
      fc.property(items, items, (xs, ys) => {
        let a = fold(removable, [...xs, ...ys]);
        for (const x of xs) a = remove(a, x);
        expect(a).toEqual(fold(removable, ys));
        expect(removable.result(a)).toEqual(pick(directItems(ys), ['n', 'total', 'avg', 'tags']));
      }),
    );
  });

  it('keeps its results across a JSON round trip of the accumulator', () => {
    fc.assert(
      fc.property(items, items, (xs, ys) => {
        const restored = roundTrip(fold(all, xs));
        expect(all.result(restored)).toEqual(directItems(xs));
        expect(all.result(ys.reduce((a, y) => all.add(a, y), restored))).toEqual(directItems([...xs, ...ys]));
      }),
    );
  });

  it('reads accumulators kept as records by name (older changelogs) as their positional form', () => {
    fc.assert(
      fc.property(items, items, (xs, ys) => {
        const acc = fold(all, xs);
        const byName = Object.fromEntries(
          ['n', 'total', 'avg', 'lo', 'hi', 'tags'].map((k, i) => [k, acc[i]]),
        );
        const legacy = byName as unknown as unknown[];
        expect(all.result(legacy)).toEqual(all.result(acc));
        const y0 = { qty: 2, price: 3, tag: 'z' };
        expect(ys.reduce((a, y) => all.add(a, y), all.add(legacy, y0))).toEqual(
          fold(all, [...xs, y0, ...ys]),
        );
        expect(all.merge(legacy, fold(all, ys))).toEqual(fold(all, [...xs, ...ys]));
      }),
    );
  });

  it('of no measures is an empty record', () => {
    const none = combine<Item>({});
    expect(none.result(fold(none, [{ qty: 1, price: 1, tag: 'a' }]))).toEqual({});
  });
});

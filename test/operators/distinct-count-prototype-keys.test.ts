// Regression: distinctCount kept multiplicities under the raw value as an object key, so values named like
// Object.prototype members ('toString', 'constructor', '__proto__') read the inherited member instead of "absent":
// add('toString') twice then remove once counted 0 distinct values, and merge dropped '__proto__'.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { distinctCount } from '../../operators/aggregates.ts';

const remove = distinctCount.remove as NonNullable<typeof distinctCount.remove>;
const fold = (xs: readonly string[]) => xs.reduce((a, v) => distinctCount.add(a, v), distinctCount.init());
const PROTO_NAMES = ['toString', 'constructor', 'hasOwnProperty', 'valueOf', '__proto__', '__defineGetter__'];

describe.each(PROTO_NAMES)('distinctCount of %j', (v) => {
  it('add, add, remove leaves the value counted once; a second remove empties it', () => {
    const once = remove(fold([v, v]), v);
    expect(distinctCount.result(once)).toBe(1);
    expect(once).toEqual(fold([v]));
    expect(remove(once, v)).toEqual(distinctCount.init());
  });

  it('merge keeps the value and its multiplicity', () => {
    const merged = distinctCount.merge(distinctCount.init(), fold([v, v]));
    expect(distinctCount.result(merged)).toBe(1);
    expect(distinctCount.result(remove(merged, v))).toBe(1);
  });

  it('survives a JSON round trip', () => {
    const a = JSON.parse(JSON.stringify(fold([v, 'x', v]))) as ReturnType<typeof fold>;
    expect(distinctCount.result(remove(a, v))).toBe(2);
  });
});

it('distinctCount: multiset semantics hold for any strings, prototype names included', () => {
  const values = fc.array(fc.oneof(fc.constantFrom(...PROTO_NAMES), fc.string({ maxLength: 3 })), {
    maxLength: 30,
  });
  fc.assert(
    fc.property(values, values, (xs, ys) => {
      let a = distinctCount.merge(fold(xs), fold(ys));
      expect(distinctCount.result(a)).toBe(new Set([...xs, ...ys]).size);
      for (const x of xs) a = remove(a, x);
      expect(distinctCount.result(a)).toBe(new Set(ys).size);
    }),
  );
});

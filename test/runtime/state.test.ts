// MapStore's changelog: whatever sequence of puts and deletes happens between commits, replaying the changes taken
// at each commit onto a replica gives exactly the store's contents, and a key created and deleted between two
// commits writes nothing at all.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MapStore } from '../../src/runtime/state.ts';

type Op = { kind: 'put'; key: string; value: number } | { kind: 'delete'; key: string } | { kind: 'commit' };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key: fc.constantFrom('a', 'b', 'c'), value: fc.nat(9) }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom('a', 'b', 'c') }),
  fc.record({ kind: fc.constant('commit' as const) }),
);

describe('MapStore changelog', () => {
  it('replays to the same contents after every commit', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const store = new MapStore<number>();
        const replica = new Map<string, number>();
        for (const o of [...ops, { kind: 'commit' } as const]) {
          if (o.kind === 'put') store.put(o.key, o.value);
          else if (o.kind === 'delete') store.delete(o.key);
          else {
            for (const [k, v] of store.takeChanges()) {
              if (v === null) {
                // A tombstone only for a key the changelog holds.
                expect(replica.has(k)).toBe(true);
                replica.delete(k);
              } else replica.set(k, v);
            }
            expect(new Map(store.entries())).toEqual(replica);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('writes nothing for a key created and deleted between two commits', () => {
    const store = new MapStore<number>();
    store.put('w', 1);
    store.put('w', 2);
    store.delete('w');
    expect(store.takeChanges()).toEqual([]);
    store.put('x', 1);
    store.takeChanges();
    store.delete('x');
    store.put('x', 2);
    store.delete('x');
    expect(store.takeChanges()).toEqual([['x', null]]);
  });
});

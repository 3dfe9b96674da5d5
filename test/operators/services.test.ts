// The derived services: pricing bounded and explained, restock transfers before purchases, pack lists with spares.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packList, priceMultiplier, restockPlan } from '../../operators/services.ts';

const POLICY = { elasticity: 0.5, min: 0.8, max: 1.5 };

describe('pricing', () => {
  it('raises the price with pressure, within bounds, and says why', () => {
    expect(priceMultiplier(10, 10, POLICY)).toEqual({
      multiplier: 1,
      pressure: 1,
      reasons: ['forecast 10.0 units against 10 available (pressure 1.00)'],
    });
    expect(priceMultiplier(15, 10, POLICY).multiplier).toBeCloseTo(1.25, 12);
    const capped = priceMultiplier(40, 10, POLICY);
    expect(capped.multiplier).toBe(1.5);
    expect(capped.reasons).toContain('capped at 1.5');
    expect(priceMultiplier(1, 10, POLICY).multiplier).toBe(0.8);
    expect(priceMultiplier(3, 0, POLICY).multiplier).toBe(1.5);
  });

  it('always stays within [min, max] (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e4, noNaN: true }), fc.integer({ min: 0, max: 1e4 }), (f, a) => {
        const m = priceMultiplier(f, a, POLICY).multiplier;
        return m >= POLICY.min && m <= POLICY.max;
      }),
    );
  });
});

describe('restock', () => {
  it('covers a shortfall from the store with the largest surplus, then by purchase', () => {
    const plan = restockPlan([
      { storeId: 'S1', forecast: 30, available: 10 },
      { storeId: 'S2', forecast: 5, available: 17 },
      { storeId: 'S3', forecast: 2, available: 6 },
    ]);
    expect(plan).toEqual([
      {
        storeId: 'S1',
        shortfall: 20,
        action: { kind: 'transfer+purchase', fromStore: 'S2', transfer: 12, purchase: 8 },
      },
      { storeId: 'S2', shortfall: 0, action: { kind: 'none' } },
      { storeId: 'S3', shortfall: 0, action: { kind: 'none' } },
    ]);
    expect(restockPlan([{ storeId: 'S1', forecast: 3.2, available: 1 }])).toEqual([
      { storeId: 'S1', shortfall: 3, action: { kind: 'purchase', units: 3 } },
    ]);
  });

  it('never moves more than the surpluses hold, and covers every shortfall (property)', () => {
    const store = fc.record({
      forecast: fc.integer({ min: 0, max: 50 }),
      available: fc.integer({ min: 0, max: 50 }),
    });
    fc.assert(
      fc.property(fc.array(store, { minLength: 1, maxLength: 6 }), (xs) => {
        const stores = xs.map((s, i) => ({ storeId: `S${i + 1}`, ...s }));
        const plan = restockPlan(stores);
        const moved = new Map<string, number>();
        for (const r of plan) {
          const a = r.action;
          const covered =
            a.kind === 'none'
              ? 0
              : a.kind === 'purchase'
                ? a.units
                : a.kind === 'transfer'
                  ? a.units
                  : a.transfer + a.purchase;
          if (covered !== r.shortfall) return false;
          if (a.kind === 'transfer') moved.set(a.fromStore, (moved.get(a.fromStore) ?? 0) + a.units);
          if (a.kind === 'transfer+purchase')
            moved.set(a.fromStore, (moved.get(a.fromStore) ?? 0) + a.transfer);
        }
        return stores.every((s) => (moved.get(s.storeId) ?? 0) <= Math.max(0, s.available - s.forecast));
      }),
    );
  });
});

describe('pack', () => {
  it('lists booked units in the horizon with spares for expected damage', () => {
    const lines = packList(
      [
        { rentalClass: 'TENT', quantity: 4, eventDay: 100 },
        { rentalClass: 'CHAIR', quantity: 100, eventDay: 101 },
        { rentalClass: 'TENT', quantity: 2, eventDay: 102 },
        { rentalClass: 'TENT', quantity: 9, eventDay: 110 },
      ],
      100,
      7,
      (c) => (c === 'CHAIR' ? 0.03 : 0.1),
    );
    expect(lines).toEqual([
      { rentalClass: 'CHAIR', booked: 100, spares: 3, units: 103 },
      { rentalClass: 'TENT', booked: 6, spares: 1, units: 7 },
    ]);
  });
});

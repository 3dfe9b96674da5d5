// The validation gate: promoted only when the candidate beats the naive baseline and is not worse than production on
// the same holdout; every check gives its reason.
import { describe, expect, it } from 'vitest';
import { gate } from '../../../src/ml/train/gate.ts';

const base = { service: 'demand', metric: 'mae' as const, baseline: { name: 'seasonal-naive', value: 2.5 } };

describe('gate', () => {
  it('passes a candidate better than the baseline when there is no production model', () => {
    const d = gate({ ...base, candidate: 1.9, production: null });
    expect(d.pass).toBe(true);
    expect(d.improvement).toBeCloseTo(0.24, 12);
    expect(d.reasons).toEqual([
      'beats the seasonal-naive baseline: MAE 1.9000 vs 2.5000 (24.0% better)',
      'demand has no production model yet',
    ]);
  });

  it('fails a candidate that does not beat the baseline, even without production', () => {
    const d = gate({ ...base, candidate: 2.5, production: null });
    expect(d.pass).toBe(false);
    expect(d.reasons[0]).toMatch(/^does not beat the seasonal-naive baseline: MAE 2.5000 vs 2.5000/);
  });

  it('requires the configured minimum improvement', () => {
    expect(gate({ ...base, candidate: 2.2, production: null, minImprovement: 0.2 }).pass).toBe(false);
    expect(gate({ ...base, candidate: 1.9, production: null, minImprovement: 0.2 }).pass).toBe(true);
  });

  it('passes when not worse than production (a tie keeps the newer model), fails when worse', () => {
    const prod = { version: 'demand-1', value: 2.0 };
    expect(gate({ ...base, candidate: 2.0, production: prod }).pass).toBe(true);
    const worse = gate({ ...base, candidate: 2.1, production: prod });
    expect(worse.pass).toBe(false);
    expect(worse.reasons[1]).toBe('worse than production demand-1: MAE 2.1000 vs 2.0000');
  });

  it('blocks promotion when production cannot be scored on the holdout', () => {
    const d = gate({
      ...base,
      candidate: 1.0,
      production: { version: 'demand-1', unscorable: 'it needs columns this frame lacks: x' },
    });
    expect(d.pass).toBe(false);
    expect(d.reasons[1]).toMatch(/cannot be scored/);
  });

  it('never passes a NaN candidate or baseline; a NaN production score counts as worse', () => {
    expect(gate({ ...base, candidate: NaN, production: null }).pass).toBe(false);
    expect(gate({ ...base, baseline: { name: 'b', value: NaN }, candidate: 1, production: null }).pass).toBe(
      false,
    );
    expect(gate({ ...base, candidate: 1, production: { version: 'p', value: NaN } }).pass).toBe(true);
  });

  it('reads log-loss for classifiers the same way (lower is better)', () => {
    const d = gate({
      service: 'maintenance',
      metric: 'log_loss',
      candidate: 0.35,
      baseline: { name: 'class base rate', value: 0.4 },
      production: { version: 'm-1', value: 0.36 },
    });
    expect(d.pass).toBe(true);
    expect(d.reasons[0]).toMatch(/log-loss 0.3500 vs 0.4000/);
  });
});

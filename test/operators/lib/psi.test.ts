// PSI: zero for the same distribution, small for samples of one distribution, large for a shifted one.
import { describe, expect, it } from 'vitest';
import { binShares, psi, quantileEdges } from '../../../operators/lib/psi.ts';

/** A deterministic pseudo-normal sample (sum of 12 uniforms from a tiny LCG). */
function sample(n: number, mean: number, sd: number, seed: number): number[] {
  let x = seed;
  const next = (): number => (x = (x * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
  return Array.from(
    { length: n },
    () => mean + sd * (Array.from({ length: 12 }, next).reduce((a, b) => a + b) - 6),
  );
}

describe('psi', () => {
  it('bins at the reference quantiles, each holding about the same share', () => {
    const ref = Array.from({ length: 1000 }, (_, i) => i);
    const edges = quantileEdges(ref, 4);
    expect(edges).toEqual([250, 500, 750]);
    expect(binShares(ref, edges)).toEqual([0.251, 0.25, 0.25, 0.249]);
  });

  it('is 0 for identical samples and small for two samples of one distribution', () => {
    const a = sample(2000, 10, 2, 1);
    expect(psi(a, a)).toBe(0);
    expect(psi(a, sample(2000, 10, 2, 7))).toBeLessThan(0.05);
  });

  it('grows with the shift', () => {
    const a = sample(2000, 10, 2, 1);
    const small = psi(a, sample(2000, 10.5, 2, 3));
    const large = psi(a, sample(2000, 13, 2, 3));
    expect(small).toBeGreaterThan(0.02);
    expect(large).toBeGreaterThan(0.25);
    expect(large).toBeGreaterThan(small);
  });

  it('is 0 when either sample is empty', () => {
    expect(psi([], [1, 2])).toBe(0);
    expect(psi([1, 2], [])).toBe(0);
  });
});

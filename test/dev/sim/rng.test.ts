// The seeded building blocks: reproducible streams, sound distributions, and a heap that keeps insertion order on ties.
import { describe, expect, it } from 'vitest';
import { MinHeap } from '../../../operators/lib/heap.ts';
import { Rng, deriveSeed, logFactorial } from '../../../src/dev/sim/rng.ts';

describe('Rng', () => {
  it('is reproducible per seed and label, and streams differ', () => {
    const draw = (r: Rng) => Array.from({ length: 5 }, () => r.float());
    expect(draw(Rng.stream(1, 'a'))).toEqual(draw(Rng.stream(1, 'a')));
    expect(draw(Rng.stream(1, 'a'))).not.toEqual(draw(Rng.stream(1, 'b')));
    expect(draw(Rng.stream(1, 'a'))).not.toEqual(draw(Rng.stream(2, 'a')));
    expect(deriveSeed(1, 'a')).toBe(deriveSeed(1, 'a'));
  });

  it('draws uniform floats in [0, 1) and integers within bounds', () => {
    const r = new Rng(9);
    let sum = 0;
    for (let i = 0; i < 20_000; i++) {
      const f = r.float();
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1);
      sum += f;
      const k = r.int(-2, 3);
      expect(k).toBeGreaterThanOrEqual(-2);
      expect(k).toBeLessThanOrEqual(3);
    }
    expect(sum / 20_000).toBeCloseTo(0.5, 1);
  });

  it.each([0.3, 4, 25, 160])('Poisson(%d) has that mean and variance', (mean) => {
    const r = new Rng(11);
    const n = 40_000;
    const xs = Array.from({ length: n }, () => r.poisson(mean));
    const m = xs.reduce((a, b) => a + b, 0) / n;
    const v = xs.reduce((a, x) => a + (x - m) ** 2, 0) / n;
    expect(Math.abs(m - mean)).toBeLessThan(5 * Math.sqrt(mean / n));
    expect(v / mean).toBeGreaterThan(0.95);
    expect(v / mean).toBeLessThan(1.05);
    expect(xs.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
  });

  it('logFactorial is ln(k!)', () => {
    let f = 0;
    for (let k = 1; k <= 60; k++) {
      f += Math.log(k);
      expect(logFactorial(k)).toBeCloseTo(f, 8);
    }
  });
});

describe('MinHeap', () => {
  it('pops in key order, equal keys in insertion order', () => {
    const h = new MinHeap<string>();
    const r = new Rng(5);
    const items = Array.from({ length: 2000 }, (_, i) => ({ key: r.int(0, 50), id: i }));
    for (const it of items) h.push(it.key, `${it.key}:${it.id}`);
    const out: string[] = [];
    for (let v = h.pop(); v !== undefined; v = h.pop()) out.push(v);
    const expected = [...items]
      .sort((a, b) => a.key - b.key || a.id - b.id)
      .map((it) => `${it.key}:${it.id}`);
    expect(out).toEqual(expected);
    expect(h.size).toBe(0);
    expect(h.peekKey()).toBeUndefined();
  });
});

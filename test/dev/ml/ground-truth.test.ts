// The simulator's damage truth as the training job's ground truth: rentals matched by tag and checkout time.
import { describe, expect, it } from 'vitest';
import { groundTruthOf } from '../../../src/dev/ml/ground-truth.ts';

const H = 3_600_000;
const truth = groundTruthOf([
  // Out of order on purpose: the oracle sorts each tag's rentals by checkout.
  { tag_id: 'A', out_at: 30 * H, p_damage: 0.5 },
  { tag_id: 'A', out_at: 10 * H, p_damage: 0.1 },
  { tag_id: 'A', out_at: 20 * H, p_damage: 0.2 },
  { tag_id: 'B', out_at: 10 * H, p_damage: 0.3 },
]);

describe('ground truth', () => {
  it('gives P(damage within K rentals) = 1 - Π(1 - p) from the matched rental on', () => {
    const p = truth.maintenance(
      [
        { tagId: 'A', time: 10 * H },
        { tagId: 'A', time: 20 * H + 5_000 }, // the scan a few seconds after the simulator's out_at
        { tagId: 'B', time: 10 * H },
      ],
      2,
    );
    expect(p[0]).toBeCloseTo(1 - 0.9 * 0.8, 12);
    expect(p[1]).toBeCloseTo(1 - 0.8 * 0.5, 12);
    expect(p[2]).toBeNaN(); // B has no second rental in the truth
  });

  it('is NaN for a rental it does not know: another tag, or no checkout within a minute', () => {
    const p = truth.maintenance(
      [
        { tagId: 'C', time: 10 * H },
        { tagId: 'A', time: 15 * H },
      ],
      1,
    );
    expect([...p].every(Number.isNaN)).toBe(true);
    expect(truth.maintenance([{ tagId: 'A', time: 30 * H - 1 }], 1)[0]).toBeCloseTo(0.5, 12);
  });
});

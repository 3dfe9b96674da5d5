// What the simulator's ground truth allows at best, on rows shaped like the training job's holdout: the demand MAE of
// the true Poisson rates against the seasonal-naive forecast, and the ROC AUC of the true damage probabilities for the
// maintenance label. A model trained on observed features cannot beat these; they say whether a target is reachable.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mae, rocAuc } from '../../ml/metrics.ts';
import type { GroundTruth } from '../../ml/train/job.ts';
import { FILES } from '../sim/output.ts';

interface DemandRow {
  store_id: string;
  rental_class_num: string;
  date: string;
  true_rate: number;
  booked_units: number;
  unfulfilled_units: number;
  factors: { price: number };
}

interface DamageRow {
  tag_id: string;
  out_at: number;
  p_damage: number;
  damaged: boolean;
}

function jsonl<T>(path: string): T[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

export interface DemandCeiling {
  readonly rows: number;
  readonly naiveMae: number;
  /** MAE of the true rate (what generated the day's bookings). */
  readonly oracleMae: number;
  /** MAE of the true rate without the day's price multiplier (which no feature carries). */
  readonly oracleNoPriceMae: number;
}

/**
 * On the last `holdoutDays` days: the seasonal-naive forecast (units rented a week earlier) and the true rate against
 * the units rented (booked minus unfulfilled, what the `out` scans count).
 */
export function demandCeiling(simDir: string, holdoutDays: number): DemandCeiling {
  const rows = jsonl<DemandRow>(join(simDir, FILES.demand));
  const byKey = new Map<string, DemandRow>();
  for (const r of rows) byKey.set(`${r.store_id}|${r.rental_class_num}|${r.date}`, r);
  const dates = [...new Set(rows.map((r) => r.date))].sort();
  const holdout = new Set(dates.slice(-holdoutDays));
  const y: number[] = [];
  const naive: number[] = [];
  const oracle: number[] = [];
  const noPrice: number[] = [];
  for (const r of rows) {
    if (!holdout.has(r.date)) continue;
    const prev = new Date(Date.parse(`${r.date}T00:00:00Z`) - 7 * 86_400_000).toISOString().slice(0, 10);
    const p = byKey.get(`${r.store_id}|${r.rental_class_num}|${prev}`);
    if (!p) continue;
    y.push(r.booked_units - r.unfulfilled_units);
    naive.push(p.booked_units - p.unfulfilled_units);
    oracle.push(r.true_rate);
    noPrice.push(r.true_rate / r.factors.price);
  }
  return {
    rows: y.length,
    naiveMae: mae(y, naive),
    oracleMae: mae(y, oracle),
    oracleNoPriceMae: mae(y, noPrice),
  };
}

export interface MaintenanceCeiling {
  readonly k: number;
  readonly rows: number;
  readonly positiveRate: number;
  /** AUC of P(damage within the K rentals) from the true per-rental probabilities (later rentals' included). */
  readonly oracleAuc: number;
  /** AUC of the true probability of this rental alone (what is knowable at checkout). */
  readonly oracleFirstRentalAuc: number;
}

/**
 * The maintenance label over the simulator's rentals (damaged within this rental or the K-1 after it; rentals
 * without K in the period left out) on the last `holdoutDays` days of checkouts, scored by the true probabilities.
 */
export function maintenanceCeiling(simDir: string, k: number, holdoutDays: number): MaintenanceCeiling {
  const rows = jsonl<DamageRow>(join(simDir, FILES.damage));
  const byTag = new Map<string, DamageRow[]>();
  for (const r of rows) {
    const list = byTag.get(r.tag_id);
    if (list) list.push(r);
    else byTag.set(r.tag_id, [r]);
  }
  const labels: { day: number; y: number; p: number; p1: number }[] = [];
  for (const list of byTag.values()) {
    list.sort((a, b) => a.out_at - b.out_at);
    for (let i = 0; i + k <= list.length; i++) {
      const w = list.slice(i, i + k);
      labels.push({
        day: Math.floor(list[i]!.out_at / 86_400_000),
        y: w.some((x) => x.damaged) ? 1 : 0,
        p: 1 - w.reduce((s, x) => s * (1 - x.p_damage), 1),
        p1: list[i]!.p_damage,
      });
    }
  }
  const last = labels.reduce((m, l) => Math.max(m, l.day), -Infinity);
  const hold = labels.filter((l) => l.day > last - holdoutDays);
  const y = hold.map((l) => l.y);
  return {
    k,
    rows: hold.length,
    positiveRate: y.reduce((a, b) => a + b, 0) / Math.max(1, y.length),
    oracleAuc: rocAuc(
      y,
      hold.map((l) => l.p),
    ),
    oracleFirstRentalAuc: rocAuc(
      y,
      hold.map((l) => l.p1),
    ),
  };
}

/** How far a label's checkout time may be from the simulator's `out_at` of the same rental. */
const MATCH_MS = 60_000;

/**
 * The simulator's damage truth as the training job's GroundTruth: for a rental (tag, checkout time) the true
 * probability that the item is damaged in it or the K - 1 rentals after it, 1 - Π(1 - p_damage); NaN when the
 * rental is not in the truth (returned after the period) or fewer than K rentals follow it there.
 */
export function groundTruthOf(
  rows: readonly Pick<DamageRow, 'tag_id' | 'out_at' | 'p_damage'>[],
): GroundTruth {
  const byTag = new Map<string, { out: number[]; p: number[] }>();
  for (const r of [...rows].sort((a, b) => a.out_at - b.out_at)) {
    let t = byTag.get(r.tag_id);
    if (!t) byTag.set(r.tag_id, (t = { out: [], p: [] }));
    t.out.push(r.out_at);
    t.p.push(r.p_damage);
  }
  return {
    maintenance(labels, k) {
      return Float64Array.from(labels, ({ tagId, time }) => {
        const t = byTag.get(tagId);
        if (!t) return NaN;
        // The rental whose out_at is nearest the checkout (binary search for the first out_at >= time).
        let lo = 0;
        let hi = t.out.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (t.out[mid]! < time) lo = mid + 1;
          else hi = mid;
        }
        const i = lo > 0 && (lo === t.out.length || time - t.out[lo - 1]! < t.out[lo]! - time) ? lo - 1 : lo;
        if (i >= t.out.length || Math.abs(t.out[i]! - time) > MATCH_MS || i + k > t.out.length) return NaN;
        let none = 1;
        for (let j = i; j < i + k; j++) none *= 1 - t.p[j]!;
        return 1 - none;
      });
    },
  };
}

/** groundTruthOf the damage truth of a simulator output folder. */
export function groundTruthFrom(simDir: string): GroundTruth {
  return groundTruthOf(jsonl<DamageRow>(join(simDir, FILES.damage)));
}

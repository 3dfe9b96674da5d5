// The simulator's business model over a simulated year of 3 stores: determinism, the structure models must be able
// to learn (season, weekday, rain, damage vs usage), agreement with the ground truth, pipeline validation of every
// record, and the item lifecycle. One pass over the year collects what the tests check (about 3 s).
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../config/load.ts';
import { validateScan } from '../../../operators/validate-scan.ts';
import { validateTransaction } from '../../../operators/validate-transaction.ts';
import type { ValidationRules } from '../../../operators/validation-rules.ts';
import { isTagstreamError } from '../../../src/errors.ts';
import { decodeWire } from '../../../src/io/registry/wire.ts';
import { FakeClock } from '../../../src/runtime/clock.ts';
import type { OperatorContext } from '../../../src/runtime/operator.ts';
import { CLASSES } from '../../../src/dev/sim/catalogue.ts';
import {
  BOOKING_LEAD_DAYS,
  damageProbability,
  simulate,
  type DamageTruth,
  type DemandTruth,
  type ScanEvent,
  type SimEvent,
  type Simulation,
} from '../../../src/dev/sim/model.ts';
import { DAY_MS, HOUR_MS, weekdayOf, ymdOf } from '../../../src/dev/sim/time.ts';

const START = Date.UTC(2025, 0, 1);
const YEAR = { stores: 3, days: 365, seed: 42, start: START };

function fingerprint(events: Iterable<SimEvent>): { hash: string; count: number } {
  const h = createHash('sha256');
  let count = 0;
  for (const ev of events) {
    h.update(JSON.stringify(ev, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v)));
    count++;
  }
  return { hash: h.digest('hex'), count };
}

/** Map.groupBy arrives with Node 21; we support 20. */
function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = out.get(k);
    if (list) list.push(it);
    else out.set(k, [it]);
  }
  return out;
}

const storeDay = (t: DemandTruth): string => `${t.store_id}|${t.date}`;

/** Code of the validation error an operator throws for a value, or null when it passes. */
function rejection(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (isTagstreamError(e)) return e.code;
    throw e;
  }
}

describe('determinism', () => {
  const small = { stores: 2, days: 45, start: START };

  it('the same seed gives identical events, external series and fleet', () => {
    const a = simulate({ ...small, seed: 7 });
    const b = simulate({ ...small, seed: 7 });
    expect(fingerprint(a.events)).toEqual(fingerprint(b.events));
    expect(a.external).toEqual(b.external);
    expect(a.items()).toEqual(b.items());
    expect(a.counts).toEqual(b.counts);
  });

  it('another seed gives different events and weather', () => {
    const a = simulate({ ...small, seed: 7 });
    const b = simulate({ ...small, seed: 8 });
    expect(fingerprint(a.events).hash).not.toBe(fingerprint(b.events).hash);
    expect(a.external.weather).not.toEqual(b.external.weather);
  });

  it('noise rates do not move the business: same demand and rentals without noise', () => {
    const noisy = simulate({ ...small, seed: 7 });
    const quiet = simulate({ ...small, seed: 7, noise: { dupRate: 0, malformedRate: 0, lateRate: 0 } });
    const truth = (s: Simulation) =>
      [...s.events].filter((e) => e.kind !== 'scan' && e.kind !== 'transaction');
    expect(truth(quiet)).toEqual(truth(noisy));
    expect(quiet.counts.scans).toBe(noisy.counts.scans);
    expect(quiet.counts.duplicates + quiet.counts.lateArrivals).toBe(0);
  });
});

interface YearData {
  sim: Simulation;
  demand: DemandTruth[];
  damage: DamageTruth[];
  /** Per tag, first reads in emitted order. */
  lifecycles: Map<string, { types: string[]; times: number[]; readers: string[] }>;
  duplicates: ScanEvent[];
  malformed: ScanEvent[];
  validRejected: string[];
  malformedAccepted: string[];
  transactionsRejected: string[];
  totalMismatches: number;
  transactionUnits: Map<string, number>;
  outScans: Map<string, number>;
  outOfOrder: number;
  transactionsBeforeStart: number;
  eventCount: number;
  damageScans: number;
}

describe('a simulated year of 3 stores', () => {
  let y: YearData;

  beforeAll(() => {
    const sim = simulate(YEAR);
    const rules: ValidationRules = {
      ...parseConfig({}).validation,
      storeIds: sim.stores.map((s) => s.id),
    };
    // The validate stages are stateless: they only read the clock.
    const ctx: OperatorContext = {
      clock: new FakeClock(sim.options.end + HOUR_MS),
      source: { topic: 'rfid.scans', partition: 0, offset: '0' },
      partition: 0,
      store: () => {
        throw new Error('validation keeps no state');
      },
      emitSide: () => undefined,
    };
    const vScan = validateScan(rules);
    const vTx = validateTransaction(rules);
    y = {
      sim,
      demand: [],
      damage: [],
      lifecycles: new Map(),
      duplicates: [],
      malformed: [],
      validRejected: [],
      malformedAccepted: [],
      transactionsRejected: [],
      totalMismatches: 0,
      transactionUnits: new Map(),
      outScans: new Map(),
      outOfOrder: 0,
      transactionsBeforeStart: 0,
      eventCount: 0,
      damageScans: 0,
    };
    let lastTime = -Infinity;
    for (const ev of sim.events) {
      if (ev.kind === 'demand-truth') y.demand.push(ev.truth);
      else if (ev.kind === 'damage-truth') y.damage.push(ev.truth);
      else {
        y.eventCount++;
        if (ev.time < lastTime) y.outOfOrder++;
        lastTime = ev.time;
      }
      if (ev.kind === 'transaction') {
        const tx = ev.tx;
        if (tx.transaction_date < sim.options.start) y.transactionsBeforeStart++;
        const code = rejection(() => vTx.process({ key: null, value: tx, timestamp: ev.time }, ctx));
        if (code) y.transactionsRejected.push(`${tx.transaction_id}: ${code}`);
        const sumCents = tx.items.reduce((a, it) => a + it.quantity * Math.round(it.price * 100), 0);
        if (sumCents !== Math.round(tx.total_amount * 100)) y.totalMismatches++;
        for (const it of tx.items) {
          const k = `${tx.store_id}|${it.rental_class_num}|${tx.event_date}`;
          y.transactionUnits.set(k, (y.transactionUnits.get(k) ?? 0) + it.quantity);
        }
      }
      if (ev.kind !== 'scan') continue;
      if (ev.malformed) {
        y.malformed.push(ev);
        const code =
          ev.malformed === 'garbage'
            ? rejection(() => decodeWire(ev.raw))
            : rejection(() => vScan.process({ key: null, value: ev.scan, timestamp: ev.time }, ctx));
        if (code === null) y.malformedAccepted.push(ev.malformed);
        continue;
      }
      const code = rejection(() => vScan.process({ key: null, value: ev.scan, timestamp: ev.time }, ctx));
      if (code) y.validRejected.push(`${ev.scan.tag_id} ${ev.scan.scan_type}: ${code}`);
      if (ev.duplicate) {
        y.duplicates.push(ev);
        continue;
      }
      const s = ev.scan;
      let lc = y.lifecycles.get(s.tag_id);
      if (!lc) y.lifecycles.set(s.tag_id, (lc = { types: [], times: [], readers: [] }));
      lc.types.push(s.scan_type);
      lc.times.push(s.scan_date);
      lc.readers.push(s.reader_id);
      if (s.scan_type === 'damage') y.damageScans++;
      if (s.scan_type === 'out') {
        const k = `${s.store_id}|${s.rental_class_num}|${Math.floor(s.scan_date / DAY_MS)}`; // US evening-free hours: UTC date = local date
        y.outScans.set(k, (y.outScans.get(k) ?? 0) + 1);
      }
    }
  }, 60_000);

  const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const month = (t: DemandTruth): number => ymdOf(t.date).month;
  const weddingSeason = (t: DemandTruth): boolean => month(t) >= 5 && month(t) <= 9;
  const weather = (t: DemandTruth) =>
    y.sim.external.weather[Number(t.store_id.slice(1)) - 1]![t.date - START / DAY_MS]!;

  it('has the expected size and shape', () => {
    const c = y.sim.counts;
    expect(c.scans).toBeGreaterThan(500_000);
    expect(c.transactions).toBeGreaterThan(10_000);
    expect(y.demand).toHaveLength(3 * 365 * CLASSES.length);
    expect(CLASSES.length).toBeGreaterThanOrEqual(38);
    expect(c.duplicates / c.scans).toBeCloseTo(0.02, 2);
    const malformed = y.malformed.length / c.scans;
    expect(malformed).toBeGreaterThan(0.002);
    expect(malformed).toBeLessThan(0.004);
    expect(c.lateArrivals / y.eventCount).toBeGreaterThan(0.003);
    expect(c.lateArrivals / y.eventCount).toBeLessThan(0.008);
    // Demand sometimes exceeds stock, mostly in peak season.
    expect(c.unfulfilledUnits).toBeGreaterThan(0);
    expect(c.unfulfilledUnits / c.bookedUnits).toBeLessThan(0.08);
    const peak = mean(y.demand.filter(weddingSeason).map((t) => t.unfulfilled_units));
    const low = mean(y.demand.filter((t) => month(t) <= 3).map((t) => t.unfulfilled_units));
    expect(peak).toBeGreaterThan(3 * low);
  });

  it('emits stream events in event-time order, bookings up to 30 days before the start, nothing after the end', () => {
    expect(y.outOfOrder).toBe(0);
    expect(y.transactionsBeforeStart).toBeGreaterThan(0);
    expect(y.sim.counts.firstEventTime).toBeGreaterThanOrEqual(START - BOOKING_LEAD_DAYS * DAY_MS);
    expect(y.sim.counts.lastEventTime).toBeLessThan(y.sim.options.end);
  });

  it('wedding season books more than 1.3x January-March for outdoor classes', () => {
    const outdoor = CLASSES.filter((c) => c.outdoor && c.rain < 0);
    expect(outdoor.length).toBeGreaterThan(5);
    for (const rc of outdoor.filter((c) => c.season === 'wedding' || c.season === 'summer')) {
      const rows = y.demand.filter((t) => t.rental_class_num === rc.code);
      const summer = mean(rows.filter(weddingSeason).map((t) => t.booked_units));
      const winter = mean(rows.filter((t) => month(t) <= 3).map((t) => t.booked_units));
      expect(summer, rc.code).toBeGreaterThan(1.3 * winter);
    }
  });

  it('Saturdays book more than Tuesdays', () => {
    const perDay = (dow: number) =>
      mean(
        [
          ...groupBy(
            y.demand.filter((t) => weekdayOf(t.date) === dow),
            storeDay,
          ).values(),
        ].map((rows) => rows.reduce((a, t) => a + t.booked_units, 0)),
      );
    expect(perDay(6)).toBeGreaterThan(2 * perDay(2));
  });

  it('rain lowers demand for outdoor classes', () => {
    const rainShy = new Set(CLASSES.filter((c) => c.rain < 0).map((c) => c.code));
    const daily = groupBy(
      y.demand.filter((t) => weddingSeason(t) && rainShy.has(t.rental_class_num)),
      storeDay,
    );
    const wet: number[] = [];
    const dry: number[] = [];
    for (const rows of daily.values()) {
      const p = weather(rows[0]!).precipitation_in;
      const units = rows.reduce((a, t) => a + t.booked_units, 0);
      if (p >= 0.25) wet.push(units);
      else if (p === 0) dry.push(units);
    }
    expect(wet.length).toBeGreaterThan(20);
    expect(mean(wet)).toBeLessThan(0.75 * mean(dry));
  });

  it('booked units follow the true rate (Poisson: mean and variance match)', () => {
    const residual = y.demand.map((t) => t.booked_units - t.true_rate);
    const n = residual.length;
    const rateSum = y.demand.reduce((a, t) => a + t.true_rate, 0);
    expect(Math.abs(mean(residual))).toBeLessThan((4 * Math.sqrt(rateSum)) / n);
    const varRatio = residual.reduce((a, r) => a + r * r, 0) / rateSum;
    expect(varRatio).toBeGreaterThan(0.95);
    expect(varRatio).toBeLessThan(1.05);
  });

  it('transactions carry exactly the booked units, and out scans exactly the fulfilled ones', () => {
    let checked = 0;
    for (const t of y.demand) {
      const k = `${t.store_id}|${t.rental_class_num}|${t.date}`;
      expect(y.transactionUnits.get(k) ?? 0, k).toBe(t.booked_units);
      expect(y.outScans.get(k) ?? 0, k).toBe(t.booked_units - t.unfulfilled_units);
      checked++;
    }
    expect(checked).toBe(y.demand.length);
  });

  it('every transaction total equals the sum of its items to the cent', () => {
    expect(y.totalMismatches).toBe(0);
  });

  it('every valid record passes the pipeline validation; every malformed one fails it', () => {
    expect(y.validRejected.slice(0, 5)).toEqual([]);
    expect(y.transactionsRejected.slice(0, 5)).toEqual([]);
    expect(y.malformed.length).toBeGreaterThan(1000);
    expect(y.malformedAccepted).toEqual([]);
    expect(new Set(y.malformed.map((e) => e.malformed))).toEqual(
      new Set(['empty-tag', 'unknown-scan-type', 'garbage']),
    );
  });

  it("each item's scans follow out -> return -> (damage -> repair ->)? in, in time order", () => {
    const cycle = /^(out return (damage repair )?in )*(out (return (damage (repair )?)?)?)?$/;
    const broken: string[] = [];
    for (const [tag, lc] of y.lifecycles) {
      const seq = lc.types.map((t) => `${t} `).join('');
      if (!cycle.test(seq)) broken.push(`${tag}: ${seq.slice(0, 200)}`);
      for (let i = 1; i < lc.times.length; i++)
        if (lc.times[i]! <= lc.times[i - 1]!) broken.push(`${tag}: scan ${i} not after scan ${i - 1}`);
    }
    expect(broken.slice(0, 5)).toEqual([]);
    expect(y.lifecycles.size).toBeGreaterThan(4000);
  });

  it('scans fall mostly in local business hours, 07:00-19:00', () => {
    const zones = Object.fromEntries(y.sim.stores.map((s) => [s.id, s.zone]));
    let inHours = 0;
    let total = 0;
    for (const [tag, lc] of y.lifecycles) {
      const zone = zones[tag.split('-')[0]!]!;
      const fmt = new Intl.DateTimeFormat('en-US', { timeZone: zone, hour: 'numeric', hourCycle: 'h23' });
      for (const t of lc.times.slice(0, 20)) {
        const h = Number(fmt.format(t));
        if (h >= 7 && h < 19) inHours++;
        total++;
      }
    }
    expect(inHours / total).toBeGreaterThan(0.97);
  });

  it('a duplicate read has a first read of the same tag and type within 1 s, from another reader', () => {
    expect(y.duplicates.length).toBeGreaterThan(1000);
    for (const d of y.duplicates.slice(0, 2000)) {
      const lc = y.lifecycles.get(d.scan.tag_id)!;
      const i = lc.times.findIndex(
        (t, j) => lc.types[j] === d.scan.scan_type && Math.abs(t - d.scan.scan_date) <= 1000,
      );
      expect(i, `${d.scan.tag_id} ${d.scan.scan_type}`).toBeGreaterThanOrEqual(0);
      expect(lc.readers[i]).not.toBe(d.scan.reader_id);
    }
  });

  it('damage frequency rises with usage and matches the true p_damage', () => {
    // Within one class, so the comparison is not a mix of fragile and sturdy classes.
    const chairs = y.damage.filter((t) => t.rental_class_num === 'CHAIR-FOLD-WHT');
    const buckets = [0, 100, 200, 300, 400, Infinity];
    const rates = buckets.slice(0, -1).map((lo, i) => {
      const rows = chairs.filter((t) => t.usage_count >= lo && t.usage_count < buckets[i + 1]!);
      return rows.filter((t) => t.damaged).length / rows.length;
    });
    for (let i = 1; i < rates.length; i++) expect(rates[i]!, `bucket ${i}`).toBeGreaterThan(rates[i - 1]!);
    // Overall: empirical frequency within 4 standard errors of the mean true probability.
    const n = y.damage.length;
    const damaged = y.damage.filter((t) => t.damaged).length;
    const pSum = y.damage.reduce((a, t) => a + t.p_damage, 0);
    const se = Math.sqrt(y.damage.reduce((a, t) => a + t.p_damage * (1 - t.p_damage), 0));
    expect(Math.abs(damaged - pSum)).toBeLessThan(4 * se);
    expect(damaged / n).toBeGreaterThan(0.02);
    expect(damaged / n).toBeLessThan(0.1);
    // And it is the documented formula of usage, age and grade.
    const t = y.damage[12345]!;
    const rc = CLASSES.find((c) => c.code === t.rental_class_num)!;
    expect(t.p_damage).toBeCloseTo(damageProbability(rc, t.usage_count, t.age_days, t.quality_before), 12);
  });

  it('damage scans in the stream match the damaged rentals of the ground truth', () => {
    const damaged = y.damage.filter((t) => t.damaged).length;
    expect(y.damageScans).toBeLessThanOrEqual(damaged);
    expect(y.damageScans).toBeGreaterThan(damaged - 20); // a damage scan 5-40 min after a return may fall past the end
  });

  it('quality grades degrade with use and stay within 1..5', () => {
    const first = y.damage.filter((t) => t.usage_count < 50);
    const late = y.damage.filter((t) => t.usage_count > 250);
    expect(mean(late.map((t) => t.quality_before))).toBeLessThan(
      mean(first.map((t) => t.quality_before)) - 0.5,
    );
    for (const t of y.damage.slice(0, 10_000)) {
      expect(t.quality_after).toBeLessThanOrEqual(t.quality_before);
      expect(t.quality_after).toBeGreaterThanOrEqual(1);
    }
  });
});

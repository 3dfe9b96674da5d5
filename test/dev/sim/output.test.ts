// The simulator's files: the external series parse and cover every day, the ground truth and catalogue are
// complete, and the manifest agrees with the run.
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLASSES } from '../../../src/dev/sim/catalogue.ts';
import { simulate, type Simulation } from '../../../src/dev/sim/model.ts';
import { FILES, SimFiles } from '../../../src/dev/sim/output.ts';
import { DAY_MS, isoDate, parseIsoDate } from '../../../src/dev/sim/time.ts';

const START = Date.UTC(2025, 10, 20); // across the Nov/Dec holidays and a year boundary
const DAYS = 50;
const dir = join(tmpdir(), `tagstream-sim-${randomUUID()}`);
let sim: Simulation;
let written: string[];

const jsonl = (file: string): Record<string, unknown>[] =>
  readFileSync(join(dir, file), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const days = Array.from({ length: DAYS }, (_, i) => isoDate(START / DAY_MS + i));

beforeAll(() => {
  sim = simulate({ stores: 3, days: DAYS, seed: 5, start: START });
  const files = new SimFiles(dir);
  files.writeExternal(sim);
  for (const ev of sim.events) files.record(ev);
  written = files.finish(sim);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('simulator files', () => {
  it('writes every file', () => {
    expect(written).toEqual(Object.values(FILES).map((f) => join(dir, f)));
  });

  it('weather covers every day for every store', () => {
    const rows = jsonl(FILES.weather);
    expect(rows).toHaveLength(3 * DAYS);
    for (const store of ['S1', 'S2', 'S3'])
      expect(rows.filter((r) => r['location'] === store).map((r) => r['date'])).toEqual(days);
    for (const r of rows) {
      expect(Object.keys(r).sort()).toEqual(
        ['date', 'humidity_pct', 'location', 'precipitation_in', 'temperature_f'].sort(),
      );
      expect(r['precipitation_in']).toBeGreaterThanOrEqual(0);
      expect(r['humidity_pct']).toBeGreaterThanOrEqual(0);
      expect(r['humidity_pct']).toBeLessThanOrEqual(100);
    }
  });

  it('economic weeks start on Mondays and cover every day', () => {
    const rows = jsonl(FILES.economic);
    const starts = rows.map((r) => parseIsoDate(r['week_start'] as string));
    for (const s of starts) expect(new Date(s * DAY_MS).getUTCDay()).toBe(1);
    for (const d of days) {
      const day = parseIsoDate(d);
      expect(
        starts.some((s) => s <= day && day < s + 7),
        d,
      ).toBe(true);
    }
    for (const r of rows) {
      expect(r['region']).toBe('global');
      for (const k of ['consumer_confidence', 'unemployment_rate', 'interest_rate'])
        expect(Number.isFinite(r[k])).toBe(true);
    }
  });

  it('the calendar has holidays and store events within the period', () => {
    const rows = jsonl(FILES.calendar);
    const names = rows.map((r) => r['name']);
    expect(names).toEqual(expect.arrayContaining(['Thanksgiving', 'Christmas Day', "New Year's Eve"]));
    for (const r of rows) {
      expect(days).toContain(r['event_date']);
      expect(['holiday', 'wedding_fair', 'festival', 'sports', 'community']).toContain(r['category']);
      expect(r['store_id'] === null || ['S1', 'S2', 'S3'].includes(r['store_id'] as string)).toBe(true);
      expect(new Set(rows.map((x) => x['event_id'])).size).toBe(rows.length);
    }
  });

  it('demand ground truth has a row per store, class and day', () => {
    const rows = jsonl(FILES.demand);
    expect(rows).toHaveLength(3 * CLASSES.length * DAYS);
    const r = rows[0]!;
    for (const k of [
      'store_id',
      'rental_class_num',
      'date',
      'true_rate',
      'booked_units',
      'unfulfilled_units',
    ])
      expect(r).toHaveProperty(k);
  });

  it('damage ground truth has a row per rental with its true probability', () => {
    const rows = jsonl(FILES.damage);
    expect(rows.length).toBeGreaterThan(1000);
    for (const r of rows.slice(0, 100)) {
      expect(r['p_damage']).toBeGreaterThan(0);
      expect(r['p_damage']).toBeLessThan(1);
      expect(typeof r['damaged']).toBe('boolean');
    }
  });

  it('the catalogue lists classes and every item that scans', () => {
    const cat = JSON.parse(readFileSync(join(dir, FILES.catalogue), 'utf8')) as {
      classes: { rental_class_num: string }[];
      items: { tag_id: string; store_id: string; purchase_date: string }[];
    };
    expect(cat.classes.map((c) => c.rental_class_num)).toEqual(CLASSES.map((c) => c.code));
    const tags = new Set(cat.items.map((i) => i.tag_id));
    for (const r of jsonl(FILES.damage)) expect(tags.has(r['tag_id'] as string)).toBe(true);
    for (const it of cat.items) expect(Number.isNaN(parseIsoDate(it.purchase_date))).toBe(false);
  });

  it('the manifest records options, counts and the time range', () => {
    const m = JSON.parse(readFileSync(join(dir, FILES.manifest), 'utf8')) as {
      options: { seed: number; start: string; days: number };
      counts: { scans: number; transactions: number; records_to_kafka: number };
      time_range: { first_event: string };
    };
    expect(m.options).toMatchObject({ seed: 5, start: isoDate(START / DAY_MS), days: DAYS });
    expect(m.counts.scans).toBe(sim.counts.scans);
    expect(m.counts.transactions).toBe(sim.counts.transactions);
    expect(m.counts.records_to_kafka).toBeGreaterThan(m.counts.scans);
    expect(Date.parse(m.time_range.first_event)).toBeLessThan(START);
  });
});

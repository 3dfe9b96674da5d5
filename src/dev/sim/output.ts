// Writes the simulator's files: the external series the batch collectors read, the ground truth tests hold models
// against, the catalogue of classes and items, and a manifest. Streams line by line, so a year stays small in memory.
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  DAMAGE_MODEL,
  stockFor,
  type DamageTruth,
  type DemandTruth,
  type SimEvent,
  type Simulation,
} from './model.ts';
import { formatShiftChange } from './shift.ts';
import { isoDate } from './time.ts';

export const defaultOutDir = (seed: number): string => join('.stack', 'sim', String(seed));

export const FILES = {
  weather: 'external/weather.jsonl',
  economic: 'external/economic.jsonl',
  calendar: 'external/calendar.jsonl',
  demand: 'ground_truth/demand.jsonl',
  damage: 'ground_truth/damage.jsonl',
  catalogue: 'catalogue.json',
  manifest: 'manifest.json',
} as const;

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
const isoTime = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** JSON lines through a 64 KiB buffer and synchronous writes: simple, ordered, and fast enough. */
class JsonlWriter {
  private readonly fd: number;
  private buffer = '';

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  write(row: unknown): void {
    this.buffer += `${JSON.stringify(row)}\n`;
    if (this.buffer.length >= 65_536) this.flush();
  }

  private flush(): void {
    if (this.buffer) writeSync(this.fd, this.buffer);
    this.buffer = '';
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

export function demandRow(t: DemandTruth): object {
  const f = t.factors;
  return {
    store_id: t.store_id,
    rental_class_num: t.rental_class_num,
    date: isoDate(t.date),
    true_rate: round(t.true_rate, 4),
    booked_units: t.booked_units,
    unfulfilled_units: t.unfulfilled_units,
    price_multiplier: t.price_multiplier,
    factors: {
      base: f.base,
      season: round(f.season, 4),
      weekday: f.weekday,
      weather: round(f.weather, 4),
      events: round(f.events, 4),
      price: round(f.price, 4),
      economy: round(f.economy, 4),
      ...(f.shift === 1 ? {} : { shift: round(f.shift, 4) }),
    },
  };
}

export function damageRow(t: DamageTruth): object {
  return { ...t, p_damage: round(t.p_damage, 6) };
}

/** The files of one simulation run in `dir`: open it, write the external series, record events, then finish. */
export class SimFiles {
  private readonly demand: JsonlWriter;
  private readonly damage: JsonlWriter;
  private readonly written: string[] = [];

  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'external'), { recursive: true });
    mkdirSync(join(dir, 'ground_truth'), { recursive: true });
    this.demand = new JsonlWriter(join(dir, FILES.demand));
    this.damage = new JsonlWriter(join(dir, FILES.damage));
  }

  /** Writes weather, economic and calendar files; they exist before the first event is generated. */
  writeExternal(sim: Simulation): void {
    const weather = new JsonlWriter(join(this.dir, FILES.weather));
    // Day by day, every store for a day together, as a daily collector would receive them.
    const days = sim.external.weather[0]?.length ?? 0;
    for (let d = 0; d < days; d++)
      for (const series of sim.external.weather) {
        const w = series[d]!;
        weather.write({ ...w, date: isoDate(w.date) });
      }
    weather.close();
    const economic = new JsonlWriter(join(this.dir, FILES.economic));
    for (const e of sim.external.economic) economic.write({ ...e, week_start: isoDate(e.week_start) });
    economic.close();
    const calendar = new JsonlWriter(join(this.dir, FILES.calendar));
    for (const { effect: _effect, ...e } of sim.external.calendar)
      calendar.write({ ...e, event_date: isoDate(e.event_date) });
    calendar.close();
    this.written.push(FILES.weather, FILES.economic, FILES.calendar);
  }

  /** Writes a ground-truth event; stream events are ignored (they go to Kafka). */
  record(ev: SimEvent): void {
    if (ev.kind === 'demand-truth') this.demand.write(demandRow(ev.truth));
    else if (ev.kind === 'damage-truth') this.damage.write(damageRow(ev.truth));
  }

  /** Closes the ground truth and writes catalogue.json and manifest.json (call once `sim.events` is exhausted). */
  finish(sim: Simulation, extra: Record<string, unknown> = {}): string[] {
    this.demand.close();
    this.damage.close();
    this.written.push(FILES.demand, FILES.damage);
    writeFileSync(join(this.dir, FILES.catalogue), `${JSON.stringify(catalogue(sim), null, 1)}\n`);
    this.written.push(FILES.catalogue, FILES.manifest);
    writeFileSync(
      join(this.dir, FILES.manifest),
      `${JSON.stringify({ ...manifest(sim, this.written), ...extra }, null, 2)}\n`,
    );
    return this.written.map((f) => join(this.dir, f));
  }
}

export function catalogue(sim: Simulation): object {
  return {
    stores: sim.stores.map((s) => ({
      store_id: s.id,
      city: s.city,
      time_zone: s.zone,
      readers: [
        ...s.readers.docks,
        s.readers.returns,
        s.readers.inspect,
        s.readers.repair,
        s.readers.warehouse,
      ],
    })),
    classes: sim.classes.map((c) => ({
      rental_class_num: c.code,
      name: c.name,
      category: c.category,
      outdoor: c.outdoor,
      season: c.season,
      base_daily_demand: c.base,
      price: c.price,
      elasticity: c.elasticity,
      lifetime_uses: c.lifetimeUses,
      fragility: c.fragility,
      initial_stock_per_store: stockFor(c),
    })),
    damage_model: {
      ...DAMAGE_MODEL,
      formula:
        'p_damage = sigmoid(intercept + fragility + perUse*usage_count + perAgeDay*age_days + perGradeLost*(5 - quality_before))',
    },
    items: sim.items().map((it) => ({
      tag_id: it.tag_id,
      rental_class_num: it.rental_class_num,
      store_id: it.store_id,
      purchase_date: isoDate(it.purchase_day),
      initial_usage_count: it.initial_usage_count,
      initial_quality: it.initial_quality,
      retired_on: it.retired_day === null ? null : isoDate(it.retired_day),
      replaces: it.replaces,
    })),
  };
}

export function manifest(sim: Simulation, files: readonly string[]): object {
  const o = sim.options;
  const c = sim.counts;
  const malformed = c.malformed['empty-tag'] + c.malformed['unknown-scan-type'] + c.malformed.garbage;
  return {
    generator: 'tagstream simulator (src/dev/sim)',
    options: {
      stores: o.stores,
      days: o.days,
      seed: o.seed,
      start: isoDate(o.start / 86_400_000),
      noise: o.noise,
      ...(o.shift === null
        ? {}
        : {
            shift: {
              from: isoDate(o.shift.from / 86_400_000),
              changes: o.shift.changes.map(formatShiftChange),
            },
          }),
    },
    period: { start: isoTime(o.start), end: isoTime(o.end) },
    store_ids: sim.stores.map((s) => s.id),
    counts: {
      scans: c.scans,
      duplicate_scans: c.duplicates,
      malformed_scans: malformed,
      malformed_by_kind: c.malformed,
      transactions: c.transactions,
      records_to_kafka: c.scans + c.duplicates + malformed + c.transactions,
      late_arrivals: c.lateArrivals,
      booked_units: c.bookedUnits,
      unfulfilled_units: c.unfulfilledUnits,
      rentals: c.rentals,
      damaged_rentals: c.damaged,
      items_initial: c.itemsInitial,
      items_purchased: c.itemsPurchased,
      items_retired: c.itemsRetired,
    },
    time_range: {
      first_event: isoTime(c.firstEventTime),
      last_event: isoTime(c.lastEventTime),
      first_arrival: isoTime(c.firstArrival),
      last_arrival: isoTime(c.lastArrival),
    },
    files,
  };
}

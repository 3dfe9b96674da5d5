// The pure business model of the rental simulator: demand, contracts, the item lifecycle and reader noise, yielded
// in event-time order as a generator so a year of scans never sits in memory. No I/O; deterministic for a seed.
//
// Each simulated day runs two phases: bookings for the event day BOOKING_LEAD_DAYS ahead (demand is drawn, grouped
// into contracts, each a POS transaction 1..30 days before its event), then dispatch of the day's contracts (items
// picked, out scans, and their whole future: return, maybe damage and repair, in). Future scans wait in a heap and
// are released once no later step can produce an earlier one.
import type { PosTransaction, RfidScan } from '../../schemas/types.ts';
import { CLASSES, SEASON_PROFILES, WEEKDAY, makeStores, type RentalClass, type Store } from './catalogue.ts';
import { eventBoost, generateExternal, type CalendarEntry, type External } from './external.ts';
import { MinHeap } from '../../../operators/lib/heap.ts';
import { Rng, sigmoid } from './rng.ts';
import { reportedGrade, shiftOn, type Shift } from './shift.ts';
import { DAY_MS, HOUR_MS, LocalDays, MINUTE_MS, dayOfYear, weekdayOf, ymdOf } from './time.ts';

/** Reader and delivery noise; all rates are probabilities per scan (per event for arrival delays). */
export interface NoiseOptions {
  /** A scan is also read by the neighbouring reader (same tag, time within 1 s). */
  readonly dupRate: number;
  /** A reader also emits a malformed record next to a scan: empty tag, unknown scan type, or garbage bytes. */
  readonly malformedRate: number;
  /** Share of events that arrive hours late (1 h .. maxLateMs after the event). */
  readonly lateRate: number;
  /** Share of events that arrive minutes late (1..15 min); the rest arrive within seconds. */
  readonly minuteRate: number;
  /** Upper bound of any arrival delay; the producer's reordering buffer spans this much event time. */
  readonly maxLateMs: number;
}

export const DEFAULT_NOISE: NoiseOptions = {
  dupRate: 0.02,
  malformedRate: 0.003,
  lateRate: 0.005,
  minuteRate: 0.08,
  maxLateMs: 6 * HOUR_MS,
};

export interface SimOptions {
  readonly stores: number;
  readonly days: number;
  readonly seed: number;
  /** First simulated day, ms at UTC midnight. Default 2025-01-01. */
  readonly start?: number;
  readonly noise?: Partial<NoiseOptions>;
  /** A change of the business from one day on (src/dev/sim/shift.ts); days before it are as without it. */
  readonly shift?: Shift;
}

export interface ResolvedOptions {
  readonly stores: number;
  readonly days: number;
  readonly seed: number;
  readonly start: number;
  /** start + days: nothing at or after it is emitted. */
  readonly end: number;
  readonly noise: NoiseOptions;
  readonly shift: Shift | null;
}

/** Contracts are booked 1..30 days before their event, so transactions start up to 30 days before `start`. */
export const BOOKING_LEAD_DAYS = 30;
export const DEFAULT_START = Date.UTC(2025, 0, 1);

/** Parameters of the true damage model: p = sigmoid(intercept + fragility + perUse*usage + perAgeDay*age + perGradeLost*(5 - quality)). */
export const DAMAGE_MODEL = {
  intercept: -4.6,
  perUse: 0.003,
  perAgeDay: 0.0003,
  perGradeLost: 0.35,
} as const;

/** Probability that a rental damages the item, given its completed rentals, age and grade when it goes out. */
export function damageProbability(
  rc: RentalClass,
  usageCount: number,
  ageDays: number,
  quality: number,
): number {
  const m = DAMAGE_MODEL;
  return sigmoid(
    m.intercept +
      rc.fragility +
      m.perUse * usageCount +
      m.perAgeDay * ageDays +
      m.perGradeLost * (5 - quality),
  );
}

/** Probability that a rental costs the item one quality grade; over lifetimeUses rentals it loses about 4. */
export function degradeProbability(rc: RentalClass, usageCount: number): number {
  const l = rc.lifetimeUses;
  return Math.min(0.6, (4 / l) * (0.4 + (1.2 * usageCount) / l));
}

/** Expected grades lost after `usage` rentals (the integral of degradeProbability), for the initial fleet. */
const gradesLost = (rc: RentalClass, usage: number): number =>
  (4 / rc.lifetimeUses) * (0.4 * usage + (0.6 * usage * usage) / rc.lifetimeUses);

export type Malformation = 'empty-tag' | 'unknown-scan-type' | 'garbage';
export const MALFORMATIONS: readonly Malformation[] = ['empty-tag', 'unknown-scan-type', 'garbage'];

export interface ScanEvent {
  readonly kind: 'scan';
  /** Event time (= scan.scan_date). */
  readonly time: number;
  /** When the record reaches Kafka; the producer sends in this order, with this record timestamp. */
  readonly arrival: number;
  /** Kafka key: the tag id; null for records a reader garbled. */
  readonly key: string | null;
  /** For a malformed record, what the reader sent (garbage: what it meant to send). */
  readonly scan: RfidScan;
  /** A second read of the same tag by the neighbouring reader. */
  readonly duplicate: boolean;
  readonly malformed: Malformation | null;
  /** For garbage: the bytes to send instead of an Avro value. */
  readonly raw: Buffer | null;
}

export interface TransactionEvent {
  readonly kind: 'transaction';
  readonly time: number;
  readonly arrival: number;
  readonly key: string;
  readonly tx: PosTransaction;
}

/** Ground truth of demand for one class, store and event day. */
export interface DemandTruth {
  readonly store_id: string;
  readonly rental_class_num: string;
  /** Event day, epoch day. */
  readonly date: number;
  /** The Poisson mean booked_units was drawn from. */
  readonly true_rate: number;
  readonly booked_units: number;
  /** Booked units no item was available for on the day. */
  unfulfilled_units: number;
  readonly price_multiplier: number;
  /**
   * The multiplicative factors of true_rate = base * season * weekday * weather * events * price * economy * shift
   * (shift: an injected demand change, 1 without one).
   */
  readonly factors: {
    readonly base: number;
    readonly season: number;
    readonly weekday: number;
    readonly weather: number;
    readonly events: number;
    readonly price: number;
    readonly economy: number;
    readonly shift: number;
  };
}

/** Ground truth of one rental of one item (only rentals whose return falls in the period). */
export interface DamageTruth {
  readonly tag_id: string;
  readonly rental_class_num: string;
  readonly store_id: string;
  readonly out_at: number;
  readonly return_at: number;
  /** Completed rentals before this one. */
  readonly usage_count: number;
  readonly age_days: number;
  readonly quality_before: number;
  /** Grade on the return scan. */
  readonly quality_after: number;
  readonly p_damage: number;
  readonly damaged: boolean;
}

export type StreamEvent = ScanEvent | TransactionEvent;
export type SimEvent =
  | StreamEvent
  | { readonly kind: 'demand-truth'; readonly truth: DemandTruth }
  | { readonly kind: 'damage-truth'; readonly truth: DamageTruth };

export const isStreamEvent = (e: SimEvent): e is StreamEvent => e.kind === 'scan' || e.kind === 'transaction';

/** An item of the fleet, as catalogue.json lists it. */
export interface ItemRecord {
  readonly tag_id: string;
  readonly rental_class_num: string;
  readonly store_id: string;
  /** Epoch day. */
  readonly purchase_day: number;
  readonly initial_usage_count: number;
  readonly initial_quality: number;
  /** Epoch day of the in scan after which it was retired, or null. */
  readonly retired_day: number | null;
  /** The retired item this one replaced. */
  readonly replaces: string | null;
}

export interface SimCounts {
  /** Valid scans, first reads only. */
  scans: number;
  duplicates: number;
  malformed: Record<Malformation, number>;
  transactions: number;
  /** Events arriving an hour or more after their event time. */
  lateArrivals: number;
  bookedUnits: number;
  unfulfilledUnits: number;
  rentals: number;
  damaged: number;
  itemsInitial: number;
  itemsPurchased: number;
  itemsRetired: number;
  firstEventTime: number | null;
  lastEventTime: number | null;
  firstArrival: number | null;
  lastArrival: number | null;
}

export interface Simulation {
  readonly options: ResolvedOptions;
  readonly stores: readonly Store[];
  readonly classes: readonly RentalClass[];
  readonly external: External;
  /** Stream events in event-time order, interleaved with ground-truth records. One pass only. */
  readonly events: Generator<SimEvent, void, undefined>;
  /** The fleet so far (complete once `events` is exhausted). */
  items(): ItemRecord[];
  /** Live counters (final once `events` is exhausted). */
  readonly counts: SimCounts;
}

interface Item {
  readonly tag: string;
  readonly cls: number;
  readonly store: number;
  readonly purchaseDay: number;
  readonly initialUsage: number;
  readonly initialQuality: number;
  readonly replaces: string | null;
  usage: number;
  quality: number;
  /** First day index it can go out. */
  availableFrom: number;
  lastOut: number;
  retiredDay: number | null;
}

interface Line {
  readonly cls: number;
  readonly quantity: number;
  readonly price: number;
}

interface Contract {
  readonly tx: PosTransaction;
  readonly bookedAt: number;
  readonly lines: readonly Line[];
}

const UNKNOWN_TYPES = ['audit', 'transfer', 'lost', 'inventory', 'rtrn', '??'];

export function resolveOptions(options: SimOptions): ResolvedOptions {
  const start = options.start ?? DEFAULT_START;
  const check = (ok: boolean, what: string): void => {
    if (!ok) throw new RangeError(what);
  };
  check(Number.isInteger(options.stores) && options.stores >= 1, `stores must be an integer >= 1`);
  check(Number.isInteger(options.days) && options.days >= 1, `days must be an integer >= 1`);
  check(Number.isInteger(options.seed), `seed must be an integer`);
  check(Number.isInteger(start) && start % DAY_MS === 0, `start must be a UTC midnight in ms`);
  const noise = { ...DEFAULT_NOISE, ...options.noise };
  for (const k of ['dupRate', 'malformedRate', 'lateRate', 'minuteRate'] as const)
    check(noise[k] >= 0 && noise[k] <= 1, `noise.${k} must be within 0..1`);
  check(noise.lateRate + noise.minuteRate <= 1, 'noise.lateRate + noise.minuteRate must be at most 1');
  check(noise.maxLateMs >= HOUR_MS, 'noise.maxLateMs must be at least an hour');
  const shift = options.shift ?? null;
  if (shift !== null)
    check(
      Number.isInteger(shift.from) && shift.from % DAY_MS === 0,
      'shift.from must be a UTC midnight in ms',
    );
  return {
    stores: options.stores,
    days: options.days,
    seed: options.seed,
    start,
    end: start + options.days * DAY_MS,
    noise,
    shift,
  };
}

/** Seasonal multiplier of a profile on an epoch day, interpolated between mid-month values. */
export function seasonFactor(profile: readonly number[], epochDay: number): number {
  const { year } = ymdOf(epochDay);
  const daysInYear = (Date.UTC(year + 1, 0, 1) - Date.UTC(year, 0, 1)) / DAY_MS;
  const m = (dayOfYear(epochDay) / daysInYear) * 12 - 0.5; // 0 at mid-January
  const i = Math.floor(m);
  const f = m - i;
  const a = profile[(i + 12) % 12]!;
  const b = profile[(i + 13) % 12]!;
  return a + (b - a) * f;
}

export function weatherFactor(rc: RentalClass, precipitationIn: number, temperatureF: number): number {
  let f = 1;
  if (rc.rain < 0) f *= Math.max(0.3, Math.exp(rc.rain * precipitationIn));
  else if (rc.rain > 0) f *= 1 + rc.rain * Math.min(precipitationIn, 1);
  if (rc.temperature === 'heat') f *= 1 + Math.min(1, Math.max(0, (temperatureF - 78) / 12));
  if (rc.temperature === 'cold') f *= 1 + Math.min(1, Math.max(0, (55 - temperatureF) / 25));
  return f;
}

export function economyFactor(consumerConfidence: number, unemploymentRate: number): number {
  return Math.min(
    1.2,
    Math.max(0.8, 1 + 0.01 * (consumerConfidence - 100) - 0.04 * (unemploymentRate - 4.2)),
  );
}

/** Days of average peak-month demand a store stocks per class: about 4% of booked units go unfulfilled over a year. */
const STOCK_DAYS = 3.8;

/** Items per class and store: sized for the class's peak month, yet short on its busiest weekends. */
export const stockFor = (rc: RentalClass): number =>
  Math.max(2, Math.ceil(rc.base * Math.max(...SEASON_PROFILES[rc.season]) * STOCK_DAYS) + 1);

const cents = (x: number): number => Math.round(x * 100);

class Run {
  readonly stores: Store[];
  readonly external: External;
  readonly counts: SimCounts = {
    scans: 0,
    duplicates: 0,
    malformed: { 'empty-tag': 0, 'unknown-scan-type': 0, garbage: 0 },
    transactions: 0,
    lateArrivals: 0,
    bookedUnits: 0,
    unfulfilledUnits: 0,
    rentals: 0,
    damaged: 0,
    itemsInitial: 0,
    itemsPurchased: 0,
    itemsRetired: 0,
    firstEventTime: null,
    lastEventTime: null,
    firstArrival: null,
    lastArrival: null,
  };
  readonly allItems: Item[] = [];

  private readonly startDay: number;
  private readonly local: LocalDays[];
  /** Calendar entries by `${store id or *}:${epoch day}`. */
  private readonly eventsByDay = new Map<string, CalendarEntry[]>();
  /** Economic week index by day index. */
  private readonly weekOfDay: number[] = [];
  /** active[store][class]: items not retired. */
  private readonly active: Item[][][];
  private readonly serial: number[][];
  private readonly txSeq: number[];
  /** contracts[store]: event day index -> contracts, in booking order. */
  private readonly contracts: Map<number, Contract[]>[];
  private readonly pendingTruth: Map<number, DemandTruth[]>[];
  private readonly heap = new MinHeap<StreamEvent>();
  private truthQueue: SimEvent[] = [];

  private readonly rngDemand: Rng;
  private readonly rngPrice: Rng;
  private readonly rngContracts: Rng;
  private readonly rngLife: Rng;
  private readonly rngNoise: Rng;

  constructor(readonly options: ResolvedOptions) {
    const { seed } = options;
    this.startDay = options.start / DAY_MS;
    this.stores = makeStores(options.stores);
    this.local = this.stores.map((s) => new LocalDays(s.zone));
    this.external = shiftWeather(
      generateExternal(this.stores, this.startDay, options.days, seed),
      options.shift ?? undefined,
    );
    for (const e of this.external.calendar) {
      const key = `${e.store_id ?? '*'}:${e.event_date}`;
      const list = this.eventsByDay.get(key) ?? [];
      list.push(e);
      this.eventsByDay.set(key, list);
    }
    const weeks = this.external.economic;
    for (let d = 0, w = 0; d < options.days; d++) {
      while (w + 1 < weeks.length && weeks[w + 1]!.week_start <= this.startDay + d) w++;
      this.weekOfDay.push(w);
    }
    this.rngDemand = Rng.stream(seed, 'demand');
    this.rngPrice = Rng.stream(seed, 'price');
    this.rngContracts = Rng.stream(seed, 'contracts');
    this.rngLife = Rng.stream(seed, 'lifecycle');
    this.rngNoise = Rng.stream(seed, 'noise');
    this.serial = this.stores.map(() => CLASSES.map(() => 0));
    this.txSeq = this.stores.map(() => 0);
    this.contracts = this.stores.map(() => new Map());
    this.pendingTruth = this.stores.map(() => new Map());
    const fleet = Rng.stream(seed, 'fleet');
    this.active = this.stores.map((s) => CLASSES.map((rc, c) => this.initialFleet(s, rc, c, fleet)));
  }

  private newTag(store: number, cls: number): string {
    const n = ++this.serial[store]![cls]!;
    return `${this.stores[store]!.id}-${CLASSES[cls]!.code}-${String(n).padStart(4, '0')}`;
  }

  private initialFleet(store: Store, rc: RentalClass, cls: number, rng: Rng): Item[] {
    const stock = stockFor(rc);
    const utilisation = rc.base / stock; // rentals per item and day, on average
    const items: Item[] = [];
    for (let i = 0; i < stock; i++) {
      const usage = Math.floor(rng.float() * 0.9 * rc.lifetimeUses);
      const ageDays = Math.round((usage / utilisation) * rng.between(0.8, 1.2)) + rng.int(0, 60);
      const quality = Math.min(5, Math.max(2, 5 - Math.round(gradesLost(rc, usage) * rng.between(0.8, 1.2))));
      const item: Item = {
        tag: this.newTag(store.index, cls),
        cls,
        store: store.index,
        purchaseDay: this.startDay - ageDays,
        initialUsage: usage,
        initialQuality: quality,
        replaces: null,
        usage,
        quality,
        availableFrom: 0,
        lastOut: -Infinity,
        retiredDay: null,
      };
      items.push(item);
      this.allItems.push(item);
      this.counts.itemsInitial++;
    }
    return items;
  }

  *events(): Generator<SimEvent, void, undefined> {
    const { days } = this.options;
    for (let d = -BOOKING_LEAD_DAYS; d < days; d++) {
      const eventDay = d + BOOKING_LEAD_DAYS;
      if (eventDay < days) for (const s of this.stores) this.book(s, eventDay);
      if (d >= 0) for (const s of this.stores) this.dispatch(s, d);
      yield* this.truthQueue;
      this.truthQueue = [];
      // Every later step only makes events at or after its store's local midnight of day d + 1.
      const boundary =
        d === days - 1 ? Infinity : Math.min(...this.local.map((l) => l.midnight(this.startDay + d + 1)));
      while ((this.heap.peekKey() ?? Infinity) < boundary) yield this.emit(this.heap.pop()!);
    }
  }

  private emit(ev: StreamEvent): StreamEvent {
    const c = this.counts;
    if (ev.kind === 'transaction') c.transactions++;
    else if (ev.malformed) c.malformed[ev.malformed]++;
    else if (ev.duplicate) c.duplicates++;
    else c.scans++;
    if (ev.arrival - ev.time >= HOUR_MS) c.lateArrivals++;
    c.firstEventTime ??= ev.time;
    c.lastEventTime = ev.time;
    c.firstArrival = Math.min(c.firstArrival ?? Infinity, ev.arrival);
    c.lastArrival = Math.max(c.lastArrival ?? -Infinity, ev.arrival);
    return ev;
  }

  private delay(): number {
    const n = this.options.noise;
    const r = this.rngNoise;
    const u = r.float();
    if (u < n.lateRate) return Math.round(r.between(HOUR_MS, n.maxLateMs));
    if (u < n.lateRate + n.minuteRate) return Math.round(r.between(MINUTE_MS, 15 * MINUTE_MS));
    return Math.round(Math.min(60_000, 50 + r.exponential(1_500)));
  }

  // ---- bookings ------------------------------------------------------------------------------------------------

  /** Draws the demand of every class for (store, event day) and books it as contracts. */
  private book(store: Store, e: number): void {
    const epochDay = this.startDay + e;
    const wx = this.external.weather[store.index]![e]!;
    const week = this.external.economic[this.weekOfDay[e]!]!;
    const events = [
      ...(this.eventsByDay.get(`*:${epochDay}`) ?? []),
      ...(this.eventsByDay.get(`${store.id}:${epochDay}`) ?? []),
    ];
    const weekday = WEEKDAY[weekdayOf(epochDay)]!;
    const economy = economyFactor(week.consumer_confidence, week.unemployment_rate);
    const shift = shiftOn(this.options.shift ?? undefined, epochDay);
    const truths: DemandTruth[] = [];
    const units: number[] = [];
    const prices: number[] = [];
    CLASSES.forEach((rc) => {
      const u = this.rngPrice.float();
      const drawn =
        u < 0.12
          ? Math.round(this.rngPrice.between(0.8, 0.92) * 100) / 100
          : u < 0.24
            ? Math.round(this.rngPrice.between(1.08, 1.25) * 100) / 100
            : 1;
      const multiplier = shift.price === 1 ? drawn : Math.round(drawn * shift.price * 100) / 100;
      const factors = {
        base: rc.base,
        season: seasonFactor(SEASON_PROFILES[rc.season], epochDay),
        weekday,
        weather: weatherFactor(rc, wx.precipitation_in, wx.temperature_f),
        events: eventBoost(events, rc),
        price: multiplier ** -rc.elasticity,
        economy,
        shift: shift.demand,
      };
      const rate =
        factors.base *
        factors.season *
        factors.weekday *
        factors.weather *
        factors.events *
        factors.price *
        factors.economy *
        factors.shift;
      const n = this.rngDemand.poisson(rate);
      units.push(n);
      prices.push(cents(rc.price * multiplier) / 100);
      this.counts.bookedUnits += n;
      truths.push({
        store_id: store.id,
        rental_class_num: rc.code,
        date: epochDay,
        true_rate: rate,
        booked_units: n,
        unfulfilled_units: 0,
        price_multiplier: multiplier,
        factors,
      });
    });
    this.pendingTruth[store.index]!.set(e, truths);
    const contracts = this.groupIntoContracts(store, e, units, prices);
    this.contracts[store.index]!.set(
      e,
      contracts.sort((a, b) => a.bookedAt - b.bookedAt),
    );
  }

  /** Splits the day's units into contracts of 1..5 lines, each booked 1..30 days ahead. */
  private groupIntoContracts(store: Store, e: number, units: number[], prices: number[]): Contract[] {
    const r = this.rngContracts;
    const remaining = new Map<number, number>();
    units.forEach((n, c) => {
      if (n > 0) remaining.set(c, n);
    });
    const out: Contract[] = [];
    while (remaining.size > 0) {
      const open = [...remaining.keys()];
      const k = Math.min(open.length, r.int(1, 5));
      for (let i = 0; i < k; i++) {
        const j = i + Math.floor(r.float() * (open.length - i));
        [open[i], open[j]] = [open[j]!, open[i]!];
      }
      const lines: Line[] = open
        .slice(0, k)
        .sort((a, b) => a - b)
        .map((cls) => {
          const left = remaining.get(cls)!;
          const rc = CLASSES[cls]!;
          let q = Math.min(left, Math.max(1, Math.round(rc.lineQty * r.between(0.5, 1.5))));
          if (left - q <= rc.lineQty * 0.25) q = left; // no crumbs left for a contract of their own
          if (q === left) remaining.delete(cls);
          else remaining.set(cls, left - q);
          return { cls, quantity: q, price: prices[cls]! };
        });
      out.push(this.contract(store, e, lines));
    }
    return out;
  }

  private contract(store: Store, e: number, lines: Line[]): Contract {
    const r = this.rngContracts;
    const lead = 1 + Math.floor(BOOKING_LEAD_DAYS * r.float() ** 1.6);
    const bookedAt = this.local[store.index]!.at(
      this.startDay + e - lead,
      9 * HOUR_MS + r.between(0, 9 * HOUR_MS),
    );
    const seq = ++this.txSeq[store.index]!;
    const n = String(seq).padStart(7, '0');
    const customer = Math.floor(2500 * r.float() ** 2);
    const totalCents = lines.reduce((acc, l) => acc + l.quantity * cents(l.price), 0);
    const tx: PosTransaction = {
      transaction_id: `TX-${store.id}-${n}`,
      contract_no: `C-${store.id}-${n}`,
      store_id: store.id,
      customer_id: `CUST-${store.id}-${String(customer).padStart(5, '0')}`,
      transaction_date: bookedAt,
      event_date: this.startDay + e,
      items: lines.map((l) => ({
        rental_class_num: CLASSES[l.cls]!.code,
        quantity: l.quantity,
        price: l.price,
      })),
      total_amount: totalCents / 100,
    };
    this.heap.push(bookedAt, {
      kind: 'transaction',
      time: bookedAt,
      arrival: bookedAt + this.delay(),
      key: tx.transaction_id,
      tx,
    });
    return { tx, bookedAt, lines };
  }

  // ---- dispatch and item lifecycle -----------------------------------------------------------------------------

  /** Sends out the items of the day's contracts, first booked first served, and schedules their lifecycle. */
  private dispatch(store: Store, d: number): void {
    const r = this.rngLife;
    const local = this.local[store.index]!;
    const truths = this.pendingTruth[store.index]!.get(d) ?? [];
    this.pendingTruth[store.index]!.delete(d);
    const contracts = this.contracts[store.index]!.get(d) ?? [];
    this.contracts[store.index]!.delete(d);
    for (const contract of contracts) {
      let outAt = local.at(this.startDay + d, 8 * HOUR_MS + r.between(0, 3.5 * HOUR_MS));
      const dock = r.pick(store.readers.docks);
      const returnDay = d + 1 + r.weighted([0.6, 0.3, 0.1]);
      let returnAt = local.at(this.startDay + returnDay, 9 * HOUR_MS + r.between(0, 8 * HOUR_MS));
      for (const line of contract.lines) {
        const pool = this.active[store.index]![line.cls]!;
        const picked = pool
          .filter((it) => it.availableFrom <= d)
          .sort((a, b) => a.lastOut - b.lastOut || (a.tag < b.tag ? -1 : 1))
          .slice(0, line.quantity);
        const short = line.quantity - picked.length;
        if (short > 0) {
          truths[line.cls]!.unfulfilled_units += short;
          this.counts.unfulfilledUnits += short;
        }
        for (const item of picked) {
          outAt += r.int(400, 1500);
          returnAt += r.int(400, 1500);
          this.rent(store, item, d, outAt, dock, returnDay, returnAt, contract.tx.contract_no);
        }
      }
    }
    for (const truth of truths) this.truthQueue.push({ kind: 'demand-truth', truth });
  }

  private rent(
    store: Store,
    item: Item,
    d: number,
    outAt: number,
    dock: string,
    returnDay: number,
    returnAt: number,
    contractNo: string,
  ): void {
    const r = this.rngLife;
    const rc = CLASSES[item.cls]!;
    const readers = store.readers;
    const local = this.local[store.index]!;
    const qBefore = item.quality;
    const usage = item.usage;
    const ageDays = this.startDay + d - item.purchaseDay;
    const pDamage = damageProbability(rc, usage, ageDays, qBefore);
    const damaged = r.chance(pDamage);
    const qReturn = r.chance(degradeProbability(rc, usage)) ? Math.max(1, qBefore - 1) : qBefore;
    const note = `contract ${contractNo}`;
    this.scan(store, item, 'out', outAt, dock, qBefore, note);
    this.scan(store, item, 'return', returnAt, readers.returns, qReturn, note);
    let qFinal: number;
    let inDay: number;
    if (damaged) {
      const qDamaged = Math.max(1, qReturn - (r.chance(0.35) ? 2 : 1));
      const what = r.pick(rc.damage);
      this.scan(
        store,
        item,
        'damage',
        returnAt + r.int(5, 40) * MINUTE_MS,
        readers.inspect,
        qDamaged,
        `damage: ${what}`,
      );
      inDay = returnDay + r.int(2, 10);
      const repairAt = local.at(this.startDay + inDay, 10 * HOUR_MS + r.between(0, 6 * HOUR_MS));
      // Repair restores part of the grade, never beyond what the item had before, never to like-new.
      qFinal = Math.max(qDamaged, Math.min(qDamaged + 1 + (r.chance(0.4) ? 1 : 0), 4, qBefore));
      this.scan(store, item, 'repair', repairAt, readers.repair, qFinal, `repaired: ${what}`);
      this.scan(store, item, 'in', repairAt + r.int(30, 120) * MINUTE_MS, readers.warehouse, qFinal, null);
      item.availableFrom = inDay + 1; // back on the shelf after the day's dispatch
    } else {
      qFinal = qReturn;
      inDay = returnDay + 1;
      // In before the morning's dispatch starts (08:00), so the item can go out again the same day.
      const inAt = local.at(this.startDay + inDay, 7 * HOUR_MS + r.between(0, 55 * MINUTE_MS));
      this.scan(store, item, 'in', inAt, readers.warehouse, qFinal, null);
      item.availableFrom = inDay;
    }
    item.usage = usage + 1;
    item.quality = qFinal;
    item.lastOut = d;
    this.counts.rentals++;
    if (returnAt < this.options.end) {
      if (damaged) this.counts.damaged++;
      this.truthQueue.push({
        kind: 'damage-truth',
        truth: {
          tag_id: item.tag,
          rental_class_num: rc.code,
          store_id: store.id,
          out_at: outAt,
          return_at: returnAt,
          usage_count: usage,
          age_days: ageDays,
          quality_before: qBefore,
          quality_after: qReturn,
          p_damage: pDamage,
          damaged,
        },
      });
    }
    if ((item.usage >= rc.lifetimeUses || qFinal === 1) && inDay < this.options.days)
      this.retire(item, inDay);
  }

  /** Retires a worn-out item after its in scan and buys a new one, available the next day. */
  private retire(item: Item, inDay: number): void {
    const pool = this.active[item.store]![item.cls]!;
    pool.splice(pool.indexOf(item), 1);
    item.retiredDay = this.startDay + inDay;
    const fresh: Item = {
      tag: this.newTag(item.store, item.cls),
      cls: item.cls,
      store: item.store,
      purchaseDay: this.startDay + inDay,
      initialUsage: 0,
      initialQuality: 5,
      replaces: item.tag,
      usage: 0,
      quality: 5,
      availableFrom: inDay + 1,
      lastOut: -Infinity,
      retiredDay: null,
    };
    pool.push(fresh);
    this.allItems.push(fresh);
    this.counts.itemsRetired++;
    this.counts.itemsPurchased++;
  }

  // ---- scans and noise -----------------------------------------------------------------------------------------

  private scan(
    store: Store,
    item: Item,
    scanType: string,
    time: number,
    reader: string,
    quality: number,
    notes: string | null,
  ): void {
    if (time >= this.options.end) return;
    const scan: RfidScan = {
      tag_id: item.tag,
      rental_class_num: CLASSES[item.cls]!.code,
      scan_type: scanType,
      scan_date: time,
      reader_id: reader,
      store_id: store.id,
      quality_grade: reportedGrade(this.options.shift ?? undefined, time, quality),
      notes,
    };
    this.pushScan(scan, false, null, null, scan.tag_id);
    const n = this.options.noise;
    const r = this.rngNoise;
    if (r.chance(n.dupRate)) {
      const t = time + r.int(-1000, 1000);
      const reader2 = store.readers.neighbour[reader] ?? reader;
      if (t < this.options.end)
        this.pushScan({ ...scan, scan_date: t, reader_id: reader2 }, true, null, null, scan.tag_id);
    }
    if (r.chance(n.malformedRate)) {
      const t = time + r.int(1, 2000);
      const kind = r.pick(MALFORMATIONS);
      let raw: Buffer | null = null;
      if (kind === 'garbage') {
        raw = Buffer.from(Array.from({ length: r.int(3, 40) }, () => r.int(0, 255)));
        if (raw[0] === 0) raw[0] = 0x7b; // never the wire format's magic byte
      }
      const bad: RfidScan =
        kind === 'empty-tag'
          ? { ...scan, tag_id: '', scan_date: t }
          : kind === 'unknown-scan-type'
            ? { ...scan, scan_type: r.pick(UNKNOWN_TYPES), scan_date: t }
            : { ...scan, scan_date: t };
      if (t < this.options.end)
        this.pushScan(bad, false, kind, raw, kind === 'unknown-scan-type' ? scan.tag_id : null);
    }
  }

  private pushScan(
    scan: RfidScan,
    duplicate: boolean,
    malformed: Malformation | null,
    raw: Buffer | null,
    key: string | null,
  ): void {
    const time = scan.scan_date;
    const ev: ScanEvent = {
      kind: 'scan',
      time,
      arrival: time + this.delay(),
      key,
      scan,
      duplicate,
      malformed,
      raw,
    };
    this.heap.push(time, ev);
  }
}

/** The weather with an injected temperature or precipitation shift applied from its first day on. */
function shiftWeather(external: External, shift: Shift | undefined): External {
  if (shift === undefined) return external;
  const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
  return {
    ...external,
    weather: external.weather.map((days) =>
      days.map((w) => {
        const s = shiftOn(shift, w.date);
        if (s.temperature === 0 && s.precipitation === 0) return w;
        return {
          ...w,
          temperature_f: round(w.temperature_f + s.temperature, 1),
          precipitation_in: Math.max(0, round(w.precipitation_in + s.precipitation, 2)),
        };
      }),
    ),
  };
}

/** Runs the simulation lazily: nothing is generated until `events` is iterated. */
export function simulate(options: SimOptions): Simulation {
  const run = new Run(resolveOptions(options));
  return {
    options: run.options,
    stores: run.stores,
    classes: CLASSES,
    external: run.external,
    events: run.events(),
    counts: run.counts,
    items: () =>
      run.allItems.map((it) => ({
        tag_id: it.tag,
        rental_class_num: CLASSES[it.cls]!.code,
        store_id: run.stores[it.store]!.id,
        purchase_day: it.purchaseDay,
        initial_usage_count: it.initialUsage,
        initial_quality: it.initialQuality,
        retired_day: it.retiredDay,
        replaces: it.replaces,
      })),
  };
}

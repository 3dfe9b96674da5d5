// The event-time window operator against a brute-force model written from its documented semantics: random keyed
// streams with disorder, late records, wall-clock idleness and random grace, for every window kind; restarts from
// the changelog change nothing; idle partitions close their windows; calendar days follow DST; late records carry
// their lateness.
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { combine, count, distinctCount, max, mean, measure, min, sum } from '../../operators/aggregates.ts';
import {
  windowAggregate,
  type LateInfo,
  type WindowOptions,
  type WindowResult,
} from '../../operators/window-aggregate.ts';
import { DAY, HOUR, MINUTE, standardWindows, type WindowSpec } from '../../operators/windows.ts';
import type { Rec } from '../../src/runtime/operator.ts';
import { OperatorHarness } from './harness.ts';

interface Ev {
  readonly key: string;
  readonly qty: number;
  readonly tag: string;
  /** Event time carried in the value, for runs that read it with the operator's `time` option. */
  readonly at?: number;
}

const ZONES: Readonly<Record<string, string>> = {
  S1: 'America/New_York',
  S2: 'America/Los_Angeles',
  S3: 'Europe/Berlin',
};
const zoneOf = (key: string): string => ZONES[key.slice(0, 2)] ?? 'UTC';

/** Sliding windows have no min/max removal, so `full` recomputes on eviction and `removable` removes. */
type Measures = 'full' | 'removable';
const AGGREGATES = {
  full: combine<Ev>({
    n: measure(count, () => 1),
    total: measure(sum, (v: Ev) => v.qty),
    avg: measure(mean, (v: Ev) => v.qty),
    lo: measure(min, (v: Ev) => v.qty),
    hi: measure(max, (v: Ev) => v.qty),
    tags: measure(distinctCount, (v: Ev) => v.tag),
  }),
  removable: combine<Ev>({
    n: measure(count, () => 1),
    total: measure(sum, (v: Ev) => v.qty),
    avg: measure(mean, (v: Ev) => v.qty),
    tags: measure(distinctCount, (v: Ev) => v.tag),
  }),
} as const;

/** The measures computed directly from the records. */
function direct(evs: readonly Ev[], measures: Measures): Record<string, number> {
  const qty = evs.map((e) => e.qty);
  const total = qty.reduce((a, b) => a + b, 0);
  const n = evs.length;
  const base = { n, total, avg: n === 0 ? 0 : total / n, tags: new Set(evs.map((e) => e.tag)).size };
  if (measures === 'removable') return base;
  return { ...base, lo: n === 0 ? 0 : Math.min(...qty), hi: n === 0 ? 0 : Math.max(...qty) };
}

type Emit = WindowOptions<Ev>['emit'];

interface Params {
  readonly windows: readonly WindowSpec[];
  readonly graceMs: number;
  readonly idleTimeoutMs: number;
  readonly emit: Emit;
  readonly measures: Measures;
  /** Event time from the value (`time` option) while the record timestamp is something else. */
  readonly timeFromValue: boolean;
  /** Held updates also go out at a change of this bucket of event time (0: once per batch). */
  readonly heldBucketMs?: number;
}

const operatorFor = (p: Params) => () =>
  windowAggregate<Ev>({
    name: 'features',
    windows: p.windows,
    key: (v) => v.key,
    aggregate: AGGREGATES[p.measures],
    graceMs: p.graceMs,
    emit: p.emit,
    idleTimeoutMs: p.idleTimeoutMs,
    ...(p.timeFromValue ? { time: (v: Ev) => v.at ?? Number.NaN } : {}),
    ...(p.heldBucketMs === undefined ? {} : { heldBucketMs: p.heldBucketMs }),
  });

/** The Kafka timestamp when event time comes from the value: unrelated to it (here, three hours later). */
const recTimestamp = (p: Params, t: number) => (p.timeFromValue ? t + 3 * HOUR : t);

// ---------------------------------------------------------------------------------------------------------------
// The model. Written from the header comment and the task's semantics, not from the operator's code: no heaps, no
// buffers, no incremental accumulators; every emission is recomputed from the records it should cover.

/** Local midnight to next local midnight, from calendar dates (independent of windows.ts). */
function modelDay(t: number, zone: string): [number, number] {
  const d = DateTime.fromMillis(t, { zone });
  const next = new Date(Date.UTC(d.year, d.month - 1, d.day + 1));
  const midnight = (year: number, month: number, day: number) =>
    DateTime.fromObject({ year, month, day }, { zone }).toMillis();
  return [
    midnight(d.year, d.month, d.day),
    midnight(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate()),
  ];
}

type Sliding = WindowSpec & { kind: 'sliding' };

/** The start of the hop holding t (independent of the operator's bucket arithmetic: a remainder, not a floor). */
const hopOf = (spec: Sliding, t: number): number => t - (((t % spec.hopMs) + spec.hopMs) % spec.hopMs);

/** The sliding window standing at `end` starts at the end of end's hop, less the window size. */
const modelSlidingStart = (spec: Sliding, end: number): number => hopOf(spec, end) + spec.hopMs - spec.sizeMs;

function modelWindow(spec: WindowSpec, key: string, t: number): [number, number] {
  if (spec.kind === 'tumbling') {
    const start = t - (((t % spec.sizeMs) + spec.sizeMs) % spec.sizeMs);
    return [start, start + spec.sizeMs];
  }
  if (spec.kind === 'day') return modelDay(t, spec.zone(key));
  throw new Error('sliding windows have no fixed bounds');
}

/** What one call emitted, in a canonical form: emitted records and 'late' side records. */
interface Emitted {
  readonly out: Array<WindowResult & { readonly recKey: string | null; readonly timestamp: number }>;
  readonly late: Array<LateInfo<Ev> & { readonly recKey: string | null; readonly timestamp: number }>;
}

interface OpenWindow {
  readonly key: string;
  readonly name: string;
  readonly start: number;
  readonly end: number;
  readonly evs: Ev[];
}

interface ModelPartition {
  wm: number;
  lastArrivalWall: number;
  wmAtArrival: number;
  readonly open: Map<string, OpenWindow>;
  /** Per sliding window name: the records it took in (neither late nor behind the window). */
  readonly slid: Map<string, Array<{ key: string; t: number; ev: Ev }>>;
}

class WindowModel {
  private readonly parts = new Map<number, ModelPartition>();

  constructor(private readonly p: Params) {}

  private part(partition: number): ModelPartition {
    let s = this.parts.get(partition);
    if (!s) {
      s = {
        wm: -Infinity,
        lastArrivalWall: -Infinity,
        wmAtArrival: -Infinity,
        open: new Map(),
        slid: new Map(),
      };
      this.parts.set(partition, s);
    }
    return s;
  }

  /** The sliding window at `end`: the records from the hop edge `start` up to `end`, both included. */
  private slideResult(s: ModelPartition, spec: Sliding, key: string, end: number) {
    const start = modelSlidingStart(spec, end);
    const evs = (s.slid.get(spec.name) ?? [])
      .filter((r) => r.key === key && r.t >= start && r.t <= end)
      .map((r) => r.ev);
    return this.result(key, spec.name, start, end, false, evs);
  }

  private result(
    key: string,
    window: string,
    start: number,
    end: number,
    final: boolean,
    evs: readonly Ev[],
  ) {
    return {
      key,
      window,
      start,
      end,
      final,
      values: direct(evs, this.p.measures),
      count: evs.length,
      recKey: key,
      timestamp: end,
    };
  }

  push(ev: Ev, t: number, partition: number, now: number): Emitted {
    const s = this.part(partition);
    const wm = s.wm;
    const out: Emitted['out'] = [];
    const late: Emitted['late'] = [];
    const lateFor = (window: string, windowSizeMs: number, closesAt: number) =>
      late.push({
        window,
        windowSizeMs,
        eventTime: t,
        watermark: wm,
        latenessMs: wm - closesAt,
        input: ev,
        recKey: ev.key,
        timestamp: t,
      });
    for (const spec of this.p.windows) {
      if (spec.kind === 'sliding') {
        // A record leaves the window when the window's start passes its hop; late after the grace period.
        const closesAt = hopOf(spec, t) + spec.sizeMs + this.p.graceMs;
        if (closesAt <= wm) {
          lateFor(spec.name, spec.sizeMs, closesAt);
          continue;
        }
        const end = Math.max(wm, t);
        if (t < modelSlidingStart(spec, end)) continue; // behind the current window: ignored, not late
        s.slid.set(spec.name, [...(s.slid.get(spec.name) ?? []), { key: ev.key, t, ev }]);
        out.push(this.slideResult(s, spec, ev.key, end));
        continue;
      }
      const [start, end] = modelWindow(spec, ev.key, t);
      if (end + this.p.graceMs <= wm) {
        lateFor(spec.name, end - start, end + this.p.graceMs);
        continue;
      }
      const id = JSON.stringify([ev.key, spec.name, start]);
      const w = s.open.get(id) ?? { key: ev.key, name: spec.name, start, end, evs: [] };
      w.evs.push(ev);
      s.open.set(id, w);
      // An update is stamped with the event time of the record that made it, a final result with the window end.
      if (this.p.emit !== 'final')
        out.push({ ...this.result(ev.key, spec.name, start, end, false, w.evs), timestamp: t });
    }
    s.lastArrivalWall = now;
    if (t > wm) out.push(...this.advance(s, t, ev.key));
    s.wmAtArrival = Math.max(wm, t);
    return { out, late };
  }

  tick(partition: number, now: number): Emitted {
    const s = this.parts.get(partition);
    if (!s || s.wmAtArrival === -Infinity) return { out: [], late: [] };
    const idle = now - s.lastArrivalWall;
    if (idle < this.p.idleTimeoutMs) return { out: [], late: [] };
    return { out: this.advance(s, s.wmAtArrival + idle, null), late: [] };
  }

  /**
   * The watermark moves from wm0 to wm: windows with end + grace <= wm close; a sliding window of a key whose
   * records left it (their hop's start + size in (wm0, wm]) emits its new contents, except the key whose record
   * moved the watermark (its emission came with the record).
   */
  private advance(s: ModelPartition, wm: number, movedBy: string | null): Emitted['out'] {
    if (wm <= s.wm) return [];
    const wm0 = s.wm;
    s.wm = wm;
    const out: Emitted['out'] = [];
    for (const [id, w] of s.open) {
      if (w.end + this.p.graceMs > wm) continue;
      if (this.p.emit !== 'update') out.push(this.result(w.key, w.name, w.start, w.end, true, w.evs));
      s.open.delete(id);
    }
    for (const spec of this.p.windows) {
      if (spec.kind !== 'sliding') continue;
      const recs = s.slid.get(spec.name) ?? [];
      const leaves = (r: { t: number }) => hopOf(spec, r.t) + spec.sizeMs;
      const left = new Set(
        recs.filter((r) => leaves(r) > wm0 && leaves(r) <= wm && r.key !== movedBy).map((r) => r.key),
      );
      for (const key of left) out.push(this.slideResult(s, spec, key, wm));
    }
    return out;
  }

  openWindows(): number {
    return [...this.parts.values()].reduce((n, s) => n + s.open.size, 0);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Streams.

interface Step {
  /** Wall-clock ms before this step (then every partition ticks). */
  readonly wall: number;
  readonly t: number;
  readonly ev: Ev;
  readonly partition: number;
  /** Restart from the changelog just before this record. */
  readonly restart: boolean;
}

interface Stream extends Params {
  readonly steps: readonly Step[];
  readonly partitions: number;
}

interface Shape {
  readonly windows: readonly WindowSpec[];
  /** Event time of the first record (the stream moves forward from there). */
  readonly starts: readonly number[];
  /** Forward progress of event time between records: 0..gapMax. */
  readonly gapMax: number;
  /** Out-of-order delays: small ones (1 s up to smallDelayMax), large ones up to largeDelayMax (often late). */
  readonly smallDelayMax: number;
  readonly largeDelayMax: number;
  readonly graceMax: number;
  readonly idleMin: number;
  readonly idleMax: number;
  readonly keys: readonly string[];
  readonly maxSteps: number;
  readonly edgeDelay?: readonly [number, number];
  /** Durations are multiples of this. */
  readonly quantum: number;
  /** fast-check runs of the model property (the restart property does half). */
  readonly runs: number;
}

const KEYS = ['S1:RC-1', 'S1:RC-2', 'S2:RC-1', 'S3:RC-7'];

function streams(shape: Shape, opts: { partitions: number; restarts: boolean }): fc.Arbitrary<Stream> {
  // Durations are whole quanta, so that window ends, grace periods, watermarks and idle advances often coincide
  // exactly (the boundaries are where off-by-one bugs live); some event times get a millisecond jitter.
  const quantum = shape.quantum;
  const quanta = (lo: number, hi: number) =>
    fc.integer({ min: Math.ceil(lo / quantum), max: Math.floor(hi / quantum) }).map((k) => k * quantum);
  const step = fc.record({
    gap: quanta(0, shape.gapMax),
    delay: fc.oneof(
      { weight: 6, arbitrary: fc.constant(0) },
      { weight: 3, arbitrary: quanta(quantum, shape.smallDelayMax) },
      { weight: 1, arbitrary: quanta(shape.smallDelayMax, shape.largeDelayMax) },
      // Just behind a sliding window, within or just beyond the grace period.
      ...(shape.edgeDelay ? [{ weight: 1, arbitrary: quanta(shape.edgeDelay[0], shape.edgeDelay[1]) }] : []),
    ),
    jitter: fc.oneof(
      { weight: 5, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.constantFrom(-1, 1) },
      { weight: 1, arbitrary: fc.integer({ min: -999, max: 999 }) },
    ),
    // Quanta of wall-clock time: mostly short pauses, sometimes exactly the idle timeout or well beyond it.
    wall: fc.oneof(
      { weight: 20, arbitrary: fc.integer({ min: 0, max: 60 }).map((pct) => ({ pct })) },
      { weight: 1, arbitrary: fc.constant({ pct: 100 }) },
      { weight: 1, arbitrary: fc.integer({ min: 90, max: 160 }).map((pct) => ({ pct })) },
    ),
    key: fc.constantFrom(...shape.keys),
    qty: fc.integer({ min: -5, max: 20 }),
    tag: fc.constantFrom('A', 'B', 'C', 'D'),
    restart: opts.restarts ? fc.boolean() : fc.constant(false),
  });
  return fc
    .record({
      start: fc.constantFrom(...shape.starts),
      graceMs: fc.oneof(
        { weight: 1, arbitrary: fc.constant(0) },
        { weight: 3, arbitrary: quanta(0, shape.graceMax) },
      ),
      idleTimeoutMs: quanta(shape.idleMin, shape.idleMax),
      emit: fc.constantFrom<Emit>('update', 'final', 'both'),
      measures: fc.constantFrom<Measures>('full', 'removable'),
      timeFromValue: fc.boolean(),
      raw: fc.array(step, { minLength: 1, maxLength: shape.maxSteps, size: 'max' }),
    })
    .map(({ start, raw, ...params }) => {
      let base = start;
      const steps = raw.map((r): Step => {
        base += r.gap;
        const t = base - r.delay + r.jitter;
        const ev: Ev = { key: r.key, qty: r.qty, tag: r.tag };
        return {
          wall: Math.round((r.wall.pct * params.idleTimeoutMs) / 100 / quantum) * quantum,
          t,
          ev: params.timeFromValue ? { ...ev, at: t } : ev,
          partition: shape.keys.indexOf(r.key) % opts.partitions,
          restart: r.restart,
        };
      });
      return { ...params, windows: shape.windows, steps, partitions: opts.partitions };
    });
}

/** The same stream with quantities such as 1.3 and -0.49, whose sums round differently in different orders. */
const fractional = (s: Stream): Stream => ({
  ...s,
  steps: s.steps.map((st) => ({ ...st, ev: { ...st.ev, qty: st.ev.qty * 1.3 + 0.01 * (st.ev.qty % 7) } })),
});

/** Far enough that every window of the stream closes and every sliding record expires. */
const drainMs = (s: Stream) => s.idleTimeoutMs + s.graceMs + 40 * DAY;

// ---------------------------------------------------------------------------------------------------------------
// Running.

function canonOut(recs: readonly Rec<WindowResult>[]): Emitted['out'] {
  return recs.map((r) => ({ ...r.value, recKey: r.key?.toString() ?? null, timestamp: r.timestamp }));
}

function canonLate(recs: readonly Rec<unknown>[]): Emitted['late'] {
  return recs.map((r) => ({
    ...(r.value as LateInfo<Ev>),
    recKey: r.key?.toString() ?? null,
    timestamp: r.timestamp,
  }));
}

/** Order within one call is not part of the contract (heap order among windows closing together). */
function sorted<T>(xs: readonly T[]): T[] {
  const key = (x: T) =>
    JSON.stringify(x, (_k, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v,
    );
  return [...xs].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

interface Call {
  readonly what: string;
  readonly emitted: Emitted;
}

const norm = (e: Emitted): Emitted => ({ out: sorted(e.out), late: sorted(e.late) });

function runOperator(
  s: Stream,
  withRestarts: boolean,
): { calls: Call[]; h: OperatorHarness<Ev, WindowResult> } {
  const h = new OperatorHarness<Ev, WindowResult>(operatorFor(s));
  const calls: Call[] = [];
  const tickAll = (what: string) => {
    for (let p = 0; p < s.partitions; p++) {
      const out = canonOut(h.tick(p));
      calls.push({ what: `${what} tick p${p}`, emitted: norm({ out, late: canonLate(h.takeSide('late')) }) });
    }
  };
  s.steps.forEach((st, i) => {
    if (st.wall > 0) {
      h.clock.advance(st.wall);
      tickAll(`step ${i}`);
    }
    if (st.restart) {
      // A tick right after the restart, at the same wall time, must find nothing new to close (both runs tick).
      if (withRestarts) h.restart();
      tickAll(`step ${i} restart`);
    }
    const out = canonOut(
      h.push({ key: Buffer.from(st.ev.key), value: st.ev, timestamp: recTimestamp(s, st.t) }, st.partition),
    );
    expect(h.sidePorts().filter((p) => p !== 'late')).toEqual([]);
    calls.push({ what: `step ${i} push`, emitted: norm({ out, late: canonLate(h.takeSide('late')) }) });
  });
  h.clock.advance(drainMs(s));
  tickAll('drain');
  return { calls, h };
}

function runModel(s: Stream): { calls: Call[]; model: WindowModel } {
  const model = new WindowModel(s);
  let now = Date.UTC(2026, 5, 1); // the harness's default wall-clock start
  const calls: Call[] = [];
  const tickAll = (what: string) => {
    for (let p = 0; p < s.partitions; p++)
      calls.push({ what: `${what} tick p${p}`, emitted: norm(model.tick(p, now)) });
  };
  s.steps.forEach((st, i) => {
    if (st.wall > 0) {
      now += st.wall;
      tickAll(`step ${i}`);
    }
    calls.push({ what: `step ${i} push`, emitted: norm(model.push(st.ev, st.t, st.partition, now)) });
  });
  now += drainMs(s);
  tickAll('drain');
  return { calls, model };
}

function expectSameCalls(actual: readonly Call[], expected: readonly Call[]): void {
  expect(actual.map((c) => c.what)).toEqual(expected.map((c) => c.what));
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as Call;
    expect((actual[i] as Call).emitted, e.what).toEqual(e.emitted);
  }
}

/** Per tumbling/day window name: every record is in one final result or on the late side output, never both. */
function expectAccounted(s: Stream, calls: readonly Call[]): void {
  const finals = calls.flatMap((c) => c.emitted.out.filter((r) => r.final));
  const ids = finals.map((r) => JSON.stringify([r.key, r.window, r.start]));
  expect(new Set(ids).size).toBe(ids.length); // one final per window
  for (const spec of s.windows) {
    if (spec.kind === 'sliding') continue;
    const inFinals = finals.filter((r) => r.window === spec.name).reduce((n, r) => n + r.count, 0);
    const late = calls.flatMap((c) => c.emitted.late).filter((l) => l.window === spec.name).length;
    expect(inFinals + late, `window ${spec.name}`).toBe(s.steps.length);
  }
}

function expectEmptyAfterDrain(s: Stream, h: OperatorHarness<Ev, WindowResult>, model: WindowModel): void {
  expect(model.openWindows()).toBe(0);
  for (let p = 0; p < s.partitions; p++) {
    expect(h.store(p, 'features.windows').size).toBe(0);
    expect(h.store(p, 'features.sliding').size).toBe(0);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Shapes: every window kind and size, each with event-time scales that put several records in a window, push some
// records past the grace period, and let idle time close windows.

const T0 = Date.UTC(2026, 5, 1, 9, 0, 0);
const DST_STARTS = [Date.UTC(2026, 2, 6, 18), Date.UTC(2026, 9, 30, 18)]; // two days before each US change

function scaled(windows: readonly WindowSpec[], unit: number, over: Partial<Shape> = {}): Shape {
  return {
    windows,
    starts: [T0, T0, T0 + 37_123],
    quantum: unit / 12,
    gapMax: Math.round(unit / 4),
    smallDelayMax: Math.round(unit / 4),
    largeDelayMax: 3 * unit,
    graceMax: Math.round(unit / 2),
    idleMin: Math.round(unit / 4),
    idleMax: unit,
    keys: KEYS,
    maxSteps: 50,
    runs: 60,
    ...over,
  };
}

const SHAPES: Array<[string, Shape]> = [
  ['tumbling 1m', scaled([{ name: '1m', kind: 'tumbling', sizeMs: MINUTE }], MINUTE)],
  ['tumbling 5m', scaled([{ name: '5m', kind: 'tumbling', sizeMs: 5 * MINUTE }], 5 * MINUTE)],
  ['tumbling 1h', scaled([{ name: '1h', kind: 'tumbling', sizeMs: HOUR }], HOUR)],
  [
    "'day' in DST zones",
    scaled([{ name: '1d', kind: 'day', zone: zoneOf }], DAY, {
      starts: DST_STARTS,
      quantum: 15 * MINUTE,
      gapMax: 3 * HOUR,
      smallDelayMax: 2 * HOUR,
      largeDelayMax: 36 * HOUR,
      graceMax: 3 * HOUR,
      idleMin: HOUR,
      idleMax: 12 * HOUR,
    }),
  ],
  [
    'sliding 7d',
    scaled([{ name: '7d', kind: 'sliding', sizeMs: 7 * DAY, hopMs: HOUR }], 7 * DAY, {
      gapMax: 12 * HOUR,
      smallDelayMax: 2 * DAY,
      largeDelayMax: 10 * DAY,
      edgeDelay: [7 * DAY - HOUR, 8 * DAY],
      quantum: HOUR,
      graceMax: DAY,
      idleMin: 6 * HOUR,
      idleMax: 3 * DAY,
    }),
  ],
  [
    'sliding 10m in 1m hops',
    scaled([{ name: '10m', kind: 'sliding', sizeMs: 10 * MINUTE, hopMs: MINUTE }], 10 * MINUTE, {
      edgeDelay: [9 * MINUTE, 16 * MINUTE],
    }),
  ],
  [
    // 75 buckets (several splits of the folds within a stream) and a single one.
    'sliding 10m in 8 s hops and 5m in one hop',
    scaled(
      [
        { name: '10m', kind: 'sliding', sizeMs: 10 * MINUTE, hopMs: 8_000 },
        { name: '5m', kind: 'sliding', sizeMs: 5 * MINUTE, hopMs: 5 * MINUTE },
      ],
      10 * MINUTE,
      { edgeDelay: [4 * MINUTE, 16 * MINUTE] },
    ),
  ],
  [
    'the five standard windows and a 10m sliding window together',
    scaled(
      [...standardWindows(zoneOf), { name: '10m', kind: 'sliding', sizeMs: 10 * MINUTE, hopMs: MINUTE }],
      HOUR,
      {
        starts: [T0, ...DST_STARTS],
        quantum: MINUTE,
        runs: 30,
        gapMax: 40 * MINUTE,
        smallDelayMax: 30 * MINUTE,
        largeDelayMax: 9 * DAY,
        edgeDelay: [9 * MINUTE, 30 * MINUTE],
        graceMax: 20 * MINUTE,
        idleMin: 5 * MINUTE,
        idleMax: 2 * HOUR,
      },
    ),
  ],
];

describe.each(SHAPES)('windowAggregate, %s: against the brute-force model', (_name, shape) => {
  it('emits exactly what the model emits, call by call, and accounts for every record', () => {
    fc.assert(
      fc.property(streams(shape, { partitions: 2, restarts: false }), (s) => {
        const { calls: expected, model } = runModel(s);
        const { calls: actual, h } = runOperator(s, false);
        expectSameCalls(actual, expected);
        if (s.emit !== 'update') expectAccounted(s, actual);
        expectEmptyAfterDrain(s, h, model);
      }),
      { numRuns: shape.runs },
    );
  });

  // Restarts sit just before a record, on one partition: the idle bookkeeping (wall time of the last arrival) is
  // in memory and restarts at the restore, so a restart in the middle of an idle period delays idle closing by up
  // to idleTimeoutMs and can change which records are late (reported; not asserted here either way).
  // Quantities with fractions: floating-point sums depend on the order of merging, so equal emissions mean that
  // the restored state folds its buckets exactly as the uninterrupted one did.
  it('restarting from the changelog before random records changes no emission', () => {
    fc.assert(
      fc.property(streams(shape, { partitions: 1, restarts: true }).map(fractional), (s) => {
        const uninterrupted = runOperator(s, false).calls;
        const restarted = runOperator(s, true);
        expectSameCalls(restarted.calls, uninterrupted);
        expect(restarted.h.restarts).toBe(s.steps.filter((st) => st.restart).length);
      }),
      { numRuns: shape.runs / 2 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Examples.

const ev = (key: string, qty = 1, tag = 'A'): Ev => ({ key, qty, tag });

function harness(
  over: Partial<Params> & Pick<Params, 'windows'>,
  startTime = Date.UTC(2026, 5, 1),
  autoCommit = true,
) {
  const p: Params = {
    graceMs: 0,
    idleTimeoutMs: 30_000,
    emit: 'final',
    measures: 'full',
    timeFromValue: false,
    ...over,
  };
  const h = new OperatorHarness<Ev, WindowResult>(operatorFor(p), { startTime, autoCommit });
  const push = (e: Ev, t: number, partition = 0) =>
    h.push({ key: Buffer.from(e.key), value: e, timestamp: t }, partition).map((r) => r.value);
  return { h, push };
}

describe('windowAggregate: idle partitions', () => {
  it('close their windows on a tick once idle for idleTimeoutMs, while the busy partition goes on', () => {
    const { h, push } = harness({ windows: [{ name: '1m', kind: 'tumbling', sizeMs: MINUTE }] });
    const tick = (p: number) => h.tick(p).map((r) => r.value);
    expect(push(ev('A'), T0 + 10_000, 0)).toEqual([]);
    expect(push(ev('B'), T0 + 50_000, 1)).toEqual([]);

    h.clock.advance(10_000);
    expect(push(ev('A'), T0 + 70_000, 0)).toMatchObject([{ key: 'A', start: T0, final: true, count: 1 }]);
    h.clock.advance(15_000); // partition 1 idle for 25 s
    expect(tick(1)).toEqual([]);
    h.clock.advance(5_000); // 30 s: its watermark is T0 + 50 s + 30 s and passes the window's end
    expect(tick(1)).toEqual([
      {
        key: 'B',
        window: '1m',
        start: T0,
        end: T0 + MINUTE,
        final: true,
        values: { n: 1, total: 1, avg: 1, lo: 1, hi: 1, tags: 1 },
        count: 1,
      },
    ]);
    expect(tick(0)).toEqual([]); // partition 0 had a record 20 s ago
    expect(h.store(1, 'features.windows').size).toBe(0);

    // The idle watermark keeps following the wall clock: T0 + 50 s + 90 s.
    h.clock.advance(MINUTE);
    expect(tick(1)).toEqual([]);
    expect(push(ev('B'), T0 + 100_000, 1)).toEqual([]);
    expect(h.takeSide<LateInfo<Ev>>('late').map((r) => r.value)).toMatchObject([
      { window: '1m', eventTime: T0 + 100_000, watermark: T0 + 140_000, latenessMs: 20_000 },
    ]);
    expect(push(ev('B'), T0 + 130_000, 1)).toEqual([]);
    expect(h.takeSide('late')).toEqual([]);
  });

  it('does not close anything before the first record or before the timeout', () => {
    const { h, push } = harness({
      windows: [{ name: '1m', kind: 'tumbling', sizeMs: MINUTE }],
      idleTimeoutMs: MINUTE,
    });
    expect(h.advanceWallClock(10 * MINUTE)).toEqual([]);
    push(ev('A'), T0, 0);
    expect(h.advanceWallClock(MINUTE - 1)).toEqual([]);
    expect(h.advanceWallClock(1).map((r) => r.value)).toMatchObject([{ key: 'A', final: true }]);
  });
});

describe("windowAggregate: 'day' windows across DST", () => {
  const day: WindowSpec = { name: '1d', kind: 'day', zone: zoneOf };
  /** Pushes records for one key at the given instants, then lets every window close; the finals by start. */
  function finalsFor(key: string, instants: readonly string[], graceMs = 0): WindowResult[] {
    const { h, push } = harness({ windows: [day], graceMs });
    const out = instants.flatMap((when, i) => push(ev(key, i + 1), Date.parse(when)));
    out.push(...h.advanceWallClock(10 * DAY).map((r) => r.value));
    return out.filter((r) => r.final).sort((a, b) => a.start - b.start);
  }
  const summary = (fs: readonly WindowResult[]) =>
    fs.map((f) => [new Date(f.start).toISOString(), (f.end - f.start) / HOUR, f.count]);

  it('America/New_York on 2026-03-08 is 23 h and holds exactly the records of that local day', () => {
    const finals = finalsFor(
      'S1:RC-1',
      [
        '2026-03-08T04:59:59.999Z', // 2026-03-07 23:59:59.999 EST
        '2026-03-08T05:00:00.000Z', // 00:00 EST
        '2026-03-08T06:59:59.999Z', // 01:59:59.999 EST, just before the jump
        '2026-03-08T07:00:00.000Z', // 03:00 EDT
        '2026-03-09T03:59:59.999Z', // 23:59:59.999 EDT
        '2026-03-09T04:00:00.000Z', // 2026-03-09 00:00 EDT
      ],
      HOUR,
    );
    expect(summary(finals)).toEqual([
      ['2026-03-07T05:00:00.000Z', 24, 1],
      ['2026-03-08T05:00:00.000Z', 23, 4],
      ['2026-03-09T04:00:00.000Z', 24, 1],
    ]);
    expect(finals[1]?.values).toMatchObject({ n: 4, total: 2 + 3 + 4 + 5, lo: 2, hi: 5 });
  });

  it('the same kind of instants fall on other days for a store in America/Los_Angeles', () => {
    const finals = finalsFor('S2:RC-1', [
      '2026-03-08T07:59:59.999Z',
      '2026-03-08T08:00:00Z',
      '2026-03-09T06:59:59.999Z',
    ]);
    expect(summary(finals)).toEqual([
      ['2026-03-07T08:00:00.000Z', 24, 1],
      ['2026-03-08T08:00:00.000Z', 23, 2],
    ]);
  });

  it('America/New_York on 2026-11-01 is 25 h, holding both 01:30s of the repeated hour', () => {
    const finals = finalsFor('S1:RC-1', [
      '2026-11-01T04:00:00Z', // 00:00 EDT
      '2026-11-01T05:30:00Z', // 01:30 EDT
      '2026-11-01T06:30:00Z', // 01:30 EST
      '2026-11-02T04:59:59.999Z', // 23:59:59.999 EST
    ]);
    expect(summary(finals)).toEqual([['2026-11-01T04:00:00.000Z', 25, 4]]);
  });
});

describe('windowAggregate: the late side output', () => {
  it('carries the window, event time, watermark, lateness >= 0 and the input', () => {
    const { h, push } = harness({
      windows: [
        { name: '1m', kind: 'tumbling', sizeMs: MINUTE },
        { name: '2m', kind: 'sliding', sizeMs: 2 * MINUTE, hopMs: 10_000 },
      ],
      graceMs: 10_000,
    });
    push(ev('A'), T0 + 30_000);
    push(ev('A'), T0 + 75_000); // the watermark passes T0 + 1 min + 10 s: [T0, T0 + 1 min) closes
    expect(h.takeSide('late')).toEqual([]);

    const late = ev('A', 7, 'Z');
    push(late, T0 + 20_000); // late for 1m; 20 s + 2 min + 10 s > 75 s, so still in the sliding window
    expect(h.takeSide<LateInfo<Ev>>('late')).toEqual([
      {
        key: Buffer.from('A'),
        timestamp: T0 + 20_000,
        value: {
          window: '1m',
          windowSizeMs: MINUTE,
          eventTime: T0 + 20_000,
          watermark: T0 + 75_000,
          latenessMs: 5_000,
          input: late,
        },
      },
    ]);

    push(ev('A'), T0 - 100_000); // late for both: 1m by 125 s, sliding by 45 s
    const lateBoth = h.takeSide<LateInfo<Ev>>('late').map((r) => r.value);
    expect(lateBoth.map((l) => [l.window, l.windowSizeMs, l.latenessMs])).toEqual([
      ['1m', MINUTE, 125_000],
      ['2m', 2 * MINUTE, 45_000],
    ]);
  });

  it('takes a record whose window closes exactly at the watermark, with lateness 0', () => {
    const { h, push } = harness({
      windows: [{ name: '1m', kind: 'tumbling', sizeMs: MINUTE }],
      graceMs: 5_000,
    });
    push(ev('A'), T0 + 1_000);
    expect(push(ev('A'), T0 + MINUTE + 5_000)).toMatchObject([{ start: T0, final: true, count: 1 }]);
    push(ev('A'), T0 + 59_999);
    expect(h.takeSide<LateInfo<Ev>>('late').map((r) => r.value.latenessMs)).toEqual([0]);
  });

  it('sends nothing for a sliding record behind the window but within grace: it is ignored (by design)', () => {
    const { h, push } = harness({
      windows: [{ name: '10m', kind: 'sliding', sizeMs: 10 * MINUTE, hopMs: MINUTE }],
      graceMs: MINUTE,
    });
    // At 20:00.000 the window is [11:00, 20:00.000]: the 10-minute window ending at 21:00, as it stands.
    expect(push(ev('A'), T0 + 20 * MINUTE)).toMatchObject([{ start: T0 + 11 * MINUTE, count: 1 }]);
    // The 10:xx hop left the window at 20:00 and is late from 21:00 on: behind, not late.
    expect(push(ev('A'), T0 + 10 * MINUTE + 59_999)).toEqual([]);
    expect(h.takeSide('late')).toEqual([]);
    // The 9:xx hop left at 19:00 and is late since 20:00.
    expect(push(ev('A'), T0 + 9 * MINUTE + 30_000)).toEqual([]);
    expect(h.takeSide<LateInfo<Ev>>('late').map((r) => r.value.latenessMs)).toEqual([0]);
    expect(push(ev('A'), T0 + 11 * MINUTE)).toMatchObject([{ end: T0 + 20 * MINUTE, count: 2 }]);
  });
});

describe('windowAggregate: emit modes', () => {
  const tumbling: WindowSpec = { name: '5m', kind: 'tumbling', sizeMs: 5 * MINUTE };
  const run = (emit: Emit) => {
    const { h, push } = harness({ windows: [tumbling], emit });
    const out = [
      push(ev('A', 2), T0),
      push(ev('A', 3), T0 + MINUTE),
      h.advanceWallClock(DAY).map((r) => r.value),
    ];
    return out.map((o) => o.map((r) => [r.final, r.count, r.values['total']]));
  };

  it("'update' emits on every record and never a final", () => {
    expect(run('update')).toEqual([[[false, 1, 2]], [[false, 2, 5]], []]);
  });

  it("'final' emits once, when the window closes", () => {
    expect(run('final')).toEqual([[], [], [[true, 2, 5]]]);
  });

  it("'both' does both", () => {
    expect(run('both')).toEqual([[[false, 1, 2]], [[false, 2, 5]], [[true, 2, 5]]]);
  });
});

describe('windowAggregate: restart', () => {
  it('rebuilds open windows and sliding buckets from the changelog alone', () => {
    const spec: WindowSpec[] = [
      { name: '1h', kind: 'tumbling', sizeMs: HOUR },
      { name: '7d', kind: 'sliding', sizeMs: 7 * DAY, hopMs: HOUR },
    ];
    const { h, push } = harness({ windows: spec, emit: 'both' });
    push(ev('A', 1), T0);
    push(ev('A', 2), T0 + 10 * MINUTE);
    h.restart();
    const out = push(ev('A', 4), T0 + 20 * MINUTE);
    expect(out.map((r) => [r.window, r.count, r.values['total']])).toEqual([
      ['1h', 3, 7],
      ['7d', 3, 7],
    ]);
    h.restart();
    // Closes 1h; the 7d window now starts at T0 - 7 d + 1 h + 7 d: the hop of the first three has left it.
    const later = push(ev('A', 8), T0 + 7 * DAY + 15 * MINUTE);
    expect(later.map((r) => [r.window, r.final, r.start, r.count, r.values['total']]).sort()).toEqual([
      ['1h', false, T0 + 7 * DAY, 1, 8],
      ['1h', true, T0, 3, 7],
      ['7d', false, T0 + HOUR, 1, 8],
    ]);
  });
});

describe('windowAggregate: updates collapse per window within a batch (the record cache)', () => {
  /** Records are pushed without committing: one batch until flush(). */
  const batched = (over: Partial<Params> & Pick<Params, 'windows'>) => {
    const { h } = harness(over, Date.UTC(2026, 5, 1), false);
    const push = (e: Ev, t: number) => h.push({ key: Buffer.from(e.key), value: e, timestamp: t });
    return { h, push };
  };

  it('sends one sliding result per key at the end of the batch, with the latest value', () => {
    const { h, push } = batched({
      windows: [{ name: '10m', kind: 'sliding', sizeMs: 10 * MINUTE, hopMs: MINUTE }],
    });
    for (let i = 0; i < 5; i++) expect(push(ev('A', i + 1), T0 + i * 1000)).toEqual([]);
    expect(push(ev('B', 7), T0 + 5000)).toEqual([]);
    const out = h.flush().map((r) => r.value);
    expect(out).toMatchObject([
      { key: 'A', window: '10m', end: T0 + 4000, values: { total: 15 }, count: 5 },
      { key: 'B', window: '10m', end: T0 + 5000, values: { total: 7 }, count: 1 },
    ]);
    expect(h.flush()).toEqual([]); // nothing held twice
  });

  it("lets a window's final result supersede its held update, so no stale update follows it", () => {
    const { h, push } = batched({
      windows: [{ name: '1m', kind: 'tumbling', sizeMs: MINUTE }],
      emit: 'both',
    });
    expect(push(ev('A', 2), T0 + 1000)).toEqual([]);
    expect(push(ev('A', 3), T0 + 2000)).toEqual([]);
    // The next minute's record closes the first window: its final goes out at once.
    expect(push(ev('A', 4), T0 + MINUTE + 1000).map((r) => r.value)).toMatchObject([
      { key: 'A', start: T0, final: true, values: { total: 5 } },
    ]);
    expect(h.flush().map((r) => r.value)).toMatchObject([
      { key: 'A', start: T0 + MINUTE, final: false, values: { total: 4 } },
    ]);
  });
});

describe('windowAggregate: held updates also go out at each new bucket of event time (heldBucketMs)', () => {
  const tenMinutes: Sliding = { name: '10m', kind: 'sliding', sizeMs: 10 * MINUTE, hopMs: MINUTE };
  const batched = (
    heldBucketMs: number,
    windows: readonly WindowSpec[] = [tenMinutes],
    emit: Emit = 'final',
  ) => {
    const { h } = harness({ windows, heldBucketMs, emit }, Date.UTC(2026, 5, 1), false);
    const push = (e: Ev, t: number) => h.push({ key: Buffer.from(e.key), value: e, timestamp: t });
    return { h, push };
  };

  it("sends a key's held sliding update before a record of a later bucket changes it", () => {
    const { h, push } = batched(2 * MINUTE);
    expect(push(ev('A', 1), T0)).toEqual([]);
    expect(push(ev('A', 2), T0 + 30_000)).toEqual([]);
    expect(push(ev('B', 7), T0 + 40_000)).toEqual([]);
    expect(push(ev('A', 3), T0 + 90_000)).toEqual([]);
    // The next bucket: A's update as it stood (without this record) goes out first; B stays held.
    expect(
      push(ev('A', 4), T0 + 130_000).map((r) => [r.value.key, r.value.end, r.value.values['total']]),
    ).toEqual([['A', T0 + 90_000, 6]]);
    expect(h.flush().map((r) => [r.value.key, r.value.end, r.value.values['total']])).toEqual([
      ['B', T0 + 40_000, 7],
      ['A', T0 + 130_000, 10],
    ]);
    expect(h.flush()).toEqual([]);
  });

  it('does the same for held updates of tumbling windows (emit update)', () => {
    const { h, push } = batched(MINUTE, [{ name: '1h', kind: 'tumbling', sizeMs: HOUR }], 'update');
    push(ev('A', 2), T0 + 1_000);
    push(ev('A', 3), T0 + 20_000);
    expect(
      push(ev('A', 4), T0 + MINUTE + 1_000).map((r) => [r.value.final, r.timestamp, r.value.values['total']]),
    ).toEqual([[false, T0 + 20_000, 5]]);
    expect(h.flush().map((r) => [r.value.final, r.timestamp, r.value.values['total']])).toEqual([
      [false, T0 + MINUTE + 1_000, 9],
    ]);
  });

  it('bounds how stale the updates are whatever the batching: every record is in an update of its own bucket', () => {
    const bucket = 20 * MINUTE;
    const spec: Sliding = { name: '1h', kind: 'sliding', sizeMs: HOUR, hopMs: 10 * MINUTE };
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 45 * MINUTE }),
            qty: fc.integer({ min: 1, max: 9 }),
            cut: fc.boolean(),
          }),
          {
            minLength: 1,
            maxLength: 60,
          },
        ),
        (steps) => {
          const { h, push } = batched(bucket, [spec]);
          const records: Array<[number, number]> = [];
          // Each update with the number of records taken in when it went out.
          const out: Array<[WindowResult, number]> = [];
          const take = (recs: readonly Rec<WindowResult>[], seen: number) =>
            out.push(...recs.map((r) => [r.value, seen] as [WindowResult, number]));
          let t = T0;
          for (const { gap, qty, cut } of steps) {
            t += gap;
            // An update released by this record went out before the record changed the window.
            take(push(ev('A', qty), t), records.length);
            records.push([t, qty]);
            if (cut) take(h.flush(), records.length);
          }
          take(h.flush(), records.length);
          // Each update is exact: the records taken in so far that lie in the window standing at its end.
          for (const [u, seen] of out) {
            const inWindow = records
              .slice(0, seen)
              .filter(([rt]) => rt >= modelSlidingStart(spec, u.end) && rt <= u.end);
            expect(u.values['total']).toBe(inWindow.reduce((a, [, q]) => a + q, 0));
          }
          // Every record is reflected by an update stamped in its own bucket, at or after it.
          for (const [rt] of records) {
            const b = Math.floor(rt / bucket);
            expect(out.some(([u]) => u.end >= rt && Math.floor(u.end / bucket) === b)).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('windowAggregate: sliding state is one bucket per hop, not one entry per record', () => {
  const week: WindowSpec = { name: '7d', kind: 'sliding', sizeMs: 7 * DAY, hopMs: HOUR };
  /** A bucket's store key: the hop's index modulo the 168 hops of a week. */
  const slot = (key: string, t: number) => `${key}\u00007d\u0000${Math.floor(t / HOUR) % 168}`;
  const slidingChanges = (h: OperatorHarness<Ev, WindowResult>, from: number) =>
    h
      .changelogEntries()
      .slice(from)
      .filter((c) => c.store === 'features.sliding');

  it('holds at most 168 buckets for a key however many records it gets, min and max exact', () => {
    const { h } = harness({ windows: [week] }, Date.UTC(2026, 5, 1), false);
    const qtys: Array<[number, number]> = [];
    let last: WindowResult | undefined;
    for (let i = 0; i < 30_000; i++) {
      const t = T0 + i * 61_000; // three weeks, one record every 61 s
      const qty = (i * 7919) % 1000;
      qtys.push([t, qty]);
      h.push({ key: Buffer.from('A'), value: ev('A', qty), timestamp: t });
      if (i % 500 === 499) {
        last = h.flush().at(-1)?.value;
        h.commit();
        expect(h.store(0, 'features.sliding').size).toBeLessThanOrEqual(168);
      }
    }
    expect(last).toBeDefined();
    const inWindow = qtys.filter(([t]) => t >= (last?.start ?? 0) && t <= (last?.end ?? 0)).map(([, q]) => q);
    expect(last?.end).toBe(qtys.at(-1)?.[0]);
    expect(last?.count).toBe(inWindow.length);
    expect(last?.values).toMatchObject({
      n: inWindow.length,
      lo: Math.min(...inWindow),
      hi: Math.max(...inWindow),
      total: inWindow.reduce((a, b) => a + b, 0),
    });
  });

  it('writes each bucket once per commit, and no tombstone when a bucket expires while the key is busy', () => {
    const { h } = harness({ windows: [week] }, Date.UTC(2026, 5, 1), false);
    const push = (t: number) => h.push({ key: Buffer.from('A'), value: ev('A'), timestamp: t });
    for (let i = 0; i < 50; i++) push(T0 + i * 90_000); // 50 records in the hours 09:00 and 10:00
    h.flush();
    h.commit();
    expect(slidingChanges(h, 0).map((c) => c.key)).toEqual([slot('A', T0), slot('A', T0 + HOUR)]);
    const mark = h.changelogEntries().length;
    // A week later: the 09:00 hop has left the window, and the new 09:00 hop takes its slot.
    push(T0 + 7 * DAY + 5 * 60_000);
    h.flush();
    h.commit();
    const later = slidingChanges(h, mark);
    expect(later.map((c) => [c.key, c.value === null])).toEqual([[slot('A', T0), false]]);
  });

  it('deletes a key’s buckets when its window empties', () => {
    const { h, push } = harness({ windows: [week] });
    push(ev('A', 3), T0);
    push(ev('A', 4), T0 + 2 * HOUR);
    expect(h.store(0, 'features.sliding').size).toBe(2);
    const out = h.advanceWallClock(8 * DAY).map((r) => r.value);
    expect(out).toMatchObject([{ key: 'A', count: 0, values: { n: 0, total: 0 } }]);
    expect(h.store(0, 'features.sliding').size).toBe(0);
  });

  it('drops sliding entries of the per-record layout when restoring, and goes on from empty', () => {
    const { h, push } = harness({ windows: [week] });
    h.store(0, 'features.sliding').put('A\u00007d', { k: 'A', w: '7d', a: {} } as never);
    h.commit();
    h.restart();
    expect(push(ev('A', 5), T0)).toMatchObject([{ key: 'A', count: 1, values: { total: 5 } }]);
    expect([...h.store(0, 'features.sliding').keys()]).toEqual([slot('A', T0)]);
  });

  it('drops buckets written with other hops when a window is redefined', () => {
    let hopMs = HOUR;
    const h = new OperatorHarness<Ev, WindowResult>(() =>
      operatorFor({
        windows: [{ name: '7d', kind: 'sliding', sizeMs: 7 * DAY, hopMs }],
        graceMs: 0,
        idleTimeoutMs: 30_000,
        emit: 'final',
        measures: 'full',
        timeFromValue: false,
      })(),
    );
    const push = (t: number) =>
      h.push({ key: Buffer.from('A'), value: ev('A', 5), timestamp: t }).map((r) => r.value);
    push(T0 + HOUR); // 10:00, in the slot of hour 10 of the week
    hopMs = 2 * HOUR;
    h.restart();
    expect(push(T0 + 2 * HOUR)).toMatchObject([{ start: T0 + 3 * HOUR - 7 * DAY, count: 1 }]);
    expect(h.store(0, 'features.sliding').size).toBe(1);
  });

  it('rejects a size that is not a whole number of hops, or too many hops', () => {
    const make = (w: WindowSpec) => () =>
      operatorFor({
        windows: [w],
        graceMs: 0,
        idleTimeoutMs: 1,
        emit: 'final',
        measures: 'full',
        timeFromValue: false,
      })();
    expect(make({ name: 'x', kind: 'sliding', sizeMs: 10 * MINUTE, hopMs: 7 * MINUTE })).toThrow(
      /not a multiple of hopMs/,
    );
    expect(make({ name: 'x', kind: 'sliding', sizeMs: 7 * DAY, hopMs: 1 })).toThrow(/more than 100000/);
  });
});

describe('windowAggregate: tumbling and day state is one entry per key', () => {
  const tumbling: WindowSpec[] = [
    { name: '1m', kind: 'tumbling', sizeMs: MINUTE },
    { name: '5m', kind: 'tumbling', sizeMs: 5 * MINUTE },
    { name: '1h', kind: 'tumbling', sizeMs: HOUR },
  ];
  const windowChanges = (h: OperatorHarness<Ev, WindowResult>, from: number) =>
    h
      .changelogEntries()
      .slice(from)
      .filter((c) => c.store === 'features.windows');

  it('writes a busy key once per commit, with every window it has open, and no tombstone as one closes', () => {
    const { h } = harness({ windows: tumbling }, Date.UTC(2026, 5, 1), false);
    const push = (key: string, t: number) =>
      h.push({ key: Buffer.from(key), value: ev(key, 1), timestamp: t });
    // 30 records of A over three minutes (two 1-minute windows close within the batch), one of B.
    for (let i = 0; i < 30; i++) push('A', T0 + i * 6_000);
    push('B', T0 + 179_000);
    h.flush();
    h.commit();
    const first = windowChanges(h, 0);
    expect(first.map((c) => c.key).sort()).toEqual(['A', 'B']);
    const stored = () =>
      (h.store(0, 'features.windows').get('A') as Array<{ w: string; s: number; n: number }>).map((e) => [
        e.w,
        e.s,
        e.n,
      ]);
    expect(stored()).toEqual([
      ['1m', T0 + 2 * MINUTE, 10],
      ['5m', T0, 30],
      ['1h', T0, 30],
    ]);
    // The next batch closes A's and B's stored 1-minute windows: each key's entry is rewritten without it, one
    // record each, no tombstone.
    const mark = h.changelogEntries().length;
    push('A', T0 + 3 * MINUTE + 1_000);
    h.flush();
    h.commit();
    expect(windowChanges(h, mark).map((c) => [c.key, c.value === null])).toEqual([
      ['A', false],
      ['B', false],
    ]);
    expect(stored()).toEqual([
      ['1m', T0 + 3 * MINUTE, 1],
      ['5m', T0, 31],
      ['1h', T0, 31],
    ]);
  });

  it('deletes a key’s entry when its last window closes', () => {
    const { h, push } = harness({ windows: [{ name: '1m', kind: 'tumbling', sizeMs: MINUTE }] });
    push(ev('A', 3), T0);
    expect([...h.store(0, 'features.windows').keys()]).toEqual(['A']);
    h.advanceWallClock(HOUR);
    expect(h.store(0, 'features.windows').size).toBe(0);
  });

  it('takes in the per-window entries of earlier versions at a restore and rewrites them as its key’s', () => {
    const { h, push } = harness({ windows: tumbling, emit: 'final' });
    push(ev('A', 2), T0);
    // Rewritten the way earlier versions stored it: an entry per open window, then a restart.
    const store = h.store(0, 'features.windows');
    const entries = store.get('A') as Array<{ w: string; s: number }>;
    store.delete('A');
    for (const e of entries) store.put(`A\u0000${e.w}\u0000${e.s}`, e as never);
    h.commit();
    h.restart();
    // A record an hour on closes all three: their finals hold the restored counts and values.
    const out = push(ev('A', 1), T0 + HOUR + 1_000).map((r) => [
      r.window,
      r.final,
      r.count,
      r.values['total'],
    ]);
    expect(out.sort()).toEqual([
      ['1h', true, 1, 2],
      ['1m', true, 1, 2],
      ['5m', true, 1, 2],
    ]);
    expect([...h.store(0, 'features.windows').keys()]).toEqual(['A']);
  });
});

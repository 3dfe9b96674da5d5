// Event-time windowed aggregation per key: tumbling, calendar-day (per-key time zone) and sliding windows over one
// aggregate. The watermark of a partition is the highest event time it has seen; a window closes (final result)
// when the watermark passes its end plus the grace period; records for closed windows go to the 'late' side
// output with their lateness. When a partition has been idle for idleTimeoutMs of wall-clock time, its watermark
// follows the wall clock from where it stood, so windows of idle keys and idle partitions still close.
// All state lives in the runtime's stores (changelogged); the heaps are in-memory indexes rebuilt after a restore.
// Updates (sliding windows, and tumbling ones with emit 'update' or 'both') are held until the end of the batch and
// go out once per window with its latest value, like Kafka Streams' record cache; final results go out at once.
// The watermark is reported to the runtime after every record and tick (tagstream_watermark_delay_seconds).
import { reportWatermark } from '../src/runtime/metrics.ts';
import type { Rec, StageContext, OperatorContext, Operator } from '../src/runtime/operator.ts';
import type { KeyedStore } from '../src/runtime/state.ts';
import type { Aggregate } from './aggregates.ts';
import { MinHeap } from './lib/heap.ts';
import { cachedDayWindow, tumblingWindow, type WindowSpec } from './windows.ts';

export interface WindowResult {
  readonly key: string;
  readonly window: string;
  readonly start: number;
  readonly end: number;
  /** True once: when the window closed. Sliding windows only emit updates. */
  readonly final: boolean;
  readonly values: Readonly<Record<string, number>>;
  /** Records in the window. */
  readonly count: number;
}

/** What goes to the 'late' side output, with the record that came too late. */
export interface LateInfo<In> {
  readonly window: string;
  readonly windowSizeMs: number;
  readonly eventTime: number;
  readonly watermark: number;
  readonly latenessMs: number;
  readonly input: In;
}

export interface WindowOptions<In> {
  readonly name: string;
  readonly windows: readonly WindowSpec[];
  readonly key: (value: In) => string;
  /** Event time of a value; default the record's timestamp. Use it where the Kafka timestamp is not event time. */
  readonly time?: (value: In) => number;
  readonly aggregate: Aggregate<In, unknown, Record<string, number>>;
  readonly graceMs: number;
  /** For tumbling and day windows: a result on every change, once when final, or both. */
  readonly emit: 'update' | 'final' | 'both';
  readonly idleTimeoutMs: number;
  /**
   * For an input merged from several upstream partitions (a re-keyed topic): the upstream channel a record came
   * from. The watermark is then the minimum over channels of each channel's highest event time (as in Flink), so
   * the order in which channels interleave makes no record late; it stays at -infinity until `channels` channels
   * have been seen (or the partition goes idle).
   */
  readonly channel?: (value: In) => string;
  readonly channels?: number;
}

interface WinEntry {
  readonly k: string;
  readonly w: string;
  readonly s: number;
  readonly e: number;
  a: unknown;
  n: number;
}

/**
 * A sliding window's aggregate for one key. Its buffered values are stored one entry each in the buffer store
 * (key `<key>\0<window>\0<time>\0<source position>`), so each record adds one small changelog entry instead of
 * rewriting the whole 7-day buffer.
 */
interface SlideEntry {
  readonly k: string;
  readonly w: string;
  a: unknown;
}

/** In memory: a sliding key's buffered values, ascending by time, with their buffer-store keys. */
type SlideBuffer<In> = Array<[number, In, string]>;

interface PartitionClock {
  /** Watermark: highest event time seen (per channel: their minimum), or further by idle wall-clock time. */
  wm?: number;
  /** Highest event time per upstream channel, when the operator has channels. */
  ch?: Record<string, number>;
}

/** In-memory per partition: indexes over the stores, and arrival bookkeeping for idleness. */
interface Runtime {
  closeHeap: MinHeap<string>;
  expiryHeap: MinHeap<string>;
  /** The one live expiry per sliding key; other heap entries for it are stale. */
  expiryAt: Map<string, number>;
  /** Sliding buffers per sliding key, rebuilt from the buffer store after a restore. */
  buffers: Map<string, Array<[number, unknown, string]>>;
  lastArrivalWall: number;
  wmAtArrival: number;
  /** Highest event time seen in this partition (idle progression starts here while channels are missing). */
  maxSeen: number;
  /** Wall time each channel last sent a record; a channel quiet for idleTimeoutMs leaves the minimum. */
  channelWall: Map<string, number>;
  createdWall: number;
  /**
   * Updates held back until the end of the batch, latest per window (Kafka Streams' record cache): a busy key's
   * sliding window changes with every record, and only its value at the commit goes out.
   */
  pending: Map<string, Rec<WindowResult>>;
}

const SEP = '\u0000';

export function windowAggregate<In>(opts: WindowOptions<In>): Operator<In, WindowResult> {
  const winStore = `${opts.name}.windows`;
  const slideStore = `${opts.name}.sliding`;
  const bufStore = `${opts.name}.sliding-buffer`;
  const timeStore = `${opts.name}.time`;
  const agg = opts.aggregate;
  const dayOf = cachedDayWindow();
  const slidingSpecs = opts.windows.filter((w) => w.kind === 'sliding');

  interface Stores {
    readonly wins: KeyedStore<WinEntry>;
    readonly slides: KeyedStore<SlideEntry>;
    readonly bufs: KeyedStore<[number, In]>;
    readonly time: KeyedStore<PartitionClock>;
    /** The partition's in-memory indexes, built from the stores on first use. */
    rt?: Runtime;
  }
  // Keyed by the partition's window store: a partition's four stores are created, dropped and restored together,
  // so they are looked up once, and a restored partition (new stores) gets fresh indexes.
  const storeSets = new WeakMap<object, Stores>();
  const stores = (ctx: StageContext): Stores => {
    const wins = ctx.store<WinEntry>(winStore);
    let set = storeSets.get(wins);
    if (!set) {
      set = {
        wins,
        slides: ctx.store<SlideEntry>(slideStore),
        bufs: ctx.store<[number, In]>(bufStore),
        time: ctx.store<PartitionClock>(timeStore),
      };
      storeSets.set(wins, set);
    }
    return set;
  };

  /** The in-memory indexes for this partition; rebuilt from the stores when missing (after a restore). */
  function runtimeOf(ctx: StageContext): Runtime {
    const set = stores(ctx);
    const { wins, slides, bufs, time } = set;
    let rt = set.rt;
    if (!rt) {
      const clock = time.get('clock');
      const wm = clock?.wm ?? Number.NEGATIVE_INFINITY;
      rt = {
        channelWall: new Map(Object.keys(clock?.ch ?? {}).map((c) => [c, ctx.clock.now()])),
        createdWall: ctx.clock.now(),
        maxSeen: Math.max(wm, ...Object.values(clock?.ch ?? {})),
        closeHeap: new MinHeap(),
        expiryHeap: new MinHeap(),
        expiryAt: new Map(),
        buffers: new Map(),
        lastArrivalWall: ctx.clock.now(),
        wmAtArrival: wm,
        pending: new Map(),
      };
      for (const [k, e] of wins.entries()) rt.closeHeap.push(e.e + opts.graceMs, k);
      for (const [bk, [t, v]] of bufs.entries()) {
        const sk = bk.split(SEP).slice(0, 2).join(SEP);
        const list = rt.buffers.get(sk) ?? [];
        list.push([t, v, bk]);
        rt.buffers.set(sk, list);
      }
      for (const [k, e] of slides.entries()) {
        const list = bufferOf(rt, k);
        list.sort((x, y) => x[0] - y[0]);
        const first = list[0];
        const spec = slidingSpecs.find((s) => s.name === e.w);
        if (first && spec) scheduleExpiry(rt, k, first[0] + spec.sizeMs);
      }
      set.rt = rt;
    }
    return rt;
  }

  function bufferOf(rt: Runtime, sk: string): SlideBuffer<In> {
    let list = rt.buffers.get(sk) as SlideBuffer<In> | undefined;
    if (!list) rt.buffers.set(sk, (list = []));
    return list;
  }

  function scheduleExpiry(rt: Runtime, key: string, at: number): void {
    if (rt.expiryAt.get(key) === at) return;
    rt.expiryAt.set(key, at);
    rt.expiryHeap.push(at, key);
  }

  /** Holds an update until the batch ends; a later update of the same window replaces it (and moves to the end). */
  function hold(rt: Runtime, windowKey: string, rec: Rec<WindowResult>): void {
    rt.pending.delete(windowKey);
    rt.pending.set(windowKey, rec);
  }

  /** A final result is stamped at the window end (in the past by then); an update at the record that made it. */
  const result = (e: WinEntry, final: boolean, at: number = e.e): Rec<WindowResult> => ({
    key: Buffer.from(e.k),
    value: { key: e.k, window: e.w, start: e.s, end: e.e, final, values: agg.result(e.a), count: e.n },
    timestamp: final ? e.e : at,
  });

  function slideResult(e: SlideEntry, count: number, end: number, sizeMs: number): Rec<WindowResult> {
    return {
      key: Buffer.from(e.k),
      value: {
        key: e.k,
        window: e.w,
        start: end - sizeMs,
        end,
        final: false,
        values: agg.result(e.a),
        count,
      },
      timestamp: end,
    };
  }

  /** Takes out of a sliding entry every buffered value at or before `cutoff` (deleting their buffer entries). */
  function evict(ctx: StageContext, e: SlideEntry, buf: SlideBuffer<In>, cutoff: number): boolean {
    let i = 0;
    while (i < buf.length && (buf[i] as [number, In, string])[0] <= cutoff) i++;
    if (i === 0) return false;
    const gone = buf.splice(0, i);
    const bufs = stores(ctx).bufs;
    for (const [, , bk] of gone) bufs.delete(bk);
    if (agg.remove) for (const [, v] of gone) e.a = agg.remove(e.a, v);
    else e.a = buf.reduce((acc, [, v]) => agg.add(acc, v), agg.init());
    return true;
  }

  /** Moves the watermark to `wm`: closes tumbling/day windows and expires sliding values it passes. */
  function advance(ctx: StageContext, rt: Runtime, wm: number): Rec<WindowResult>[] {
    const { wins, slides, time } = stores(ctx);
    const out: Rec<WindowResult>[] = [];
    const clock = time.get('clock');
    if (clock?.wm !== undefined && wm <= clock.wm) return out;
    time.put('clock', { ...clock, wm });
    for (let top = rt.closeHeap.peek(); top && top[0] <= wm; top = rt.closeHeap.peek()) {
      rt.closeHeap.pop();
      const e = wins.get(top[1]);
      if (!e || e.e + opts.graceMs !== top[0]) continue; // stale index entry
      rt.pending.delete(top[1]); // the final result supersedes a held update
      if (opts.emit !== 'update') out.push(result(e, true));
      wins.delete(top[1]);
    }
    for (let top = rt.expiryHeap.peek(); top && top[0] <= wm; top = rt.expiryHeap.peek()) {
      rt.expiryHeap.pop();
      if (rt.expiryAt.get(top[1]) !== top[0]) continue; // superseded
      rt.expiryAt.delete(top[1]);
      const e = slides.get(top[1]);
      const spec = e && slidingSpecs.find((x) => x.name === e.w);
      if (!e || !spec || spec.kind !== 'sliding') continue;
      const buf = bufferOf(rt, top[1]);
      if (evict(ctx, e, buf, wm - spec.sizeMs)) {
        hold(rt, top[1], slideResult(e, buf.length, wm, spec.sizeMs));
        if (buf.length === 0) {
          slides.delete(top[1]);
          rt.buffers.delete(top[1]);
        } else slides.put(top[1], e);
      }
      const first = buf[0];
      if (first) scheduleExpiry(rt, top[1], first[0] + spec.sizeMs);
    }
    return out;
  }

  /** Tells the runtime (its watermark-delay metric) where this partition's watermark stands. */
  function reportClock(ctx: StageContext): void {
    const wm = stores(ctx).time.get('clock')?.wm;
    if (wm !== undefined) reportWatermark(ctx, opts.name, wm);
  }

  function late(
    ctx: OperatorContext,
    rec: Rec<In>,
    t: number,
    window: string,
    sizeMs: number,
    closesAt: number,
    wm: number,
  ): void {
    const info: LateInfo<In> = {
      window,
      windowSizeMs: sizeMs,
      eventTime: t,
      watermark: wm,
      latenessMs: wm - closesAt,
      input: rec.value,
    };
    ctx.emitSide('late', { key: rec.key, value: info, timestamp: t });
  }

  return {
    name: opts.name,
    stores: [winStore, slideStore, bufStore, timeStore],
    process(rec, ctx) {
      const rt = runtimeOf(ctx);
      const { wins, slides, time } = stores(ctx);
      const t = opts.time ? opts.time(rec.value) : rec.timestamp;
      const key = opts.key(rec.value);
      const wm = time.get('clock')?.wm ?? Number.NEGATIVE_INFINITY;
      const out: Rec<WindowResult>[] = [];
      for (const spec of opts.windows) {
        if (spec.kind === 'sliding') {
          const closesAt = t + spec.sizeMs + opts.graceMs;
          if (closesAt <= wm) {
            late(ctx, rec, t, spec.name, spec.sizeMs, closesAt, wm);
            continue;
          }
          const end = Math.max(wm, t);
          if (t <= end - spec.sizeMs) continue; // outside the current window, not late: earlier windows are past
          const sk = `${key}${SEP}${spec.name}`;
          const e = slides.get(sk) ?? { k: key, w: spec.name, a: agg.init() };
          const buf = bufferOf(rt, sk);
          const bk = `${sk}${SEP}${t}${SEP}${ctx.source.partition}:${ctx.source.offset}`;
          const i = buf.findIndex(([bt]) => bt > t);
          if (i < 0) buf.push([t, rec.value, bk]);
          else buf.splice(i, 0, [t, rec.value, bk]);
          stores(ctx).bufs.put(bk, [t, rec.value]);
          e.a = agg.add(e.a, rec.value);
          if (t > wm) evict(ctx, e, buf, t - spec.sizeMs); // this record moves the window forward
          slides.put(sk, e);
          scheduleExpiry(rt, sk, (buf[0] as [number, In, string])[0] + spec.sizeMs);
          hold(rt, sk, slideResult(e, buf.length, end, spec.sizeMs));
          continue;
        }
        const [start, end] =
          spec.kind === 'tumbling' ? tumblingWindow(t, spec.sizeMs) : dayOf(t, spec.zone(key));
        const closesAt = end + opts.graceMs;
        if (closesAt <= wm) {
          late(ctx, rec, t, spec.name, end - start, closesAt, wm);
          continue;
        }
        const wk = `${key}${SEP}${spec.name}${SEP}${start}`;
        let e = wins.get(wk);
        if (!e) {
          e = { k: key, w: spec.name, s: start, e: end, a: agg.init(), n: 0 };
          rt.closeHeap.push(closesAt, wk);
        }
        e.a = agg.add(e.a, rec.value);
        e.n += 1;
        wins.put(wk, e);
        if (opts.emit !== 'final') hold(rt, wk, result(e, false, t));
      }
      rt.lastArrivalWall = ctx.clock.now();
      rt.maxSeen = Math.max(rt.maxSeen, t);
      let next = t;
      if (opts.channel) {
        const clock = time.get('clock');
        const c = opts.channel(rec.value);
        const ch = { ...clock?.ch, [c]: Math.max(clock?.ch?.[c] ?? Number.NEGATIVE_INFINITY, t) };
        time.put('clock', { ...clock, ch });
        const now = ctx.clock.now();
        rt.channelWall.set(c, now);
        // Channels quiet for the idle timeout do not hold the watermark back (Flink's idleness), and missing
        // channels are waited for only that long after start.
        const active = Object.entries(ch)
          .filter(([k]) => now - (rt.channelWall.get(k) ?? rt.createdWall) < opts.idleTimeoutMs)
          .map(([, v]) => v);
        const waiting =
          Object.keys(ch).length < (opts.channels ?? 1) && now - rt.createdWall < opts.idleTimeoutMs;
        next = waiting ? Number.NEGATIVE_INFINITY : Math.min(...active);
      }
      if (next > wm) out.push(...advance(ctx, rt, next));
      rt.wmAtArrival = Math.max(wm, next);
      reportClock(ctx);
      return out;
    },
    onTime(ctx) {
      const rt = runtimeOf(ctx);
      const idle = ctx.clock.now() - rt.lastArrivalWall;
      // Channels not heard from are treated as idle too: progression starts from the highest event time seen.
      const base = Number.isFinite(rt.wmAtArrival) ? rt.wmAtArrival : rt.maxSeen;
      const out = idle < opts.idleTimeoutMs || !Number.isFinite(base) ? [] : advance(ctx, rt, base + idle);
      reportClock(ctx);
      return out;
    },
    onFlush(ctx) {
      const rt = runtimeOf(ctx);
      if (rt.pending.size === 0) return [];
      const out = [...rt.pending.values()];
      rt.pending.clear();
      return out;
    },
  };
}

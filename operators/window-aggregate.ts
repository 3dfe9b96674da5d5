// Event-time windowed aggregation per key: tumbling, calendar-day (per-key time zone) and sliding windows over one
// aggregate. The watermark of a partition is the highest event time it has seen; a window closes (final result)
// when the watermark passes its end plus the grace period; records for closed windows go to the 'late' side
// output with their lateness. When a partition has been idle for idleTimeoutMs of wall-clock time, its watermark
// follows the wall clock from where it stood, so windows of idle keys and idle partitions still close.
// A sliding window keeps one partial aggregate per hop (windows.ts: [start, end] with start on a hop edge), never
// the records: its state per key is at most sizeMs / hopMs buckets however many records arrive, and its value is
// the merge of its buckets (exact for every aggregate, min and max included).
// All state is in the runtime's stores (changelogged) at the end of every batch: sliding buckets as they change,
// and per key one entry holding all its open tumbling and day windows, written at the batch's end when one of them
// changed or closed (one that opens and closes within a batch never reaches the store; a key's 1-minute, 5-minute,
// hourly and daily windows cost one changelog record per batch, not one each plus a tombstone as each closes); the
// heaps, per-key indexes and folds are in memory, rebuilt after a restore. Updates (sliding windows, and tumbling
// ones with emit 'update' or 'both') are held until the end of the batch and go out once per window with its latest
// value, like Kafka Streams' record cache; final results go out at once. The watermark is reported to the runtime
// after every record and tick (tagstream_watermark_delay_seconds).
import { reportWatermark } from '../src/runtime/metrics.ts';
import type { Rec, StageContext, OperatorContext, Operator } from '../src/runtime/operator.ts';
import type { KeyedStore } from '../src/runtime/state.ts';
import type { Aggregate } from './aggregates.ts';
import { MinHeap } from './lib/heap.ts';
import { crossesBucket } from './lib/held.ts';
import { cachedDayWindow, slidingStart, tumblingStart, type WindowSpec } from './windows.ts';

export interface WindowResult {
  readonly key: string;
  readonly window: string;
  /** Tumbling and day windows: [start, end). Sliding windows: [start, end], start on a hop edge. */
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
   * have been heard from (for idleTimeoutMs after start where the data is live, for good where it is history). A
   * channel stops holding it back only when its upstream says it is idle (a marker, see `progress`), never by
   * silence here: while a backlog drains, a channel may go quiet for a long while with its records still to come.
   */
  readonly channel?: (value: In) => string;
  readonly channels?: number;
  /**
   * Tells a channel's progress marker (operators/progress.ts) from a record: 'progress' moves the channel to the
   * value's time, 'idle' also takes the channel out of the minimum until it sends again. Markers enter no window.
   */
  readonly progress?: (value: In) => 'progress' | 'idle' | undefined;
  /**
   * Held updates also go out when the key's next change falls in another bucket of this many ms of event time
   * (operators/lib/held.ts), so that their granularity does not follow the batch size; 0 or absent: once per batch.
   */
  readonly heldBucketMs?: number;
}

interface WinEntry {
  readonly k: string;
  readonly w: string;
  readonly s: number;
  readonly e: number;
  a: unknown;
  n: number;
}

type SlidingSpec = WindowSpec & { readonly kind: 'sliding' };

/** A sliding window spec with its bucket count (sizeMs / hopMs). */
interface Sliding {
  readonly name: string;
  readonly sizeMs: number;
  readonly hopMs: number;
  readonly buckets: number;
}

/** A window spec as the operator runs it: sliding ones checked and with their bucket count. */
type Spec =
  | Exclude<WindowSpec, SlidingSpec>
  | { readonly kind: 'sliding'; readonly name: string; readonly sl: Sliding };

/** At most this many buckets per key and sliding window (a 7-day window in 1-minute hops has 10,080). */
export const MAX_SLIDING_BUCKETS = 100_000;

/**
 * One hop of a sliding window as stored: [start of the hop (ms), partial aggregate, records, newest event time].
 * Key `<key>\0<window>\0<slot>` with slot = (start / hopMs) mod buckets: the bucket one window later reuses the
 * slot and overwrites it, so an expiring bucket writes no tombstone; a key's entries are deleted when its window
 * empties. Changed in place and put again, so the changelog gets each bucket once per commit.
 */
type Bucket = [number, unknown, number, number];

/** A live bucket in memory: its store key, its stored tuple, and its fold (see Slide). */
interface Live {
  readonly key: string;
  readonly b: Bucket;
  fold: unknown;
}

/**
 * In memory, a sliding window of one key: its live (non-empty, unexpired) buckets in ascending order. The value is
 * a pure function of the buckets, so a restore gives it bit for bit: buckets are split at `base`, the multiple of
 * the bucket count at or below the newest bucket; below it a right fold (fold[i] = merge(acc[i], fold[i + 1])),
 * from it a left fold (fold[i] = merge(fold[i - 1], acc[i])), and the value is merge(fold[0], fold[last]). Adding
 * to the newest bucket re-folds one bucket, expiring the oldest re-folds none (two-stack sliding aggregation,
 * with the split fixed by the bucket indexes so that it does not depend on history).
 */
interface Slide {
  readonly kind: 'slide';
  /** `<key>\0<window>`. */
  readonly id: string;
  readonly ks: KeyState;
  /** Position of the window in the operator's windows. */
  readonly pos: number;
  readonly spec: Sliding;
  readonly live: Live[];
  /** Position in `live` of the first bucket at or above `base`. */
  split: number;
  /** A multiple of sizeMs: where the folds split. */
  base: number;
  /** Records in the live buckets. */
  count: number;
  /** Newest event time taken: the window stands at max(watermark, newest). */
  newest: number;
  /** Store keys of the slots holding an entry (live or expired, not yet reused), by slot; made once per slot. */
  readonly slots: Array<string | undefined>;
  /** The end its held update stands at. */
  heldAt: number;
}

/**
 * An open tumbling or day window with its key's state and its position in the windows. Its key's store entry (every
 * open window of the key) is written at the end of the batch when it changed and is still open: a window that opens
 * and closes within a batch (most 1-minute ones) never touches the store.
 */
interface Open {
  readonly kind: 'window';
  /** Its id for held updates (`<key>\0<window>\0<start>`), made when first needed. */
  wk: string | undefined;
  readonly e: WinEntry;
  readonly ks: KeyState;
  /** Position in the windows; -1 for a window no longer configured (it still closes, and emits, once). */
  readonly pos: number;
  /** In its key's store entry (written at an earlier batch end, or restored). */
  stored: boolean;
  /** Changed since the last batch end (listed in Runtime.dirty). */
  dirty: boolean;
  closed: boolean;
  /** The time of the record that made its held update; -Infinity when none is held. */
  heldAt: number;
}

/**
 * In memory, per key and window position: its open windows (ascending; usually one, two within a grace period)
 * and its sliding window, so that a record finds them without building store keys or asking the store.
 */
interface KeyState {
  readonly key: string;
  readonly bytes: Buffer;
  readonly open: Array<Open[] | undefined>;
  readonly slides: Array<Slide | undefined>;
  /** Restored windows no longer configured, until they close. */
  readonly orphans: Open[];
}

/** A held update: the window or sliding window it reports (read at the end of the batch), with `heldAt`. */
type Held = Open | Slide;

interface PartitionClock {
  /** Watermark: highest event time seen (per channel: their minimum), or further by idle wall-clock time. */
  wm?: number;
  /** Highest event time per upstream channel, when the operator has channels. */
  ch?: Record<string, number>;
  /** Channels their upstream declared idle (until they send again). */
  idle?: Record<string, boolean>;
}

/** In-memory per partition: indexes over the stores, and arrival bookkeeping for idleness. */
interface Runtime {
  /** The stored clock, changed in place and put again. */
  readonly clock: PartitionClock;
  /** Every open window, once, by the time it closes. */
  readonly closeHeap: MinHeap<Open>;
  readonly expiryHeap: MinHeap<Slide>;
  /** The one live expiry per sliding window; other heap entries for it are stale. */
  readonly expiryAt: Map<Slide, number>;
  /** Keys with an open window or a sliding window (rebuilt after a restore). */
  readonly keys: Map<string, KeyState>;
  lastArrivalWall: number;
  wmAtArrival: number;
  /** Highest event time seen in this partition (idle progression starts here while channels are missing). */
  maxSeen: number;
  readonly createdWall: number;
  /**
   * Updates held back until the end of the batch, latest per window (Kafka Streams' record cache): a busy key's
   * sliding window changes with every record, and only its value at the commit goes out.
   */
  readonly pending: Map<string, Held>;
  /** Windows changed in this batch: their keys' entries are written at its end if they are still open. */
  readonly dirty: Open[];
  /** Keys whose entry must be written at the end of the batch whatever changed (a stored window closed, a restore). */
  readonly rewrite: Set<string>;
  /** The clock changed in this batch. */
  clockDirty: boolean;
}

const SEP = '\u0000';

const isBucket = (v: unknown): v is Bucket =>
  Array.isArray(v) && v.length === 4 && typeof v[0] === 'number' && typeof v[2] === 'number';

export function windowAggregate<In>(opts: WindowOptions<In>): Operator<In, WindowResult> {
  const bucketMs = opts.heldBucketMs ?? 0;
  const winStore = `${opts.name}.windows`;
  const slideStore = `${opts.name}.sliding`;
  const timeStore = `${opts.name}.time`;
  const agg = opts.aggregate;
  const dayOf = cachedDayWindow();
  const specs: readonly Spec[] = opts.windows.map((w) =>
    w.kind === 'sliding' ? { kind: 'sliding', name: w.name, sl: slidingOf(w) } : w,
  );
  const posOf = new Map(specs.map((w, i) => [w.name, i]));

  interface Stores {
    readonly wins: KeyedStore<WinEntry | WinEntry[]>;
    readonly slides: KeyedStore<Bucket>;
    readonly time: KeyedStore<PartitionClock>;
    /** The partition's in-memory indexes, built from the stores on first use. */
    rt?: Runtime;
  }
  // Keyed by the partition's window store: a partition's stores are created, dropped and restored together, so
  // they are looked up once, and a restored partition (new stores) gets fresh indexes.
  const storeSets = new WeakMap<object, Stores>();
  const stores = (ctx: StageContext): Stores => {
    const wins = ctx.store<WinEntry | WinEntry[]>(winStore);
    let set = storeSets.get(wins);
    if (!set) {
      set = { wins, slides: ctx.store<Bucket>(slideStore), time: ctx.store<PartitionClock>(timeStore) };
      storeSets.set(wins, set);
    }
    return set;
  };

  /** The in-memory indexes for this partition; rebuilt from the stores when missing (after a restore). */
  function runtimeOf(ctx: StageContext, set: Stores): Runtime {
    if (set.rt) return set.rt;
    const { wins, slides, time } = set;
    const clock = time.get('clock') ?? {};
    const wm = clock.wm ?? Number.NEGATIVE_INFINITY;
    const rt: Runtime = {
      clock,
      createdWall: ctx.clock.now(),
      maxSeen: Math.max(wm, ...Object.values(clock.ch ?? {})),
      closeHeap: new MinHeap(),
      expiryHeap: new MinHeap(),
      expiryAt: new Map(),
      keys: new Map(),
      lastArrivalWall: ctx.clock.now(),
      wmAtArrival: wm,
      pending: new Map(),
      dirty: [],
      rewrite: new Set(),
      clockDirty: false,
    };
    const restore = (e: WinEntry): void => {
      // A window no longer configured still closes (and emits) once, but is not indexed by its position.
      const pos = posOf.get(e.w) ?? -1;
      const o = newOpen(e, keyState(rt, e.k), specs[pos]?.kind === 'sliding' ? -1 : pos, true);
      rt.closeHeap.push(e.e + opts.graceMs, o);
      if (o.pos >= 0) insertOpen(o.ks, o);
      else o.ks.orphans.push(o);
    };
    const oneEach: string[] = [];
    for (const [k, v] of wins.entries()) {
      if (Array.isArray(v)) for (const e of v as WinEntry[]) restore(e);
      else {
        // An entry per window (`<key>\0<window>\0<start>`, earlier versions): taken in, and rewritten as its key's.
        restore(v);
        oneEach.push(k);
        rt.rewrite.add(v.k);
      }
    }
    for (const k of oneEach) wins.delete(k);
    restoreSlides(rt, slides, wm);
    set.rt = rt;
    return rt;
  }

  function keyState(rt: Runtime, key: string): KeyState {
    let ks = rt.keys.get(key);
    if (!ks) {
      ks = { key, bytes: Buffer.from(key), open: [], slides: [], orphans: [] };
      rt.keys.set(key, ks);
    }
    return ks;
  }

  /** Forgets a key that has neither an open window nor a sliding window left. */
  function forgetIfIdle(rt: Runtime, ks: KeyState): void {
    if (
      ks.open.every((o) => o === undefined) &&
      ks.slides.every((s) => s === undefined) &&
      ks.orphans.length === 0
    )
      rt.keys.delete(ks.key);
  }

  /** Adds an open window to its key's list, in order of start (a new window is usually the newest). */
  function insertOpen(ks: KeyState, o: Open): void {
    let list = ks.open[o.pos];
    if (!list) ks.open[o.pos] = list = [];
    let j = list.length;
    while (j > 0 && (list[j - 1] as Open).e.s > o.e.s) j--;
    if (j === list.length) list.push(o);
    else list.splice(j, 0, o);
  }

  /** The open window of the key holding t, if any. */
  function openAt(list: readonly Open[] | undefined, t: number): Open | undefined {
    if (list)
      for (let j = list.length - 1; j >= 0; j--) {
        const o = list[j] as Open;
        if (t >= o.e.e) return undefined;
        if (t >= o.e.s) return o;
      }
    return undefined;
  }

  /**
   * Rebuilds the sliding windows from their stored buckets: the live ones (not expired at max(watermark, newest))
   * with their folds; expired ones stay in the store until their slot is reused. Entries this layout cannot read
   * (the per-record buffer's sliding entries of earlier versions, windows no longer configured) are deleted.
   */
  function restoreSlides(rt: Runtime, store: KeyedStore<Bucket>, wm: number): void {
    const unreadable: string[] = [];
    const found = new Map<string, Array<[number, Live]>>();
    for (const [key, b] of store.entries()) {
      const cut = key.lastIndexOf(SEP);
      const id = key.slice(0, Math.max(cut, 0));
      const pos = posOf.get(id.slice(id.lastIndexOf(SEP) + 1));
      if (cut < 0 || pos === undefined || specs[pos]?.kind !== 'sliding' || !isBucket(b)) {
        unreadable.push(key);
        continue;
      }
      const slot = Number(key.slice(cut + 1));
      const sl = (specs[pos] as Spec & { kind: 'sliding' }).sl;
      if (b[0] % sl.hopMs !== 0 || slotOf(sl, b[0]) !== slot) {
        unreadable.push(key); // written with other hops
        continue;
      }
      const list = found.get(id) ?? [];
      list.push([slot, { key, b, fold: undefined }]);
      found.set(id, list);
    }
    for (const key of unreadable) store.delete(key);
    for (const [id, list] of found) {
      const cut = id.lastIndexOf(SEP);
      const pos = posOf.get(id.slice(cut + 1)) as number;
      const ks = keyState(rt, id.slice(0, cut));
      const s = newSlide(ks, pos);
      for (const [slot, x] of list) {
        s.slots[slot] = x.key;
        s.newest = Math.max(s.newest, x.b[3]);
      }
      const lo = windowStart(s.spec, Math.max(wm, s.newest));
      const live = list
        .map(([, x]) => x)
        .filter((x) => x.b[0] >= lo)
        .sort((x, y) => x.b[0] - y.b[0]);
      if (live.length === 0) {
        for (const key of s.slots) if (key !== undefined) store.delete(key);
        forgetIfIdle(rt, ks);
        continue;
      }
      s.live.push(...live);
      for (const x of live) s.count += x.b[2];
      rebase(s);
      ks.slides[pos] = s;
      scheduleExpiry(rt, s);
    }
  }

  const newOpen = (e: WinEntry, ks: KeyState, pos: number, stored: boolean): Open => ({
    kind: 'window',
    wk: undefined,
    e,
    ks,
    pos,
    stored,
    dirty: false,
    closed: false,
    heldAt: Number.NEGATIVE_INFINITY,
  });

  const wkOf = (o: Open): string => (o.wk ??= `${o.e.k}${SEP}${o.e.w}${SEP}${o.e.s}`);

  function newSlide(ks: KeyState, pos: number): Slide {
    const spec = (specs[pos] as Spec & { kind: 'sliding' }).sl;
    return {
      kind: 'slide',
      id: `${ks.key}${SEP}${spec.name}`,
      ks,
      pos,
      spec,
      live: [],
      split: 0,
      base: 0,
      count: 0,
      newest: Number.NEGATIVE_INFINITY,
      slots: [],
      heldAt: 0,
    };
  }

  /** The start of the window standing at `at`: buckets starting before it have left it. */
  const windowStart = (spec: Sliding, at: number): number => slidingStart(at, spec.sizeMs, spec.hopMs);

  /** The slot of the bucket starting at `start`. */
  const slotOf = (spec: Sliding, start: number): number => {
    const n = spec.buckets;
    return (((start / spec.hopMs) % n) + n) % n;
  };

  /** Right folds of the buckets below the split, from position `from` down. */
  function foldFront(s: Slide, from: number): void {
    const live = s.live;
    for (let i = from; i >= 0; i--) {
      const x = live[i] as Live;
      x.fold = i === s.split - 1 ? x.b[1] : agg.merge(x.b[1], (live[i + 1] as Live).fold);
    }
  }

  /** Left folds of the buckets from the split, from position `from` up. */
  function foldBack(s: Slide, from: number): void {
    const live = s.live;
    for (let i = Math.max(from, s.split); i < live.length; i++) {
      const x = live[i] as Live;
      x.fold = i === s.split ? x.b[1] : agg.merge((live[i - 1] as Live).fold, x.b[1]);
    }
  }

  /** Moves the split to the multiple of sizeMs at or below the newest bucket, and folds everything. */
  function rebase(s: Slide): void {
    const size = s.spec.sizeMs;
    s.base = Math.floor((s.live[s.live.length - 1] as Live).b[0] / size) * size;
    let split = 0;
    while (split < s.live.length && (s.live[split] as Live).b[0] < s.base) split++;
    s.split = split;
    foldFront(s, split - 1);
    foldBack(s, split);
  }

  /** The aggregate over the live buckets. */
  function slideValue(s: Slide): unknown {
    const n = s.live.length;
    if (n === 0) return agg.init();
    const front = (s.live[0] as Live).fold;
    const back = (s.live[n - 1] as Live).fold;
    if (s.split === 0) return back;
    if (s.split === n) return front;
    return agg.merge(front, back);
  }

  /** Adds a record at t to the (live) bucket starting at b, writing the bucket to the store. */
  function addToSlide(store: KeyedStore<Bucket>, s: Slide, b: number, t: number, value: In): void {
    const live = s.live;
    let p = live.length;
    while (p > 0 && (live[p - 1] as Live).b[0] > b) p--;
    let x = live[p - 1];
    if (x && x.b[0] === b) {
      p -= 1;
      x.b[1] = agg.add(x.b[1], value);
      x.b[2] += 1;
      if (t > x.b[3]) x.b[3] = t;
    } else {
      const slot = slotOf(s.spec, b);
      const key = (s.slots[slot] ??= `${s.id}${SEP}${slot}`);
      x = { key, b: [b, agg.add(agg.init(), value), 1, t], fold: undefined };
      if (p === live.length) live.push(x);
      else live.splice(p, 0, x);
      if (live.length > 1 && b < s.base) s.split += 1;
    }
    s.count += 1;
    if (t > s.newest) s.newest = t;
    store.put(x.key, x.b);
    if (live.length === 1 || b >= s.base + s.spec.sizeMs) rebase(s);
    else if (b < s.base) foldFront(s, p);
    else foldBack(s, p);
  }

  /**
   * Drops the buckets that have left the window standing at `at`; true when there were any. A window left empty
   * deletes its store entries (the caller forgets it or fills it again).
   */
  function expire(rt: Runtime, store: KeyedStore<Bucket>, s: Slide, at: number): boolean {
    const lo = windowStart(s.spec, at);
    const live = s.live;
    let m = 0;
    while (m < live.length && (live[m] as Live).b[0] < lo) s.count -= (live[m++] as Live).b[2];
    if (m === 0) return false;
    if (m > 8) live.splice(0, m);
    else for (let j = 0; j < m; j++) live.shift(); // usually one: no array of the removed ones
    if (m <= s.split) s.split -= m;
    else {
      // Buckets above the split left too (the key was quiet for a while): the rest is all left folds, redone.
      s.split = 0;
      foldBack(s, 0);
    }
    if (live.length === 0) {
      for (const key of s.slots) if (key !== undefined) store.delete(key);
      s.slots.length = 0;
      rt.expiryAt.delete(s);
    }
    return true;
  }

  /** The window's next expiry: when its oldest bucket leaves it. */
  function scheduleExpiry(rt: Runtime, s: Slide): void {
    const first = s.live[0];
    if (!first) return;
    const at = first.b[0] + s.spec.sizeMs;
    if (rt.expiryAt.get(s) === at) return;
    rt.expiryAt.set(s, at);
    rt.expiryHeap.push(at, s);
  }

  /** The result a held update stands for: the window's value now, stamped at the time it was held at. */
  function heldResult(h: Held): Rec<WindowResult> {
    if (h.kind === 'slide') return slideResult(h, h.heldAt);
    const r = result(h.ks.bytes, h.e, false, h.heldAt);
    h.heldAt = Number.NEGATIVE_INFINITY;
    return r;
  }

  /**
   * Before the window's state changes for an event at `at`: its held update, to go out now when `at` falls in
   * another bucket (opts.heldBucketMs) than the update was held at.
   */
  function releaseBefore(
    rt: Runtime,
    windowKey: string,
    held: Held,
    at: number,
  ): Rec<WindowResult> | undefined {
    if (!crossesBucket(held.heldAt, at, bucketMs) || !rt.pending.delete(windowKey)) return undefined;
    return heldResult(held);
  }

  /** Holds an update until the batch ends; a later update of the same window replaces it (and moves to the end). */
  function hold(rt: Runtime, windowKey: string, held: Held, at: number): void {
    held.heldAt = at;
    rt.pending.delete(windowKey);
    rt.pending.set(windowKey, held);
  }

  /** A final result is stamped at the window end (in the past by then); an update at the record that made it. */
  const result = (bytes: Buffer, e: WinEntry, final: boolean, at: number = e.e): Rec<WindowResult> => ({
    key: bytes,
    value: { key: e.k, window: e.w, start: e.s, end: e.e, final, values: agg.result(e.a), count: e.n },
    timestamp: final ? e.e : at,
  });

  function slideResult(s: Slide, end: number): Rec<WindowResult> {
    return {
      key: s.ks.bytes,
      value: {
        key: s.ks.key,
        window: s.spec.name,
        start: slidingStart(end, s.spec.sizeMs, s.spec.hopMs),
        end,
        final: false,
        values: agg.result(slideValue(s)),
        count: s.count,
      },
      timestamp: end,
    };
  }

  /** Moves the watermark to `wm`: closes tumbling/day windows and expires the sliding buckets it passes. */
  function advance(set: Stores, rt: Runtime, wm: number): Rec<WindowResult>[] {
    const { slides } = set;
    const out: Rec<WindowResult>[] = [];
    if (rt.clock.wm !== undefined && wm <= rt.clock.wm) return out;
    rt.clock.wm = wm;
    rt.clockDirty = true;
    for (let at = rt.closeHeap.peekKey(); at !== undefined && at <= wm; at = rt.closeHeap.peekKey()) {
      const o = rt.closeHeap.pop() as Open;
      o.closed = true;
      if (o.heldAt !== Number.NEGATIVE_INFINITY) rt.pending.delete(wkOf(o)); // the final supersedes a held update
      if (opts.emit !== 'update') out.push(result(o.ks.bytes, o.e, true));
      if (o.stored) rt.rewrite.add(o.ks.key);
      if (o.pos < 0) {
        o.ks.orphans.splice(o.ks.orphans.indexOf(o), 1);
        forgetIfIdle(rt, o.ks);
      }
      const list = o.pos < 0 ? undefined : o.ks.open[o.pos];
      if (list) {
        // The oldest open window closes first: shift() takes it without allocating.
        if (list[0] === o) list.shift();
        else if (list.includes(o)) list.splice(list.indexOf(o), 1);
        if (list.length === 0) {
          o.ks.open[o.pos] = undefined;
          forgetIfIdle(rt, o.ks);
        }
      }
    }
    for (let at = rt.expiryHeap.peekKey(); at !== undefined && at <= wm; at = rt.expiryHeap.peekKey()) {
      const s = rt.expiryHeap.pop() as Slide;
      if (rt.expiryAt.get(s) !== at) continue; // superseded
      rt.expiryAt.delete(s);
      const end = Math.max(wm, s.newest);
      const released = releaseBefore(rt, s.id, s, end);
      if (released) out.push(released);
      if (expire(rt, slides, s, end)) hold(rt, s.id, s, end);
      if (s.live.length > 0) scheduleExpiry(rt, s);
      else if (s.ks.slides[s.pos] === s) {
        s.ks.slides[s.pos] = undefined;
        forgetIfIdle(rt, s.ks);
      }
    }
    return out;
  }

  /** Writes a key's entry: every open window it has (marked stored), or a delete when none is left. */
  function writeKey(wins: KeyedStore<WinEntry | WinEntry[]>, ks: KeyState | undefined, key: string): void {
    const open: Open[] = [];
    if (ks) {
      for (const list of ks.open) if (list) for (const o of list) if (!o.closed) open.push(o);
      for (const o of ks.orphans) if (!o.closed) open.push(o);
    }
    if (open.length === 0) {
      if (wins.get(key) !== undefined) wins.delete(key);
      return;
    }
    for (const o of open) o.stored = true;
    wins.put(
      key,
      open.map((o) => o.e),
    );
  }

  /** Tells the runtime (its watermark-delay metric) where this partition's watermark stands. */
  function reportClock(ctx: StageContext, rt: Runtime): void {
    if (rt.clock.wm !== undefined) reportWatermark(ctx, opts.name, rt.clock.wm);
  }

  /**
   * The watermark over channels: the least highest event time of the channels not idle; -infinity while none is
   * active, or while channels are missing in the first idleTimeoutMs after start.
   */
  function channelWatermark(rt: Runtime, ch: Record<string, number>, now: number): number {
    let heard = 0;
    let min = Number.POSITIVE_INFINITY;
    const idle = rt.clock.idle;
    for (const c in ch) {
      heard += 1;
      // Channels their upstream declared idle do not hold the watermark back (Flink's idleness).
      if (!idle?.[c]) min = Math.min(min, ch[c] as number);
    }
    // A missing channel is waited for idleTimeoutMs after start, and for good while the data is history (not within
    // graceMs + idleTimeoutMs of the wall clock): its upstream may simply not have got to it yet.
    const live = now - rt.maxSeen <= opts.graceMs + opts.idleTimeoutMs;
    const waiting = heard < (opts.channels ?? 1) && (now - rt.createdWall < opts.idleTimeoutMs || !live);
    return waiting || min === Number.POSITIVE_INFINITY ? Number.NEGATIVE_INFINITY : min;
  }

  /** True when some channel heard from is not idle: the watermark then moves only by the channels' progress. */
  function activeChannel(rt: Runtime): boolean {
    const { ch, idle } = rt.clock;
    for (const c in ch) if (!idle?.[c]) return true;
    return false;
  }

  /**
   * What every arrival does to the partition's clock, a record's (t its event time) or a channel's progress marker
   * (t how far it got): the channel moves to t and counts again, or is idle (an idle marker, which is no arrival
   * either); the watermark follows, closing what it passes.
   */
  function arrive(
    ctx: StageContext,
    set: Stores,
    rt: Runtime,
    value: In,
    t: number,
    idle = false,
  ): Rec<WindowResult>[] {
    const wm = rt.clock.wm ?? Number.NEGATIVE_INFINITY;
    const now = ctx.clock.now();
    if (!idle) rt.lastArrivalWall = now;
    rt.maxSeen = Math.max(rt.maxSeen, t);
    let next = t;
    if (opts.channel) {
      const c = opts.channel(value);
      const ch = (rt.clock.ch ??= {});
      ch[c] = Math.max(ch[c] ?? Number.NEGATIVE_INFINITY, t);
      if (idle) (rt.clock.idle ??= {})[c] = true;
      else if (rt.clock.idle) delete rt.clock.idle[c];
      rt.clockDirty = true;
      next = channelWatermark(rt, ch, now);
    }
    const out = next > wm ? advance(set, rt, next) : [];
    rt.wmAtArrival = Math.max(wm, next);
    reportClock(ctx, rt);
    return out;
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
    stores: [winStore, slideStore, timeStore],
    process(rec, ctx) {
      const set = stores(ctx);
      const rt = runtimeOf(ctx, set);
      // A channel's progress marker moves the clock only; it enters no window.
      const marker = opts.channel && opts.progress?.(rec.value);
      if (marker)
        return arrive(ctx, set, rt, rec.value, opts.time?.(rec.value) ?? -Infinity, marker === 'idle');
      const { slides } = set;
      const t = opts.time ? opts.time(rec.value) : rec.timestamp;
      // Held updates that go out before this record changes their windows (a new bucket of event time).
      let released: Rec<WindowResult>[] | undefined;
      const key = opts.key(rec.value);
      const wm = rt.clock.wm ?? Number.NEGATIVE_INFINITY;
      const ks = keyState(rt, key);
      for (let i = 0; i < specs.length; i++) {
        const spec = specs[i] as Spec;
        if (spec.kind === 'sliding') {
          const sl = spec.sl;
          const b = Math.floor(t / sl.hopMs) * sl.hopMs;
          // The record's hop leaves the window when the window's start passes it; late after the grace period.
          const closesAt = b + sl.sizeMs + opts.graceMs;
          if (closesAt <= wm) {
            late(ctx, rec, t, spec.name, sl.sizeMs, closesAt, wm);
            continue;
          }
          let s = ks.slides[i];
          const end = Math.max(wm, s ? s.newest : t, t);
          if (b < windowStart(sl, end)) continue; // behind the key's window, not late: earlier windows are past
          if (!s) ks.slides[i] = s = newSlide(ks, i);
          else {
            const r = releaseBefore(rt, s.id, s, end);
            if (r) (released ??= []).push(r);
            expire(rt, slides, s, end); // this record moves the window forward
          }
          addToSlide(slides, s, b, t, rec.value);
          scheduleExpiry(rt, s);
          hold(rt, s.id, s, end);
          continue;
        }
        // An open window of the key holding t (an open window is never late), or a new one.
        let open = openAt(ks.open[i], t);
        if (!open) {
          let start: number;
          let end: number;
          if (spec.kind === 'tumbling') {
            start = tumblingStart(t, spec.sizeMs);
            end = start + spec.sizeMs;
          } else [start, end] = dayOf(t, spec.zone(key));
          const closesAt = end + opts.graceMs;
          if (closesAt <= wm) {
            late(ctx, rec, t, spec.name, end - start, closesAt, wm);
            continue;
          }
          const e: WinEntry = { k: key, w: spec.name, s: start, e: end, a: agg.init(), n: 0 };
          open = newOpen(e, ks, i, false);
          rt.closeHeap.push(closesAt, open);
          insertOpen(ks, open);
        }
        const e = open.e;
        if (opts.emit !== 'final') {
          const r = releaseBefore(rt, wkOf(open), open, t);
          if (r) (released ??= []).push(r);
        }
        e.a = agg.add(e.a, rec.value);
        e.n += 1;
        if (!open.dirty) {
          open.dirty = true;
          rt.dirty.push(open);
        }
        if (opts.emit !== 'final') hold(rt, wkOf(open), open, t);
      }
      if (ks.open.length === 0 && ks.slides.length === 0) rt.keys.delete(key); // a new key, late or behind
      const closed = arrive(ctx, set, rt, rec.value, t);
      return released ? [...released, ...closed] : closed;
    },
    onTime(ctx) {
      const set = stores(ctx);
      const rt = runtimeOf(ctx, set);
      const idle = ctx.clock.now() - rt.lastArrivalWall;
      // Channels not heard from are treated as idle too: progression starts from the highest event time seen. A
      // channel not declared idle holds the partition back: its records may still be on their way.
      const base = Number.isFinite(rt.wmAtArrival) ? rt.wmAtArrival : rt.maxSeen;
      const held = opts.channel !== undefined && activeChannel(rt);
      const out =
        held || idle < opts.idleTimeoutMs || !Number.isFinite(base) ? [] : advance(set, rt, base + idle);
      reportClock(ctx, rt);
      return out;
    },
    onFlush(ctx) {
      const set = stores(ctx);
      const rt = runtimeOf(ctx, set);
      // The batch's state changes go to the stores now, before the runtime takes them for the changelog: each key
      // with a window changed (and still open) or a stored one closed gets its entry of every open window written,
      // or deleted when none is left.
      for (const o of rt.dirty) {
        o.dirty = false;
        if (!o.closed) rt.rewrite.add(o.ks.key);
      }
      rt.dirty.length = 0;
      for (const key of rt.rewrite) writeKey(set.wins, rt.keys.get(key), key);
      rt.rewrite.clear();
      if (rt.clockDirty) {
        set.time.put('clock', rt.clock);
        rt.clockDirty = false;
      }
      if (rt.pending.size === 0) return [];
      const out: Rec<WindowResult>[] = [];
      for (const h of rt.pending.values()) out.push(heldResult(h));
      rt.pending.clear();
      return out;
    },
  };
}

/** Checks a sliding spec: hops that divide the size, and a bounded number of them. */
function slidingOf(w: SlidingSpec): Sliding {
  const buckets = w.sizeMs / w.hopMs;
  if (!Number.isInteger(w.hopMs) || w.hopMs <= 0 || !Number.isInteger(buckets) || buckets < 1)
    throw new Error(`sliding window ${w.name}: sizeMs ${w.sizeMs} is not a multiple of hopMs ${w.hopMs}`);
  if (buckets > MAX_SLIDING_BUCKETS)
    throw new Error(
      `sliding window ${w.name}: ${buckets} hops per window, more than ${MAX_SLIDING_BUCKETS} (use a longer hopMs)`,
    );
  return { name: w.name, sizeMs: w.sizeMs, hopMs: w.hopMs, buckets };
}

// Drift of live inputs and predictions against each model's training reference (src/ml/drift.ts): the scoring
// stages hand every scored row to the monitor, which counts its inputs' and prediction's bins into a sliding window
// of the last `window` rows per service, computes PSI per input column and of the predictions once the window is
// full, reports them (tagstream_drift_psi), and raises a `drift` alert when the predictions' PSI reaches a threshold:
// the configured one, or higher where the model's own reference windows reach further (driftThresholds).
//
// Where the window lives: in Redis (redisDriftWindows), shared by every serving instance and kept across restarts.
// An instance sees only the partitions it owns, and partitions split entities (stores, classes, items), so a
// per-instance window would differ from the training population by construction once the pipeline scales out; the
// shared window holds the latest rows whoever scored them. The window belongs to the reference (the model version
// that carries it): a new model starts an empty window. Throttling is shared too: an alert of a severity is raised
// once per throttle period by whichever instance gets there first.
//
// What a row stands for: each row names its unit, the thing a training row is one of (a rental; a store's forecast
// of a class for a day), and the window counts a unit once, the first time any instance scores it. Demand is scored
// for every class event, so on a live day a busy class's forecast would fill the window many times over, while its
// training rows hold each store, class and day once; counted per unit the window is drawn like the reference however
// the events are batched. The same rule keeps a batch retried after a crash from counting twice. Units are kept
// UNIT_MEMORY_MS behind the newest. A Redis failure skips the batch's rows (logged), never a prediction.
import type { Alert } from '../schemas/types.ts';
import type { FeatureRecord } from '../features/derive.ts';
import {
  categoryShares,
  categorySlot,
  driftThresholds,
  numericShares,
  numericSlot,
  psiOfCounts,
  type DriftReference,
  type DriftThresholds,
} from '../ml/drift.ts';
import { defineScript, scriptCall, type RedisClient, type RedisReply } from '../io/redis/client.ts';
import type { Logger } from '../log.ts';
import type { ServingMetrics } from './metrics.ts';

export type Severity = 'warning' | 'critical';
const RANK: Readonly<Record<Severity, number>> = { warning: 1, critical: 2 };

export interface DriftSettings {
  /** Rows per service in the sliding window; PSI is computed once it is full. */
  readonly window: number;
  /**
   * PSI of the predictions at or above → warning / critical; raised for a model whose own reference windows reach
   * further on ordinary days (driftThresholds).
   */
  readonly warning: number;
  readonly critical: number;
  /** An alert of a severity is raised again only after this long (wall clock), or at once when it rises. */
  readonly throttleMs: number;
}

/** The column a prediction's PSI is reported under, next to the input columns. */
export const PREDICTION_COLUMN = 'prediction';

/** What the window of a service holds now: its rows and, per `column:slot`, how many of them fall there. */
export interface WindowCounts {
  readonly rows: number;
  readonly counts: ReadonlyMap<string, number>;
  /** The rows this add dropped from the window, oldest first (the batch's own first rows when it outgrew it). */
  readonly evicted: readonly string[];
  /** Indices of the batch's rows this add counted (the others' units were counted before), ascending. */
  readonly added: readonly number[];
}

/** A scored row for the window. */
export interface WindowRow {
  /** Its slots, comma-separated in column order (rowSlots). */
  readonly slots: string;
  /** What it stands for (a rental, a forecast of a store, class and day): counted once per window. */
  readonly unit: string;
  /** The unit's event time (ms): units UNIT_MEMORY_MS older than the newest one are forgotten. */
  readonly time: number;
}

/** How far behind the newest unit a window remembers the units it counted (a day's forecasts and then some). */
export const UNIT_MEMORY_MS = 2 * 86_400_000;

/** Where the windows live (redisDriftWindows; memoryDriftWindows for tests and a single process). */
export interface DriftWindows {
  /**
   * Appends the rows whose units window `key` has not counted yet and adds their `column:slot` counts; drops the
   * oldest rows beyond `size`, subtracting theirs. Returns the result.
   */
  add(key: string, rows: readonly WindowRow[], size: number): Promise<WindowCounts>;
  /** May an alert of `rank` for `key` be raised now? No while one of this rank or higher was, within `ttlMs`. */
  claim(key: string, rank: number, ttlMs: number): Promise<boolean>;
}

/** The model a service's rows are compared for: the first member that carries a reference. */
export interface ReferencedModel {
  readonly version: string;
  readonly reference: DriftReference;
}

/** One row's slots (the column order: numeric inputs, categorical inputs, prediction). */
export function rowSlots(reference: DriftReference, record: FeatureRecord, prediction: number): number[] {
  const out: number[] = [];
  for (const [name, bins] of Object.entries(reference.numeric)) out.push(numericSlot(bins, record[name]));
  for (const [name, shares] of Object.entries(reference.categorical))
    out.push(categorySlot(shares, record[name]));
  out.push(numericSlot(reference.prediction, prediction));
  return out;
}

/** PSI per column (input names, then PREDICTION_COLUMN) of a window's counts against the reference. */
export function windowPsi(
  reference: DriftReference,
  counts: ReadonlyMap<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  let c = 0;
  const psiOf = (shares: number[]): number =>
    psiOfCounts(
      shares,
      shares.map((_, s) => counts.get(`${c}:${s}`) ?? 0),
    );
  for (const [name, bins] of Object.entries(reference.numeric)) {
    out[name] = psiOf(numericShares(bins));
    c++;
  }
  for (const [name, shares] of Object.entries(reference.categorical)) {
    out[name] = psiOf(categoryShares(shares));
    c++;
  }
  out[PREDICTION_COLUMN] = psiOf(numericShares(reference.prediction));
  return out;
}

/**
 * The index of the first of a batch's rows at which the window's prediction PSI reached `threshold` with the window
 * full, stepping through the batch as if its rows had come one at a time (the last row when none did earlier). A
 * backlog's micro-batch holds hundreds of rows and a trickle's one; the alert names the same event either way.
 * `window` is the window after the batch, `rows` the batch's rows (slots, the prediction's last), `shares` the
 * reference's prediction shares.
 */
export function firstCrossing(
  shares: readonly number[],
  window: WindowCounts,
  rows: readonly string[],
  size: number,
  threshold: number,
): number {
  if (rows.length === 0) return -1;
  const column = rows[0]!.split(',').length - 1;
  const slotOf = (row: string): number => Number(row.slice(row.lastIndexOf(',') + 1));
  // The counts before the batch: after it, less its rows, plus those it evicted.
  const counts = shares.map((_, s) => window.counts.get(`${column}:${s}`) ?? 0);
  for (const r of rows) counts[slotOf(r)]!--;
  for (const r of window.evicted) counts[slotOf(r)]!++;
  let len = window.rows - rows.length + window.evicted.length;
  let k = 0;
  for (let i = 0; i < rows.length; i++) {
    counts[slotOf(rows[i]!)]!++;
    len++;
    // The evicted rows are the oldest of (window before, then the batch): each leaves once the window overflows.
    for (; len > size && k < window.evicted.length; k++, len--) counts[slotOf(window.evicted[k]!)]!--;
    if (len >= size && psiOfCounts(shares, counts) >= threshold) return i;
  }
  return rows.length - 1;
}

/** Which severity a PSI reaches, or null. */
export function driftSeverity(psi: number, s: Pick<DriftSettings, 'warning' | 'critical'>): Severity | null {
  if (psi >= s.critical) return 'critical';
  if (psi >= s.warning) return 'warning';
  return null;
}

/** The inputs that moved most, for the alert's message: `name PSI` of the `n` largest. */
export function topInputs(psi: Readonly<Record<string, number>>, n = 3): string {
  return Object.entries(psi)
    .filter(([k]) => k !== PREDICTION_COLUMN)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
}

export interface DriftMonitorOptions {
  readonly settings: DriftSettings;
  readonly windows: DriftWindows;
  readonly metrics: Pick<ServingMetrics, 'drift'>;
  readonly log: Logger;
  /** Wall clock (ms) for raised_at. */
  readonly now: () => number;
  /** Called once per alert raised (tagstream_alerts_total). */
  readonly onAlert?: (alert: Alert) => void;
}

/** Counts scored rows into each service's window and raises drift alerts; one per serving flow. */
export class DriftMonitor {
  /** Failures are logged once until a call succeeds again: Redis away would otherwise log every batch. */
  private failing = false;
  /** The thresholds of each reference, computed once. */
  private readonly thresholds = new WeakMap<DriftReference, DriftThresholds>();

  constructor(private readonly options: DriftMonitorOptions) {}

  /**
   * Adds scored rows of `service` to its window; returns the alerts to publish (none while the window fills, the
   * PSI stays below the thresholds, or the throttle holds). `units`: what each row stands for (counted once per
   * window); `eventTimes`: each row's event time; an alert carries that of the row at which the window reached its
   * severity (firstCrossing).
   */
  async observe(
    service: string,
    model: ReferencedModel,
    records: readonly FeatureRecord[],
    predictions: ArrayLike<number>,
    units: readonly string[],
    eventTimes: ArrayLike<number>,
  ): Promise<Alert[]> {
    if (records.length === 0) return [];
    const { settings, windows, metrics, log } = this.options;
    const { reference } = model;
    const rows = records.map((r, i) => ({
      slots: rowSlots(reference, r, predictions[i]!).join(','),
      unit: units[i]!,
      time: eventTimes[i]!,
    }));
    let window: WindowCounts;
    try {
      window = await windows.add(`${service}:${model.version}`, rows, settings.window);
      if (this.failing) log.info({ service }, 'drift window reachable again');
      this.failing = false;
    } catch (e) {
      if (!this.failing)
        log.warn({ err: e, service }, 'drift window unavailable: rows not counted until it is back');
      this.failing = true;
      return [];
    }
    if (window.rows < settings.window) {
      metrics.drift(service, null, window.rows);
      return [];
    }
    if (window.added.length === 0) return [];
    const psi = windowPsi(reference, window.counts);
    metrics.drift(service, psi, window.rows);
    const value = psi[PREDICTION_COLUMN]!;
    let limits = this.thresholds.get(reference);
    if (!limits) this.thresholds.set(reference, (limits = driftThresholds(reference, settings)));
    const severity = driftSeverity(value, limits);
    if (severity === null) return [];
    let claimed: boolean;
    try {
      claimed = await windows.claim(`${service}:raised`, RANK[severity], settings.throttleMs);
    } catch (e) {
      log.warn({ err: e, service }, 'drift alert throttle unavailable: alert not raised');
      return [];
    }
    if (!claimed) return [];
    const crossed = firstCrossing(
      numericShares(reference.prediction),
      window,
      window.added.map((i) => rows[i]!.slots),
      settings.window,
      limits[severity],
    );
    const eventTime = eventTimes[window.added[crossed]!]!;
    const alert: Alert = {
      alert_id: `drift:${service}:${eventTime}`,
      rule: 'drift',
      severity,
      entity_id: service,
      service,
      message:
        `${service} predictions drifted from the training data of ${model.version}: PSI ${value.toFixed(3)} over the ` +
        `last ${window.rows} rows (${severity} at ${limits[severity].toFixed(3)}); inputs that moved most: ${topInputs(psi)}`,
      value,
      threshold: limits[severity],
      raised_at: this.options.now(),
      event_time: eventTime,
    };
    this.options.onAlert?.(alert);
    log.info({ service, severity, psi: value, version: model.version }, alert.message);
    return [alert];
  }
}

// -----------------------------------------------------------------------------------------------------------------
// Redis

/**
 * KEYS[1]: the window's rows (a list, newest first); KEYS[2]: its counts (a hash `column:slot` → rows); KEYS[3]: the
 * units it counted (a sorted set scored by event time). ARGV[1]: size; ARGV[2]: TTL in seconds; ARGV[3]: how long
 * units are remembered (ms); ARGV[4]: how many rows follow; then `slots, unit, time` per row. Counts a row only when
 * its unit is new (ZADD NX), drops the rows beyond `size` and subtracts their slots (counts gathered first, so each
 * field is written once), forgets units older than the newest by ARGV[3]. Returns { rows, HGETALL counts, the
 * dropped rows newest first, the 1-based indices of the rows counted }.
 */
export const WINDOW_SCRIPT = defineScript(`
local size = tonumber(ARGV[1])
local ttl = ARGV[2]
local memory = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local delta = {}
local function tally(row, k)
  local c = 0
  for slot in string.gmatch(row, '[^,]+') do
    local f = c .. ':' .. slot
    delta[f] = (delta[f] or 0) + k
    c = c + 1
  end
end
local added = {}
for i = 1, n do
  local at = 2 + 3 * i
  if redis.call('ZADD', KEYS[3], 'NX', ARGV[at + 2], ARGV[at + 1]) == 1 then
    redis.call('LPUSH', KEYS[1], ARGV[at])
    tally(ARGV[at], 1)
    added[#added + 1] = i
  end
end
local len = redis.call('LLEN', KEYS[1])
local old
if len > size then
  old = redis.call('LRANGE', KEYS[1], size, -1)
  redis.call('LTRIM', KEYS[1], 0, size - 1)
  for _, row in ipairs(old) do tally(row, -1) end
  len = size
end
for f, k in pairs(delta) do
  if k ~= 0 and redis.call('HINCRBY', KEYS[2], f, k) <= 0 then redis.call('HDEL', KEYS[2], f) end
end
local newest = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
if newest[2] then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. (tonumber(newest[2]) - memory)) end
for k = 1, 3 do redis.call('EXPIRE', KEYS[k], ttl) end
return { len, redis.call('HGETALL', KEYS[2]), old or {}, added }
`);

/** KEYS[1]: the last raised rank; ARGV[1]: this rank; ARGV[2]: throttle in ms. 1 when this one may be raised. */
export const CLAIM_SCRIPT = defineScript(`
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`);

/** A window untouched this long is dropped (a model no longer served, a service gone). */
export const WINDOW_TTL_SECONDS = 7 * 86_400;

const text = (r: RedisReply | undefined): string =>
  typeof r === 'string' ? r : Buffer.isBuffer(r) ? r.toString('utf8') : String(r);

/** The window script's reply as counts. */
export function decodeWindow(reply: RedisReply): WindowCounts {
  const [len, flat, old, added] = Array.isArray(reply) ? reply : [0, [], [], []];
  const counts = new Map<string, number>();
  const pairs = Array.isArray(flat) ? flat : [];
  for (let i = 0; i + 1 < pairs.length; i += 2) counts.set(text(pairs[i]), Number(text(pairs[i + 1])));
  const evicted = (Array.isArray(old) ? old : []).map(text).reverse();
  return {
    rows: Number(len),
    counts,
    evicted,
    added: (Array.isArray(added) ? added : []).map((i) => Number(i) - 1),
  };
}

/** The script call of one `add`: keys under `<prefix>drift:<key>:`. */
export function windowCall(
  prefix: string,
  key: string,
  rows: readonly WindowRow[],
  size: number,
): { keys: string[]; args: (string | number)[] } {
  const base = `${prefix}drift:${key}:`;
  return {
    keys: [`${base}rows`, `${base}counts`, `${base}units`],
    args: [
      size,
      WINDOW_TTL_SECONDS,
      UNIT_MEMORY_MS,
      rows.length,
      ...rows.flatMap((r) => [r.slots, r.unit, r.time]),
    ],
  };
}

/** Windows in Redis under `<prefix>drift:`, shared by every instance on the same Redis and prefix. */
export function redisDriftWindows(redis: RedisClient, prefix: string): DriftWindows {
  return {
    async add(key, rows, size) {
      const { keys, args } = windowCall(prefix, key, rows, size);
      const [reply] = await redis.pipeline([scriptCall(WINDOW_SCRIPT, keys, args)]);
      return decodeWindow(reply ?? null);
    },
    async claim(key, rank, ttlMs) {
      const [reply] = await redis.pipeline([
        scriptCall(CLAIM_SCRIPT, [`${prefix}drift:${key}`], [rank, Math.max(1, Math.round(ttlMs))]),
      ]);
      return Number(reply) === 1;
    },
  };
}

/** Windows in this process only (tests; a single instance that need not survive restarts). */
export function memoryDriftWindows(now: () => number = Date.now): DriftWindows {
  const windows = new Map<
    string,
    { rows: string[]; counts: Map<string, number>; units: Map<string, number>; newest: number }
  >();
  const raised = new Map<string, { rank: number; until: number }>();
  const tally = (counts: Map<string, number>, row: string, k: number): void =>
    row.split(',').forEach((slot, c) => {
      const f = `${c}:${slot}`;
      const left = (counts.get(f) ?? 0) + k;
      if (left <= 0) counts.delete(f);
      else counts.set(f, left);
    });
  return {
    add(key, rows, size) {
      let w = windows.get(key);
      if (!w) windows.set(key, (w = { rows: [], counts: new Map(), units: new Map(), newest: -Infinity }));
      const added: number[] = [];
      rows.forEach((r, i) => {
        if (w.units.has(r.unit)) return;
        w.units.set(r.unit, r.time);
        w.newest = Math.max(w.newest, r.time);
        w.rows.push(r.slots);
        tally(w.counts, r.slots, 1);
        added.push(i);
      });
      for (const [unit, time] of w.units) if (time < w.newest - UNIT_MEMORY_MS) w.units.delete(unit);
      const old = w.rows.splice(0, Math.max(0, w.rows.length - size));
      for (const row of old) tally(w.counts, row, -1);
      return Promise.resolve({ rows: w.rows.length, counts: new Map(w.counts), evicted: old, added });
    },
    claim(key, rank, ttlMs) {
      const cur = raised.get(key);
      const t = now();
      if (cur && cur.until > t && cur.rank >= rank) return Promise.resolve(false);
      raised.set(key, { rank, until: t + ttlMs });
      return Promise.resolve(true);
    },
  };
}

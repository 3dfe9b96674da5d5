// The prediction cache on Redis: per service and entity the latest prediction and a bounded history ordered by event
// time; the recent alerts (deduplicated by alert_id) with counters per rule and severity. The PredictionSink writes
// it from predictions.<service> and alerts, the REST API reads it. Writes are idempotent, so re-delivery is harmless.
//
// Layout, under `<prefix>` (featureStore.redisPrefix):
//   pred:ts:<service>:<entity>  sorted set, member and score = event_time (ms): the history index
//   pred:v:<service>:<entity>   hash, field event_time -> the prediction as JSON
//   pred:counts                 hash, service -> predictions stored (each (service, entity, event_time) once)
//   alert:ids                   sorted set, member alert_id, score raised_at: the ids seen (dedup window)
//   alert:data                  hash, alert_id -> the alert as JSON, for the newest `recentAlerts` ids only
//   alert:counts                hash, `<rule>|<severity>` -> alerts seen
// The latest prediction is the history's newest entry: one structure, so the two can never disagree.
import type { Config } from '../../config/schema.ts';
import { recordError } from '../errors.ts';
import {
  command,
  createRedisClient,
  defineScript,
  scriptCall,
  type RedisClient,
  type RedisCommand,
  type RedisReply,
} from '../io/redis/client.ts';
import type { Alert, Prediction } from '../schemas/types.ts';

// Moved to the feature vocabulary; re-exported for src/app/prediction-sink.ts until its import is updated.

export interface RangeQuery {
  /** Inclusive bounds on event_time, ms since epoch; omitted: unbounded. */
  readonly from?: number;
  readonly to?: number;
  /** Most entries returned (default 100). */
  readonly limit?: number;
}

export interface AlertQuery {
  /** Most alerts returned (default 50). */
  readonly limit?: number;
  readonly severity?: string;
  readonly rule?: string;
}

export interface AlertCounts {
  readonly total: number;
  readonly bySeverity: Readonly<Record<string, number>>;
  readonly byRule: Readonly<Record<string, number>>;
}

export interface CacheCounts {
  /** Predictions stored per service since the cache was empty (a re-delivered prediction counts once). */
  readonly predictions: Readonly<Record<string, number>>;
  /** Alerts seen, each alert_id once. */
  readonly alerts: AlertCounts;
}

export interface PredictionCache {
  /** Stores predictions; returns how many were new (not a re-delivery, not older than a full history). */
  write(predictions: readonly Prediction[]): Promise<number>;
  /** Stores alerts; returns how many alert ids were new. */
  writeAlerts(alerts: readonly Alert[]): Promise<number>;
  /** The prediction with the highest event_time, undefined when none is cached. */
  latest(service: string, entityId: string): Promise<Prediction | undefined>;
  /** Predictions with event_time in [from, to], newest first, at most `limit`. */
  range(service: string, entityId: string, query?: RangeQuery): Promise<Prediction[]>;
  /** The newest alerts by raised_at (of the latest `recentAlerts` kept), filtered, newest first. */
  recentAlerts(query?: AlertQuery): Promise<Alert[]>;
  counts(): Promise<CacheCounts>;
  /** One PING: for the readiness probe. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface PredictionCacheOptions {
  readonly redisUrl: string;
  /** Key prefix (default 'ts:'). */
  readonly prefix?: string;
  /** History entries kept per service and entity (default 500). */
  readonly historyPerEntity?: number;
  /** Alerts kept for recentAlerts (default 1000). */
  readonly recentAlerts?: number;
  /** Alert ids remembered for de-duplication (default 100,000; at least recentAlerts). */
  readonly alertDedupWindow?: number;
  /** Records per script call (default 500). */
  readonly writeBatch?: number;
  readonly redisConnectionName?: string;
}

export function predictionCacheOptions(config: Config): PredictionCacheOptions {
  return {
    redisUrl: config.redis.url,
    prefix: config.featureStore.redisPrefix,
    historyPerEntity: config.api.historyPerEntity,
    writeBatch: config.featureStore.writeBatch,
  };
}

export interface CacheKeys {
  readonly history: string;
  readonly values: string;
}

export function predictionKeys(prefix: string, service: string, entityId: string): CacheKeys {
  return {
    history: `${prefix}pred:ts:${service}:${entityId}`,
    values: `${prefix}pred:v:${service}:${entityId}`,
  };
}

export const predictionCountsKey = (prefix: string): string => `${prefix}pred:counts`;

export function alertKeys(prefix: string): { ids: string; data: string; counts: string } {
  return { ids: `${prefix}alert:ids`, data: `${prefix}alert:data`, counts: `${prefix}alert:counts` };
}

/** Rejects what the cache cannot index, before anything is written. */
export function checkPrediction(p: Prediction): void {
  if (!p.service || !p.entity_id)
    throw recordError('MISSING_FIELD', 'prediction without service or entity_id', {
      service: p.service,
      entity_id: p.entity_id,
    });
  if (!Number.isSafeInteger(p.event_time) || !Number.isSafeInteger(p.predicted_at))
    throw recordError('NOT_FINITE', `prediction of ${p.service}/${p.entity_id}: times must be integer ms`, {
      event_time: p.event_time,
      predicted_at: p.predicted_at,
    });
}

export function checkAlert(a: Alert): void {
  if (!a.alert_id || !a.rule || !a.severity)
    throw recordError('MISSING_FIELD', 'alert without alert_id, rule or severity', { alert_id: a.alert_id });
  if (!Number.isSafeInteger(a.raised_at))
    throw recordError('NOT_FINITE', `alert ${a.alert_id}: raised_at must be integer ms`, {
      raised_at: a.raised_at,
    });
}

/**
 * The stored JSON, fields in schema order whatever order the caller built the object in: the write script compares
 * stored and incoming text to recognise a re-delivery.
 */
export function encodePrediction(p: Prediction): string {
  return JSON.stringify({
    service: p.service,
    entity_id: p.entity_id,
    entity_type: p.entity_type,
    prediction: p.prediction,
    lower: p.lower,
    upper: p.upper,
    horizon: p.horizon,
    model_versions: p.model_versions,
    feature_snapshot_at: p.feature_snapshot_at,
    inference_latency_us: p.inference_latency_us,
    predicted_at: p.predicted_at,
    event_time: p.event_time,
    details: p.details,
  });
}

export function encodeAlert(a: Alert): string {
  return JSON.stringify({
    alert_id: a.alert_id,
    rule: a.rule,
    severity: a.severity,
    entity_id: a.entity_id,
    service: a.service,
    message: a.message,
    value: a.value,
    threshold: a.threshold,
    raised_at: a.raised_at,
    event_time: a.event_time,
  });
}

function replyText(r: RedisReply | undefined): string | null {
  if (typeof r === 'string') return r;
  if (Buffer.isBuffer(r)) return r.toString('utf8');
  return null;
}

/** Stored JSON back to records; entries that do not parse (written by hand, truncated) are left out. */
export function decodeStored<T>(replies: readonly RedisReply[]): T[] {
  const out: T[] = [];
  for (const r of replies) {
    const text = replyText(r);
    if (text === null) continue;
    try {
      out.push(JSON.parse(text) as T);
    } catch {
      // not ours: skip
    }
  }
  return out;
}

// KEYS[1]: the counts hash; KEYS[2i], KEYS[2i+1]: history and values of prediction i. ARGV[1]: history size;
// ARGV[4i-2 .. 4i+1]: service, event_time, predicted_at, JSON of prediction i.
// - a known (entity, event_time) with the same JSON is a re-delivery: nothing changes;
// - with other JSON the event was predicted again (a new model, a replay after a fix): the later predicted_at wins,
//   the entry is replaced and not counted again;
// - a new event older than everything in a full history would be trimmed at once: skipped, so a re-delivery of an
//   entry trimmed long ago is not counted twice;
// - otherwise it is added and counted, and the oldest entries beyond the size are dropped from both structures.
export const WRITE_PREDICTIONS = defineScript(`
local max = tonumber(ARGV[1])
local counts = KEYS[1]
local added = 0
for i = 1, (#KEYS - 1) / 2 do
  local zkey, hkey = KEYS[2 * i], KEYS[2 * i + 1]
  local a = 4 * i - 2
  local service, et, pat, json = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3]
  local cur = redis.call('HGET', hkey, et)
  if cur then
    if cur ~= json then
      local ok, old = pcall(cjson.decode, cur)
      local oldPat = ok and type(old) == 'table' and tonumber(old['predicted_at']) or nil
      if oldPat == nil or pat >= oldPat then redis.call('HSET', hkey, et, json) end
    end
  else
    local card = redis.call('ZCARD', zkey)
    local skip = false
    if card >= max then
      local lowest = redis.call('ZRANGE', zkey, 0, 0, 'WITHSCORES')
      if lowest[2] and tonumber(et) < tonumber(lowest[2]) then skip = true end
    end
    if not skip then
      redis.call('ZADD', zkey, et, et)
      redis.call('HSET', hkey, et, json)
      redis.call('HINCRBY', counts, service, 1)
      added = added + 1
      local over = card + 1 - max
      if over > 0 then
        local old = redis.call('ZRANGE', zkey, 0, over - 1)
        redis.call('ZREMRANGEBYRANK', zkey, 0, over - 1)
        for j = 1, #old, 500 do
          redis.call('HDEL', hkey, unpack(old, j, math.min(j + 499, #old)))
        end
      end
    end
  end
end
return added
`);

// KEYS: ids, data, counts. ARGV[1]: alerts kept with their data; ARGV[2]: ids remembered; ARGV[5i-2 .. 5i+2]:
// alert_id, raised_at, rule, severity, JSON of alert i. An id already remembered is a re-delivery. A new id is
// counted and indexed; its data is kept only if it ranks among the newest `keep`, and the id it pushes out of that
// window loses its data (inserting one id moves exactly one out of the top `keep`).
export const WRITE_ALERTS = defineScript(`
local ids, data, counts = KEYS[1], KEYS[2], KEYS[3]
local keep, remember = tonumber(ARGV[1]), tonumber(ARGV[2])
local added = 0
for a = 3, #ARGV, 5 do
  local id, raised, rule, severity, json = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  if not redis.call('ZSCORE', ids, id) then
    redis.call('ZADD', ids, raised, id)
    redis.call('HINCRBY', counts, rule .. '|' .. severity, 1)
    added = added + 1
    local card = redis.call('ZCARD', ids)
    local rank = redis.call('ZREVRANK', ids, id)
    if rank < keep then
      redis.call('HSET', data, id, json)
      if card > keep then
        local out = redis.call('ZREVRANGE', ids, keep, keep)
        if out[1] then redis.call('HDEL', data, out[1]) end
      end
    end
    if card > remember then redis.call('ZREMRANGEBYRANK', ids, 0, card - remember - 1) end
  end
end
return added
`);

// KEYS: history, values. ARGV: max score, min score, limit. Newest first.
export const READ_RANGE = defineScript(`
local ets = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for j = 1, #ets, 500 do
  local part = redis.call('HMGET', KEYS[2], unpack(ets, j, math.min(j + 499, #ets)))
  for _, v in ipairs(part) do out[#out + 1] = v end
end
return out
`);

// KEYS: ids, data. ARGV[1]: how many of the newest ids. Newest first; ids without data are left out.
export const READ_ALERTS = defineScript(`
local ids = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local out = {}
for j = 1, #ids, 500 do
  local part = redis.call('HMGET', KEYS[2], unpack(ids, j, math.min(j + 499, #ids)))
  for _, v in ipairs(part) do if v then out[#out + 1] = v end end
end
return out
`);

/** The script calls that store a batch of predictions, at most `batch` per call. */
export function planPredictionWrites(
  prefix: string,
  predictions: readonly Prediction[],
  historyPerEntity: number,
  batch: number,
): RedisCommand[] {
  const calls: RedisCommand[] = [];
  for (let i = 0; i < predictions.length; i += batch) {
    const keys = [predictionCountsKey(prefix)];
    const args: string[] = [String(historyPerEntity)];
    for (const p of predictions.slice(i, i + batch)) {
      const k = predictionKeys(prefix, p.service, p.entity_id);
      keys.push(k.history, k.values);
      args.push(p.service, String(p.event_time), String(p.predicted_at), encodePrediction(p));
    }
    calls.push(scriptCall(WRITE_PREDICTIONS, keys, args));
  }
  return calls;
}

export function planAlertWrites(
  prefix: string,
  alerts: readonly Alert[],
  keep: number,
  remember: number,
  batch: number,
): RedisCommand[] {
  const k = alertKeys(prefix);
  const calls: RedisCommand[] = [];
  for (let i = 0; i < alerts.length; i += batch) {
    const args: string[] = [String(keep), String(remember)];
    for (const a of alerts.slice(i, i + batch))
      args.push(a.alert_id, String(a.raised_at), a.rule, a.severity, encodeAlert(a));
    calls.push(scriptCall(WRITE_ALERTS, [k.ids, k.data, k.counts], args));
  }
  return calls;
}

/** An HGETALL reply to numbers: a flat field, value list, or the object ioredis turns it into. */
export function decodeCountHash(
  reply: RedisReply | Readonly<Record<string, string>> | undefined,
): Record<string, number> {
  const out: Record<string, number> = {};
  if (reply !== null && typeof reply === 'object' && !Array.isArray(reply) && !Buffer.isBuffer(reply)) {
    for (const [field, value] of Object.entries(reply)) {
      const n = Number(value);
      if (Number.isFinite(n)) out[field] = n;
    }
    return out;
  }
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const field = replyText(reply[i]);
    const n = Number(replyText(reply[i + 1]));
    if (field !== null && Number.isFinite(n)) out[field] = n;
  }
  return out;
}

/** `<rule>|<severity>` counters to totals per rule and per severity (a rule name may itself contain '|'). */
export function alertCountsFrom(pairs: Readonly<Record<string, number>>): AlertCounts {
  const bySeverity: Record<string, number> = {};
  const byRule: Record<string, number> = {};
  let total = 0;
  for (const [field, n] of Object.entries(pairs)) {
    const cut = field.lastIndexOf('|');
    const rule = cut < 0 ? field : field.slice(0, cut);
    const severity = cut < 0 ? '' : field.slice(cut + 1);
    byRule[rule] = (byRule[rule] ?? 0) + n;
    bySeverity[severity] = (bySeverity[severity] ?? 0) + n;
    total += n;
  }
  return { total, bySeverity, byRule };
}

const sum = (replies: readonly RedisReply[]): number =>
  replies.reduce<number>((acc, r) => acc + (typeof r === 'number' ? r : 0), 0);

/** A cache on the Redis client given, or on a connection of its own (closed by close()). */
export function createPredictionCache(
  options: PredictionCacheOptions,
  client?: RedisClient,
): PredictionCache {
  const redis =
    client ??
    createRedisClient(
      options.redisUrl,
      options.redisConnectionName === undefined ? {} : { connectionName: options.redisConnectionName },
    );
  const prefix = options.prefix ?? 'ts:';
  const history = options.historyPerEntity ?? 500;
  const keep = options.recentAlerts ?? 1000;
  const remember = Math.max(keep, options.alertDedupWindow ?? 100_000);
  const batch = options.writeBatch ?? 500;
  const ak = alertKeys(prefix);

  async function range(service: string, entityId: string, query: RangeQuery = {}): Promise<Prediction[]> {
    const k = predictionKeys(prefix, service, entityId);
    const max = query.to === undefined ? '+inf' : String(query.to);
    const min = query.from === undefined ? '-inf' : String(query.from);
    const [reply] = await redis.pipeline([
      scriptCall(READ_RANGE, [k.history, k.values], [max, min, String(query.limit ?? 100)]),
    ]);
    return decodeStored<Prediction>(Array.isArray(reply) ? reply : []);
  }

  return {
    async write(predictions) {
      if (predictions.length === 0) return 0;
      predictions.forEach(checkPrediction);
      return sum(await redis.pipeline(planPredictionWrites(prefix, predictions, history, batch)));
    },

    async writeAlerts(alerts) {
      if (alerts.length === 0) return 0;
      alerts.forEach(checkAlert);
      return sum(await redis.pipeline(planAlertWrites(prefix, alerts, keep, remember, batch)));
    },

    async latest(service, entityId) {
      const [found] = await range(service, entityId, { limit: 1 });
      return found;
    },

    range,

    async recentAlerts(query = {}) {
      const [reply] = await redis.pipeline([scriptCall(READ_ALERTS, [ak.ids, ak.data], [String(keep)])]);
      const limit = query.limit ?? 50;
      const out: Alert[] = [];
      for (const a of decodeStored<Alert>(Array.isArray(reply) ? reply : [])) {
        if (query.severity !== undefined && a.severity !== query.severity) continue;
        if (query.rule !== undefined && a.rule !== query.rule) continue;
        out.push(a);
        if (out.length >= limit) break;
      }
      return out;
    },

    async counts() {
      const [predictions, alerts] = await redis.pipeline([
        command('hgetall', predictionCountsKey(prefix)),
        command('hgetall', ak.counts),
      ]);
      return {
        predictions: decodeCountHash(predictions),
        alerts: alertCountsFrom(decodeCountHash(alerts)),
      };
    },

    async ping() {
      await redis.pipeline([command('ping')]);
    },

    async close() {
      if (client === undefined) await redis.close();
    },
  };
}

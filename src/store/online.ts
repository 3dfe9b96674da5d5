// The online feature store on Redis: the latest value per entity and feature, newest by event time, for serving;
// and, for the features serving reads as of an event (OnlineVersions), their recent values by event time.
// Layout: hash `<prefix>feat:<entity_id>`, field `<feature_name>|<window>` ('' window for per-event features),
// value `<timestamp ms>:<value>`. The hash expires `ttlSeconds` after the last write that changed it.
// Versions: sorted set `<prefix>asof:<entity_id>#<field>`, score the event time, member `<timestamp ms>:<value>`,
// one member per event time (a later write at the same time replaces it, as the MySQL upsert does).
//
// Why versions. The hash holds the latest value only, so a reader that is behind the writer (serving during a
// backlog, or on a busy box) reads values newer than its event: not what training read for the same event from the
// offline log (as of the event time). A point-in-time read of the versions gives exactly the offline log's answer
// for any time within the horizon, whatever the reader's lag. The sets stay small: values older than the horizon
// before the newest go, except the newest of them (the answer for a time just inside the horizon), and at most
// maxVersions stay.
import {
  command,
  defineScript,
  scriptCall,
  type RedisClient,
  type RedisCommand,
  type RedisReply,
} from '../io/redis/client.ts';
import type { FeatureVector } from '../schemas/types.ts';
import { columnName, type FeatureRef } from '../features/keys.ts';

export interface OnlineValue {
  /** Event time of the value, ms since epoch. */
  readonly timestamp: number;
  readonly value: number;
}

export function entityKey(prefix: string, entityId: string): string {
  return `${prefix}feat:${entityId}`;
}

export function featureField(name: string, window: string | null | undefined): string {
  return `${name}|${window ?? ''}`;
}

export function encodeValue(v: OnlineValue): string {
  return `${v.timestamp}:${v.value}`;
}

/** The stored string back to a value; null for a missing field or anything that does not parse (treated as missing). */
export function decodeValue(s: string | null | undefined): OnlineValue | null {
  if (s === null || s === undefined) return null;
  const colon = s.indexOf(':');
  if (colon <= 0 || colon === s.length - 1) return null;
  const timestamp = Number(s.slice(0, colon));
  const value = Number(s.slice(colon + 1));
  if (!Number.isSafeInteger(timestamp) || Number.isNaN(value)) return null;
  return { timestamp, value };
}

/**
 * The write rule the Lua script applies: an incoming value replaces the stored one when its event time is at or
 * after the stored one's. Out-of-order and replayed older values never overwrite a newer one; at an equal time the
 * later write wins, as the MySQL upsert does for the same (entity, feature, window, timestamp) row.
 */
export function takesOver(incoming: OnlineValue, current: OnlineValue | null): boolean {
  return current === null || incoming.timestamp >= current.timestamp;
}

/** The online state after applying `values` in order with `takesOver`: what the script must leave behind. */
export function foldNewest(values: readonly OnlineValue[]): OnlineValue | null {
  return values.reduce<OnlineValue | null>((cur, v) => (takesOver(v, cur) ? v : cur), null);
}

// ARGV[1]: TTL in seconds; ARGV[2]: the versions' horizon (ms of event time before a set's newest); ARGV[3]: at most
// this many versions per set; ARGV[4]: m, the entity hashes in this call. KEYS[1..m]: the hashes, each once; the
// versions sets follow them. ARGV[4 + j]: hash j's values in the call's order, as a JSON array of triples: field,
// '<timestamp>:<value>', and the KEYS index of the value's versions set (0: not versioned). One key and one argument
// per entity, not four arguments per value: a feature row is one entity, and the client's work per argument (ioredis
// converts each) was the largest share of the sink's allocations.
// Per hash, one HMGET of the fields it is written, the values folded over them in order, one HSET of those that
// changed: the same result as applying the values one by one (a later value of the same field sees the earlier).
// The hash mirrors takesOver(); a stored value that does not parse counts as missing, as in decodeValue(). A version
// is kept whether or not it is the newest (an out-of-order value is still the answer as of its time). Every set a
// call wrote to is trimmed at its end (five commands on the server per set and call, not per value): trimmed on
// every write, what a set holds depends only on the values written to it, never on how they were batched, so two
// runs over the same input answer a late reader alike (an earlier trim every 32 versions did not:
// test/security/secure-pipeline.integration.test.ts compares a plain and a secure run's predictions).
export const WRITE_SCRIPT = defineScript(`
local ttl = ARGV[1]
local horizon = tonumber(ARGV[2])
local maxVersions = tonumber(ARGV[3])
local m = tonumber(ARGV[4])
local versioned = {}
local written = 0
local function tsOf(enc)
  if not enc then return nil end
  return tonumber(string.match(enc, '^([^:]+):'))
end
for j = 1, m do
  local key = KEYS[j]
  local vals = cjson.decode(ARGV[4 + j])
  local fields, seen = {}, {}
  for i = 1, #vals, 3 do
    local field = vals[i]
    if not seen[field] then
      seen[field] = true
      fields[#fields + 1] = field
    end
  end
  local stored = redis.call('HMGET', key, unpack(fields))
  local cur, changed = {}, {}
  for k = 1, #fields do
    if stored[k] then cur[fields[k]] = stored[k] end
  end
  for i = 1, #vals, 3 do
    local field, enc, v = vals[i], vals[i + 1], vals[i + 2]
    local newTs = tsOf(enc)
    local curTs = tsOf(cur[field])
    if not (curTs and newTs and newTs < curTs) then
      cur[field] = enc
      changed[field] = true
      written = written + 1
    end
    if v > 0 and newTs then
      local vkey = KEYS[v]
      redis.call('ZREMRANGEBYSCORE', vkey, newTs, newTs)
      redis.call('ZADD', vkey, newTs, enc)
      versioned[vkey] = true
    end
  end
  local set = {}
  for k = 1, #fields do
    local field = fields[k]
    if changed[field] then
      set[#set + 1] = field
      set[#set + 1] = cur[field]
    end
  end
  if #set > 0 then
    redis.call('HSET', key, unpack(set))
    redis.call('EXPIRE', key, ttl)
  end
end
for vkey in pairs(versioned) do
  local newest = tonumber(redis.call('ZRANGE', vkey, -1, -1, 'WITHSCORES')[2])
  local older = redis.call('ZREVRANGEBYSCORE', vkey, '(' .. (newest - horizon), '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if older[2] then redis.call('ZREMRANGEBYSCORE', vkey, '-inf', '(' .. older[2]) end
  if redis.call('ZCARD', vkey) > maxVersions then redis.call('ZREMRANGEBYRANK', vkey, 0, -(maxVersions + 1)) end
  redis.call('EXPIRE', vkey, ttl)
end
return written
`);

/**
 * Which features keep versions for point-in-time reads, for how long and how many. A version is a value with its
 * event time; a set keeps those within `horizonMs` of event time before its newest, the newest before that, and at
 * most `maxVersions`.
 */
export interface OnlineVersions {
  /** Column names (`name@window`, src/features/keys.ts columnName) that keep versions. */
  readonly columns: ReadonlySet<string>;
  readonly horizonMs: number;
  readonly maxVersions: number;
}

export function versionKey(prefix: string, entityId: string, field: string): string {
  return `${prefix}asof:${entityId}#${field}`;
}

/** Whether `versions` keeps versions of a feature: by its column name. */
function isVersioned(
  versions: OnlineVersions | undefined,
  name: string,
  window: string | null | undefined,
): boolean {
  return versions !== undefined && versions.columns.has(columnName({ name, window: window ?? '' }));
}

export interface WriteCall {
  readonly keys: string[];
  readonly args: string[];
}

/**
 * Splits a batch into script calls of at most `batch` values each, in order (keeps each call short on the server;
 * a later call's values land after an earlier call's). Within a call, values are grouped by entity, each entity's in
 * their order: the script's result is the same as applying the call's values one by one.
 */
export function planWrites(
  prefix: string,
  features: readonly FeatureVector[],
  ttlSeconds: number,
  batch: number,
  versions?: OnlineVersions,
): WriteCall[] {
  const calls: WriteCall[] = [];
  const head = [String(ttlSeconds), String(versions?.horizonMs ?? 0), String(versions?.maxVersions ?? 0)];
  for (let i = 0; i < features.length; i += batch) {
    const end = Math.min(features.length, i + batch);
    // Per entity, its values as flat triples (field, encoded value, versions index), in order of first appearance.
    const entities = new Map<string, (string | number)[]>();
    const versionKeys: string[] = [];
    const versionIndex = new Map<string, number>();
    for (let k = i; k < end; k++) {
      const f = features[k]!;
      const field = featureField(f.feature_name, f.window);
      let v = 0;
      if (isVersioned(versions, f.feature_name, f.window)) {
        const key = versionKey(prefix, f.entity_id, field);
        let at = versionIndex.get(key);
        if (at === undefined) {
          versionKeys.push(key);
          versionIndex.set(key, (at = versionKeys.length));
        }
        v = -at; // made a KEYS index below, once the number of entities is known
      }
      let values = entities.get(f.entity_id);
      if (!values) entities.set(f.entity_id, (values = []));
      values.push(field, encodeValue({ timestamp: f.timestamp, value: f.feature_value }), v);
    }
    const m = entities.size;
    const keys: string[] = [];
    const args = [...head, String(m)];
    for (const [entity, values] of entities) {
      keys.push(entityKey(prefix, entity));
      for (let k = 2; k < values.length; k += 3) if (values[k] !== 0) values[k] = m - (values[k] as number);
      args.push(JSON.stringify(values));
    }
    for (const key of versionKeys) keys.push(key);
    calls.push({ keys, args });
  }
  return calls;
}

/**
 * One HMGET per entity, all fields of `refs` in order, sent as one pipeline: one round trip. A single Lua call doing
 * the HMGETs was measured too (1,000 x 20): faster for the client (p50 13 vs 22 ms, less ioredis work per command)
 * but it holds the Redis thread ~7 ms per read, while the pipeline's 1,000 HMGETs cost ~3.5 ms in total and let
 * other clients in between. Redis is shared with the prediction cache and the API, so: pipeline.
 */
export function planReads(
  prefix: string,
  entityIds: readonly string[],
  refs: readonly FeatureRef[],
): RedisCommand[] {
  const fields = refs.map((r) => featureField(r.name, r.window));
  return entityIds.map((id) => command('hmget', entityKey(prefix, id), ...fields));
}

/** A reply's string (a bulk string arrives as a string or a Buffer); null for anything else. */
const replyText = (r: RedisReply | undefined): string | null =>
  typeof r === 'string' ? r : Buffer.isBuffer(r) ? r.toString('utf8') : null;

/** HMGET replies to values: rows[i][j] for entity i and ref j, null where missing. */
export function decodeReads(replies: readonly RedisReply[], refCount: number): (OnlineValue | null)[][] {
  return replies.map((reply) => {
    const fields = Array.isArray(reply) ? reply : [];
    return Array.from({ length: refCount }, (_, j) => decodeValue(replyText(fields[j])));
  });
}

/** A point-in-time read: an entity as of an event time (ms). */
export interface AsOfPoint {
  readonly entityId: string;
  readonly time: number;
}

/** The points of one entity in a point read: its earliest and latest time. */
interface EntitySpan {
  readonly entityId: string;
  readonly min: number;
  readonly max: number;
}

function spansOf(points: readonly AsOfPoint[]): EntitySpan[] {
  const spans = new Map<string, { entityId: string; min: number; max: number }>();
  for (const p of points) {
    const s = spans.get(p.entityId);
    if (!s) spans.set(p.entityId, { entityId: p.entityId, min: p.time, max: p.time });
    else {
      s.min = Math.min(s.min, p.time);
      s.max = Math.max(s.max, p.time);
    }
  }
  return [...spans.values()];
}

const versionedRefs = (refs: readonly FeatureRef[], versions: OnlineVersions | undefined): number[] =>
  refs.flatMap((r, j) => (isVersioned(versions, r.name, r.window) ? [j] : []));

/**
 * A point read's commands, per entity (however many of the points name it): the HMGET of `planReads`, then for each
 * ref with versions the newest version at or before the entity's earliest time and, when its points span a time,
 * the versions after that up to its latest (a micro-batch's rentals of one class are one entity, not one read each).
 */
export function planAsOfReads(
  prefix: string,
  points: readonly AsOfPoint[],
  refs: readonly FeatureRef[],
  versions: OnlineVersions | undefined,
): RedisCommand[] {
  const fields = refs.map((r) => featureField(r.name, r.window));
  const versioned = versionedRefs(refs, versions);
  return spansOf(points).flatMap((e) => [
    command('hmget', entityKey(prefix, e.entityId), ...fields),
    ...versioned.flatMap((j) => {
      const key = versionKey(prefix, e.entityId, fields[j]!);
      return [
        command('zrevrangebyscore', key, e.min, '-inf', 'LIMIT', 0, 1),
        ...(e.max > e.min ? [command('zrangebyscore', key, `(${e.min}`, e.max)] : []),
      ];
    }),
  ]);
}

/**
 * Replies of planAsOfReads to values, one row per point: a ref with versions takes the newest version at or before
 * the point's time; with none there (the set expired, or never had one: a value refilled from the offline log) it
 * takes the latest value, as a ref without versions does. A value newer than the point's time is what the reader
 * sees as read ahead of it.
 */
export function decodeAsOfReads(
  replies: readonly RedisReply[],
  points: readonly AsOfPoint[],
  refs: readonly FeatureRef[],
  versions: OnlineVersions | undefined,
): (OnlineValue | null)[][] {
  const versioned = versionedRefs(refs, versions);
  // Per entity: its latest values, and per versioned ref its versions in ascending time.
  const byEntity = new Map<string, { latest: (OnlineValue | null)[]; versions: OnlineValue[][] }>();
  let at = 0;
  for (const e of spansOf(points)) {
    const [latest] = decodeReads([replies[at++] ?? null], refs.length);
    const lists = versioned.map(() => {
      const first = replies[at++];
      const before = Array.isArray(first) ? decodeValue(replyText(first[0])) : null;
      const list = before === null ? [] : [before];
      if (e.max > e.min) {
        const after = replies[at++];
        for (const m of Array.isArray(after) ? after : []) {
          const v = decodeValue(replyText(m));
          if (v !== null) list.push(v);
        }
      }
      return list;
    });
    byEntity.set(e.entityId, { latest: latest!, versions: lists });
  }
  return points.map((p) => {
    const e = byEntity.get(p.entityId)!;
    const row = [...e.latest];
    versioned.forEach((j, k) => {
      const list = e.versions[k]!;
      // The last version at or before the time (the list is short: the entity's versions within its points' span).
      let found: OnlineValue | null = null;
      for (const v of list) if (v.timestamp <= p.time) found = v;
      if (found !== null) row[j] = found;
    });
    return row;
  });
}

export interface OnlineStoreOptions {
  readonly prefix: string;
  readonly ttlSeconds: number;
  /** Values per script call. */
  readonly writeBatch: number;
  /** Features that keep versions for point-in-time reads (none: latest values only). */
  readonly versions?: OnlineVersions;
}

export interface OnlineStore {
  /** One round trip for the whole batch; returns how many values took over (newer or equal event time). */
  write(features: readonly FeatureVector[]): Promise<number>;
  /**
   * Whether this store's marker key is there: written once the store is known complete (markFilled), gone when
   * Redis came back empty (a restart without persistence, a flush): then the online values must be refilled.
   */
  isFilled(): Promise<boolean>;
  markFilled(): Promise<void>;
  /** Latest values for every entity and ref in one round trip; null where missing or expired. */
  read(entityIds: readonly string[], refs: readonly FeatureRef[]): Promise<(OnlineValue | null)[][]>;
  /**
   * Values as of each point's time, in one round trip: for refs with versions, the newest at or before the time
   * (decodeAsOfReads); for the others, the latest.
   */
  readAsOf(points: readonly AsOfPoint[], refs: readonly FeatureRef[]): Promise<(OnlineValue | null)[][]>;
}

/** The marker key of a store: no TTL, so it goes only with Redis's data. */
export const filledKey = (prefix: string): string => `${prefix}online:filled`;

export function createOnlineStore(redis: RedisClient, options: OnlineStoreOptions): OnlineStore {
  return {
    async isFilled() {
      const [n] = await redis.pipeline([command('exists', filledKey(options.prefix))]);
      return Number(n) === 1;
    },
    async markFilled() {
      await redis.pipeline([command('set', filledKey(options.prefix), new Date().toISOString())]);
    },
    async write(features) {
      if (features.length === 0) return 0;
      const calls = planWrites(
        options.prefix,
        features,
        options.ttlSeconds,
        options.writeBatch,
        options.versions,
      );
      const replies = await redis.pipeline(calls.map((c) => scriptCall(WRITE_SCRIPT, c.keys, c.args)));
      return replies.reduce<number>((n, r) => n + Number(r), 0);
    },
    async read(entityIds, refs) {
      if (entityIds.length === 0) return [];
      if (refs.length === 0) return entityIds.map(() => []);
      return decodeReads(await redis.pipeline(planReads(options.prefix, entityIds, refs)), refs.length);
    },
    async readAsOf(points, refs) {
      if (points.length === 0) return [];
      if (refs.length === 0) return points.map(() => []);
      const replies = await redis.pipeline(planAsOfReads(options.prefix, points, refs, options.versions));
      return decodeAsOfReads(replies, points, refs, options.versions);
    },
  };
}

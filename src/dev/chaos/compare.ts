// What a run produced, and how two runs differ. A snapshot holds every output of a run, each as identity -> values
// (one value per occurrence): every output topic read to its end (read_committed), ml_feature_store,
// id_transactions, id_item_master and the online store in Redis. Names that contain the run's namespace are written
// with `<ns>`, so that the outputs of two namespaces compare. The comparison per identity: values that match pair
// off; of the rest, as many as both sides have are mismatched (same identity, another value), the reference's
// surplus is lost, the run's surplus duplicated.
import { PROGRESS_ENTITY_TYPE, isProgressRow } from '../../features/progress-rows.ts';
import { createHash } from 'node:crypto';
import type { Config } from '../../../config/schema.ts';
import { cleanTopic, dlqTopic, lateTopic } from '../../../config/topics.ts';
import type { KafkaAdmin, KafkaClient } from '../../io/kafka/client.ts';
import { createSql } from '../../io/mysql/pool.ts';
import { command, createRedisClient } from '../../io/redis/client.ts';
import { AvroSerde, confluentRegistry } from '../../io/registry/registry.ts';
import { HEADER_BYTES, MAGIC_BYTE } from '../../io/registry/wire.ts';
import { restoreChangelogs } from '../../runtime/restore.ts';
import type { ClassEvent, DeadLetter, FeatureRow, LateRecord } from '../../schemas/types.ts';
import { progressKind } from '../../features/class-events.ts';
import { isPoisonKey } from './poison.ts';

/** identity -> one value per occurrence. */
export type Output = Map<string, string[]>;

export interface Snapshot {
  readonly outputs: Map<string, Output>;
  /** Values left out of the comparison per output (see `excludedFeature`). */
  readonly excluded: Map<string, number>;
}

export interface Diff {
  readonly output: string;
  readonly reference: number;
  readonly actual: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly mismatched: number;
  readonly examples: string[];
}

/**
 * Left out where runs may differ by design (docs/operations.md "Chaos"): the sliding 7-day window's rows and the
 * stock levels are stamped in the order records of several partitions reach the re-keyed class events, which
 * differs between runs (docs/architecture.md "State and fault tolerance"). Their window finals do not exist (the
 * sliding window sends updates only); every tumbling window's final is compared.
 */
const STOCK = new Set(['available_stock', 'items_out', 'items_in_repair']);
export const excludedFeature = (feature: string, window: string | null | undefined): boolean =>
  window === '7d' || STOCK.has(feature);

/** Numbers equal within 1e-9 relative: sums of prices added in another order differ in the last bits. */
export function sameValue(a: string, b: string): boolean {
  if (a === b) return true;
  const pa = a.split('|');
  const pb = b.split('|');
  if (pa.length !== pb.length) return false;
  return pa.every((x, i) => {
    const y = pb[i]!;
    if (x === y) return true;
    const [nx, ny] = [Number(x), Number(y)];
    return (
      x !== '' &&
      y !== '' &&
      Number.isFinite(nx) &&
      Number.isFinite(ny) &&
      Math.abs(nx - ny) <= 1e-9 * Math.max(1, Math.abs(nx))
    );
  });
}

/** Where two values differ: the fields that differ when both are JSON objects (or one-object arrays), else both. */
export function difference(reference: string, actual: string): string {
  const parse = (v: string): Record<string, unknown> | undefined => {
    try {
      const o: unknown = JSON.parse(v);
      const one = Array.isArray(o) && o.length === 1 ? (o[0] as unknown) : o;
      return one && typeof one === 'object' && !Array.isArray(one)
        ? (one as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  };
  const [r, a] = [parse(reference), parse(actual)];
  if (!r || !a) return `reference ${reference.slice(0, 200)} run ${actual.slice(0, 200)}`;
  const fields = [...new Set([...Object.keys(r), ...Object.keys(a)])].filter(
    (k) => JSON.stringify(r[k]) !== JSON.stringify(a[k]),
  );
  return fields
    .map((k) => `${k} ${JSON.stringify(r[k])} (reference) vs ${JSON.stringify(a[k])} (run)`)
    .join('; ');
}

export function compareOutput(output: string, reference: Output, actual: Output): Diff {
  let lost = 0;
  let duplicated = 0;
  let mismatched = 0;
  let nRef = 0;
  let nAct = 0;
  const examples: string[] = [];
  for (const id of new Set([...reference.keys(), ...actual.keys()])) {
    const r = [...(reference.get(id) ?? [])];
    const c = [...(actual.get(id) ?? [])];
    nRef += r.length;
    nAct += c.length;
    const restR: string[] = [];
    for (const v of r) {
      const i = c.findIndex((w) => sameValue(v, w));
      if (i >= 0) c.splice(i, 1);
      else restR.push(v);
    }
    const m = Math.min(restR.length, c.length);
    mismatched += m;
    lost += restR.length - m;
    duplicated += c.length - m;
    if ((restR.length || c.length) && examples.length < 5)
      examples.push(
        restR.length === 1 && c.length === 1
          ? `${id}: ${difference(restR[0]!, c[0]!)}`
          : `${id}: reference [${restR.join(', ')}] run [${c.join(', ')}]`.slice(0, 300),
      );
  }
  return { output, reference: nRef, actual: nAct, lost, duplicated, mismatched, examples };
}

export function compareSnapshots(reference: Snapshot, actual: Snapshot): Diff[] {
  const names = [...new Set([...reference.outputs.keys(), ...actual.outputs.keys()])];
  return names.map((n) =>
    compareOutput(n, reference.outputs.get(n) ?? new Map(), actual.outputs.get(n) ?? new Map()),
  );
}

const add = (out: Output, id: string, value = ''): void => {
  const list = out.get(id);
  if (list) list.push(value);
  else out.set(id, [value]);
};

/** Bytes as a short hash; a value in the wire format without its schema id (the two runs register their own). */
function digest(bytes: Buffer | null | undefined): string {
  if (!bytes) return 'null';
  const body = bytes.length >= HEADER_BYTES && bytes[0] === MAGIC_BYTE ? bytes.subarray(HEADER_BYTES) : bytes;
  return createHash('sha1').update(body).digest('hex').slice(0, 16);
}

const keyText = (k: Buffer | null | undefined): string => (k ? k.toString('utf8') : '');

/**
 * A class event's `origin` is `<clean topic>:<partition>:<offset>`; offsets in the job's own topics differ between
 * runs (an aborted transaction takes offsets), so the offset is left out (topic and partition stay).
 */
function withoutOffset(record: unknown): unknown {
  const r = record as { origin?: unknown };
  return typeof r.origin === 'string' ? { ...r, origin: r.origin.replace(/:\d+$/, '') } : record;
}

/** The output topics of a run and how each is read: every topic the job writes, its changelogs aside. */
export function outputTopics(
  config: Config,
): { name: string; topic: string; kind: 'row' | 'dead' | 'late' | 'record' }[] {
  const t = config.topics;
  const consumed = [
    t.scans,
    t.transactions,
    cleanTopic(t, t.scans),
    cleanTopic(t, t.transactions),
    t.classEvents,
    t.featuresRealtime,
    t.featuresWindowed,
  ];
  return [
    { name: 'clean scans', topic: cleanTopic(t, t.scans), kind: 'record' },
    { name: 'clean transactions', topic: cleanTopic(t, t.transactions), kind: 'record' },
    { name: 'class events', topic: t.classEvents, kind: 'record' },
    { name: 'features.realtime', topic: t.featuresRealtime, kind: 'row' },
    { name: 'features.windowed', topic: t.featuresWindowed, kind: 'row' },
    { name: 'late class events', topic: lateTopic(t, t.classEvents), kind: 'late' },
    ...consumed.map((c) => ({
      name: `dlq ${c.slice(t.namespace.length + 1)}`,
      topic: dlqTopic(t, c),
      kind: 'dead' as const,
    })),
  ];
}

interface Raw {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly partition: number;
}

/** Every record of the topics, read_committed, from the start to the end offsets of now. */
export async function readTopics(
  kafka: KafkaClient,
  admin: KafkaAdmin,
  topics: readonly string[],
): Promise<Map<string, Raw[]>> {
  const existing = new Set(await admin.listTopics());
  const out = new Map<string, Raw[]>(topics.map((t) => [t, []]));
  const targets = [];
  for (const topic of topics.filter((t) => existing.has(t)))
    targets.push({ topic, partitions: (await admin.topicOffsets(topic)).map((p) => p.partition) });
  await restoreChangelogs(
    kafka,
    admin,
    targets,
    (topic, partition, key, value) => out.get(topic)!.push({ key, value, partition }),
    600_000,
  );
  return out;
}

/** Poison records found in a run's topics: written by the garbage fault (and dead letters of them). */
export interface PoisonSeen {
  /** dead-letter topic -> dead letters of poison records in it */
  readonly deadLetters: Map<string, number>;
}

/** Reads a run's outputs; `ns` is its namespace (written `<ns>`). */
export async function snapshot(
  config: Config,
  kafka: KafkaClient,
  admin: KafkaAdmin,
): Promise<{ snapshot: Snapshot; poison: PoisonSeen }> {
  const ns = config.topics.namespace;
  const norm = (s: string): string => s.split(ns).join('<ns>');
  const serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
  const outputs = new Map<string, Output>();
  const excluded = new Map<string, number>();
  const poison: PoisonSeen = { deadLetters: new Map() };
  const specs = outputTopics(config);
  const raw = await readTopics(
    kafka,
    admin,
    specs.map((s) => s.topic),
  );
  for (const spec of specs) {
    const out: Output = new Map();
    outputs.set(`topic ${spec.name}`, out);
    let left = 0;
    for (const r of raw.get(spec.topic) ?? []) {
      // Written by the garbage fault into this topic, not an output (dead letters: by the key they carry, below).
      if (spec.kind !== 'dead' && isPoisonKey(r.key)) continue;
      let decoded: unknown;
      try {
        decoded = await serde.decode(r.value);
      } catch {
        add(out, `undecodable ${digest(r.value)}`);
        continue;
      }
      if (spec.kind === 'row') {
        const row = decoded as FeatureRow;
        for (const [feature, value] of Object.entries(row.features)) {
          // Progress rows follow batch boundaries, which differ between runs by design.
          if (isProgressRow(row)) {
            left++;
            continue;
          }
          if (excludedFeature(feature, row.window)) {
            left++;
            continue;
          }
          add(
            out,
            `${row.entity_type}|${row.entity_id}|${feature}|${row.window ?? ''}|${Number(row.timestamp)}`,
            String(value),
          );
        }
      } else if (spec.kind === 'dead') {
        const d = decoded as DeadLetter;
        if (isPoisonKey(d.key)) {
          poison.deadLetters.set(spec.topic, (poison.deadLetters.get(spec.topic) ?? 0) + 1);
          continue;
        }
        // Offsets of records in the job's own topics differ between runs (aborted transactions take offsets), and
        // so does the partition of a keyless source record (the producer's choice): key and bytes identify it.
        add(
          out,
          [norm(d.topic), keyText(d.key), digest(d.value), d.error_code, d.stage, norm(d.pipeline)].join('|'),
          norm(d.error_message),
        );
      } else if (spec.kind === 'late') {
        const l = decoded as LateRecord;
        add(
          out,
          [
            norm(l.topic),
            l.partition,
            keyText(l.key),
            digest(l.value),
            Number(l.event_time),
            Number(l.window_size_ms),
          ].join('|'),
          `${Number(l.watermark)}|${Number(l.lateness_ms)}`,
        );
      } else {
        // Progress markers on class-events are sent as batches end, so how many there are depends on timing.
        if (spec.topic === config.topics.classEvents && progressKind(decoded as ClassEvent)) continue;
        add(out, `${r.partition}|${keyText(r.key)}|${norm(JSON.stringify(withoutOffset(decoded)))}`);
      }
    }
    if (left) excluded.set(`topic ${spec.name}`, left);
  }
  await readTables(config, outputs, excluded);
  await readOnline(config, outputs, excluded);
  return { snapshot: { outputs, excluded }, poison };
}

async function readTables(
  config: Config,
  outputs: Map<string, Output>,
  excluded: Map<string, number>,
): Promise<void> {
  const sql = createSql(config.mysql.url);
  const time = (d: Date | null): string => (d === null ? '' : String(d.getTime()));
  try {
    const features: Output = new Map();
    let left = 0;
    for (const r of await sql.query<{ e: string; f: string; w: string; t: Date; v: number; ty: string }>(
      'SELECT target_entity e, feature_name f, window_name w, feature_timestamp t, feature_value v, entity_type ty FROM ml_feature_store',
    )) {
      if (excludedFeature(r.f, r.w)) left++;
      else add(features, `${r.ty}|${r.e}|${r.f}|${r.w}|${time(r.t)}`, String(r.v));
    }
    outputs.set('table ml_feature_store', features);
    if (left) excluded.set('table ml_feature_store', left);

    // A scan's Kafka position in the clean topic differs between runs: compared by content.
    const scans: Output = new Map();
    for (const r of await sql.query<Record<string, unknown>>(
      'SELECT tag_id, rental_class_num, scan_type, scan_date, reader_id, store_id, quality_grade, notes FROM id_transactions',
    ))
      add(scans, JSON.stringify({ ...r, scan_date: time(r['scan_date'] as Date) }));
    outputs.set('table id_transactions', scans);

    const items: Output = new Map();
    for (const r of await sql.query<Record<string, unknown>>('SELECT * FROM id_item_master'))
      add(
        items,
        String(r['tag_id']),
        JSON.stringify(r, (_, v: unknown) => (v instanceof Date ? v.getTime() : v)),
      );
    outputs.set('table id_item_master', items);
  } finally {
    await sql.end();
  }
}

async function readOnline(
  config: Config,
  outputs: Map<string, Output>,
  excluded: Map<string, number>,
): Promise<void> {
  const prefix = `${config.featureStore.redisPrefix}feat:`;
  const redis = createRedisClient(config.redis.url, { maxRetriesPerRequest: 3 });
  const online: Output = new Map();
  let left = 0;
  try {
    let cursor = '0';
    do {
      const [[next, keys]] = (await redis.pipeline([
        command('scan', cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000),
      ])) as [[string, string[]]];
      cursor = next;
      for (const key of keys) {
        const entity = key.slice(prefix.length);
        // The feature-store sink's progress (src/features/progress-rows.ts) names the run's topics and follows its
        // batches: not a feature.
        if (entity.startsWith(`${PROGRESS_ENTITY_TYPE}|`)) continue;
        // ioredis turns an HGETALL reply into an object; a flat [field, value, ...] array is read too.
        const [reply] = (await redis.pipeline([command('hgetall', key)])) as [
          string[] | Record<string, string>,
        ];
        const hash: Record<string, string> = Array.isArray(reply)
          ? Object.fromEntries(reply.flatMap((v, i) => (i % 2 === 0 ? [[v, reply[i + 1] ?? '']] : [])))
          : reply;
        for (const [field, enc] of Object.entries(hash)) {
          const [feature = '', window = ''] = field.split('|');
          if (excludedFeature(feature, window)) {
            left++;
            continue;
          }
          // `<event time>:<value>`
          const i = enc.indexOf(':');
          add(online, `${entity}|${field}`, `${enc.slice(0, i)}|${enc.slice(i + 1)}`);
        }
      }
    } while (cursor !== '0');
  } finally {
    await redis.close();
  }
  outputs.set('redis online store', online);
  if (left) excluded.set('redis online store', left);
}

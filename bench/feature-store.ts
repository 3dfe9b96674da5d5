// `npm run bench:store`: feature store throughput on the real MariaDB and Redis. Writes N feature values (MySQL
// upsert + Redis script, as in production), reads a 1,000 x 20 matrix repeatedly, and builds a training frame;
// `--compare-asof` also times the correlated-subquery alternative to offline.ts's chunked merge.
// Uses a throwaway database (tagstream_bench_<id>) and Redis prefix, both removed at the end.
import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import { Redis } from 'ioredis';
import { loadConfig } from '../config/load.ts';
import { migrate } from '../src/io/mysql/migrate.ts';
import { createSql, splitDatabase, withDatabase } from '../src/io/mysql/pool.ts';
import { createRedisClient } from '../src/io/redis/client.ts';
import type { FeatureVector } from '../src/schemas/types.ts';
import { createFeatureStore } from '../src/store/feature-store.ts';
import { createOnlineStore } from '../src/store/online.ts';
import { toSqlDatetime, type TimedValue } from '../src/store/offline.ts';
import type { FeatureRef } from '../src/features/keys.ts';
import type { LabelPoint } from '../src/store/types.ts';

const opts = new Command('bench:store')
  .description('Measure feature store writes and reads on the running MariaDB and Redis')
  .option('-n, --values <n>', 'feature values to write', '100000')
  .option('--entities <n>', 'entities (the matrix reads all of them)', '1000')
  .option('--features <n>', 'features per entity (matrix columns)', '20')
  .option('--batch <n>', 'values per store.write call', '5000')
  .option('--reads <n>', 'matrix reads to time', '50')
  .option('--labels <n>', 'training-frame labels (0 to skip)', '20000')
  .option('--compare-asof', 'also time the correlated-subquery as-of', false)
  .parse()
  .opts<{
    values: string;
    entities: string;
    features: string;
    batch: string;
    reads: string;
    labels: string;
    compareAsof: boolean;
  }>();

const n = Number(opts.values);
const entityCount = Number(opts.entities);
const featureCount = Number(opts.features);
const batch = Number(opts.batch);
const id = randomUUID().slice(0, 8);
const config = loadConfig();
const { serverUrl } = splitDatabase(config.mysql.url);
const mysqlUrl = withDatabase(config.mysql.url, `tagstream_bench_${id}`);
const prefix = `bench-${id}:`;
const T0 = Date.UTC(2026, 0, 1);
const STEP = 60_000;
const perSeries = Math.max(1, Math.ceil(n / (entityCount * featureCount)));

await migrate(mysqlUrl);
const store = createFeatureStore({
  mysqlUrl,
  redisUrl: config.redis.url,
  prefix,
  writeBatch: config.featureStore.writeBatch,
});
const refs: FeatureRef[] = Array.from({ length: featureCount }, (_, j) => ({ name: `f${j}` }));
const entities = Array.from({ length: entityCount }, (_, i) => `item-${i}`);

/** Value k: entity k % E, feature (k / E) % F, time step k / (E F): every series gets `perSeries` points. */
function vector(k: number): FeatureVector {
  const e = k % entityCount;
  const f = Math.floor(k / entityCount) % featureCount;
  const step = Math.floor(k / (entityCount * featureCount));
  return {
    entity_id: entities[e]!,
    entity_type: 'item',
    feature_name: `f${f}`,
    feature_value: (k % 997) / 10,
    feature_type: 'numeric',
    timestamp: T0 + step * STEP,
    window: null,
    window_start: null,
    window_end: null,
    confidence: 1,
    source: 'bench',
  };
}
const values = Array.from({ length: n }, (_, k) => vector(k));

const cleanup = async (): Promise<void> => {
  await store.close();
  const admin = new Redis(config.redis.url);
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length) await admin.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  admin.disconnect();
  const server = createSql(serverUrl);
  await server.execute(`DROP DATABASE IF EXISTS \`tagstream_bench_${id}\``);
  await server.end();
};

try {
  // Writes through the store: MySQL upsert then Redis script, one Redis round trip per write call.
  let rt0 = store.redisStats().roundTrips;
  let t = performance.now();
  for (let i = 0; i < n; i += batch) await store.write(values.slice(i, i + batch));
  const writeS = (performance.now() - t) / 1000;
  const writeTrips = store.redisStats().roundTrips - rt0;
  t = performance.now();
  for (let i = 0; i < n; i += batch) await store.write(values.slice(i, i + batch));
  const replayS = (performance.now() - t) / 1000;

  // The Redis half alone, on its own prefix, to split the cost.
  const redis = createRedisClient(config.redis.url);
  const online = createOnlineStore(redis, {
    prefix: `${prefix}solo:`,
    ttlSeconds: 3600,
    writeBatch: config.featureStore.writeBatch,
  });
  t = performance.now();
  for (let i = 0; i < n; i += batch) await online.write(values.slice(i, i + batch));
  const redisS = (performance.now() - t) / 1000;
  await redis.close();

  console.log(
    `write ${n} values (${entityCount} entities x ${featureCount} features x ${perSeries} times), batches of ${batch}: ` +
      `${Math.round(n / writeS)} values/s through the store (${writeS.toFixed(2)} s, ${writeTrips} Redis round trips); ` +
      `replay ${Math.round(n / replayS)} values/s; Redis part alone ${Math.round(n / redisS)} values/s`,
  );

  // Matrix reads.
  await store.getFeatureMatrix(entities, refs);
  const times: number[] = [];
  rt0 = store.redisStats().roundTrips;
  for (let r = 0; r < Number(opts.reads); r++) {
    t = performance.now();
    await store.getFeatureMatrix(entities, refs);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const q = (p: number): string =>
    times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(1);
  console.log(
    `getFeatureMatrix ${entityCount} x ${featureCount}: p50 ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${q(1)} ms over ` +
      `${times.length} reads; ${(store.redisStats().roundTrips - rt0) / times.length} round trip(s) per read`,
  );

  // Training frame.
  const labelCount = Number(opts.labels);
  if (labelCount > 0) {
    let seed = 42;
    const rand = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const span = perSeries * STEP;
    const labels: LabelPoint[] = Array.from({ length: labelCount }, (_, i) => ({
      entityId: entities[Math.floor(rand() * entityCount)]!,
      timestamp: T0 - STEP + Math.floor(rand() * (span + STEP)),
      label: i,
    }));
    t = performance.now();
    const frame = await store.getTrainingFrame(labels, refs);
    const mergeMs = performance.now() - t;
    console.log(
      `getTrainingFrame ${labelCount} labels x ${featureCount} features (chunked scan + merge): ${mergeMs.toFixed(0)} ms`,
    );
    if (opts.compareAsof) {
      const sql = createSql(mysqlUrl);
      t = performance.now();
      const cells: (TimedValue | null)[][] = labels.map(() => refs.map(() => null));
      const CHUNK = 500;
      for (let c = 0; c < labels.length; c += CHUNK) {
        const chunk = labels.slice(c, c + CHUNK);
        const derived = chunk.map(() => 'SELECT ? AS i, ? AS e, ? AS t').join(' UNION ALL ');
        const params = chunk.flatMap((l, k) => [c + k, l.entityId, toSqlDatetime(l.timestamp)]);
        for (const [j, ref] of refs.entries()) {
          const rows = await sql.query<{
            i: number;
            feature_value: number | null;
            feature_timestamp: Date | null;
          }>(
            `SELECT l.i, f.feature_value, f.feature_timestamp FROM (${derived}) l
               LEFT JOIN ml_feature_store f ON f.id = (
                 SELECT g.id FROM ml_feature_store g
                  WHERE g.target_entity = l.e AND g.feature_name = ? AND g.window_name = ? AND g.feature_timestamp <= l.t
                  ORDER BY g.feature_timestamp DESC LIMIT 1)`,
            [...params, ref.name, ref.window ?? ''],
          );
          for (const r of rows)
            if (r.feature_timestamp !== null)
              cells[Number(r.i)]![j] = {
                timestamp: r.feature_timestamp.getTime(),
                value: Number(r.feature_value),
              };
        }
      }
      const correlatedMs = performance.now() - t;
      await sql.end();
      const same = frame.every((row, i) =>
        refs.every((ref, j) => (row.features[ref.name] ?? null) === (cells[i]![j]?.value ?? null)),
      );
      console.log(
        `  correlated subquery (one index dive per label x feature): ${correlatedMs.toFixed(0)} ms; same result: ${same}`,
      );
    }
  }
} finally {
  await cleanup();
}
console.log(`rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`);
process.exit(0);

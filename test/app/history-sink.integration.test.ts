// The history sink on the real broker, registry and MariaDB: every scan of clean.rfid.scans lands in id_transactions
// exactly once, even when the same records are consumed again (a replay by a fresh group, or a batch stored twice),
// and the item counters in id_item_master move incrementally, never double counted, and always equal the
// whole-history recompute (a property over random, out-of-order, replayed batches).
// The file gets its own database (tagstream_test_<id>, dropped after) and random topic and group names.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyTopology, storeScans, type SourcedScan } from '../../src/app/history-sink.ts';
import { UPSERT_ITEMS_SQL, upsertItemsParams, yearStartUtc } from '../../src/batch/history.ts';
import { runTopology } from '../../src/app/pipeline.ts';
import { createKafka } from '../../src/io/kafka/client.ts';
import { SinkProgress, sqlProgress } from '../../src/serving/sink-progress.ts';
import { createMetricsRegistry } from '../../src/metrics/prometheus.ts';
import { createSql, type Sql } from '../../src/io/mysql/pool.ts';
import { AvroSerde, confluentRegistry } from '../../src/io/registry/registry.ts';
import { createLogger } from '../../src/log.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import type { RfidScan } from '../../src/schemas/types.ts';
import {
  createTestDatabase,
  dropTestDatabase,
  endOffsets,
  requireStack,
  testConfig,
  testDatabaseUrl,
  testKafka,
  waitForCommitted,
} from '../helpers/stack.ts';

const base = testConfig();
const MYSQL_URL = testDatabaseUrl(base, randomUUID().slice(0, 8));
const config = testConfig({ mysql: { url: MYSQL_URL } });
const TOPIC = `${config.topics.cleanPrefix}${config.topics.scans}`;
const NOW = Date.UTC(2026, 5, 15, 12);
const MIN = 60_000;
const log = createLogger('history-sink-test', 'warn');

let sql: Sql;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;
let serde: AvroSerde;

beforeAll(async () => {
  await requireStack(config);
  await createTestDatabase(MYSQL_URL);
  sql = createSql(MYSQL_URL);
  kafka = testKafka(config);
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 3 }], waitForLeaders: true });
  producer = kafka.producer({ idempotent: true });
  await producer.connect();
  serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
});

afterAll(async () => {
  await producer?.disconnect();
  await admin?.deleteTopics({ topics: [TOPIC] }).catch(() => undefined);
  await admin?.disconnect();
  await dropTestDatabase(sql, MYSQL_URL);
  await sql?.end();
});

const scan = (tag: string, type: string, t: number, over: Partial<RfidScan> = {}): RfidScan => ({
  tag_id: tag,
  rental_class_num: 'TENT-40x60',
  scan_type: type,
  scan_date: t,
  reader_id: 'R-dock',
  store_id: 'S1',
  quality_grade: 4,
  notes: null,
  ...over,
});

interface ItemRow {
  tag_id: string;
  rental_class_num: string;
  store_id: string | null;
  status: string;
  quality_grade: number;
  usage_count: number;
  turnover_ytd: string;
  turnover_ltd: string;
  date_created: Date;
  date_last_scanned: Date;
}

async function item(tag: string): Promise<ItemRow | undefined> {
  const [row] = await sql.query<ItemRow>('SELECT * FROM id_item_master WHERE tag_id = ?', [tag]);
  return row;
}

async function count(table: string, where = '1', params: unknown[] = []): Promise<number> {
  const [r] = await sql.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, params);
  return Number(r!.n);
}

describe('storeScans', () => {
  it('two instances storing one partition at once (a zombie and its successor) count each scan once', async () => {
    const topic = `direct-${randomUUID().slice(0, 8)}`;
    const tags = Array.from({ length: 20 }, () => `tag-${randomUUID().slice(0, 8)}`);
    const batch: SourcedScan[] = tags.flatMap((tag, k) =>
      ['out', 'return', 'out', 'return'].map((type, i) => ({
        scan: scan(tag, type, NOW - (40 - 10 * i) * MIN),
        topic,
        partition: 0,
        offset: String(k * 4 + i),
      })),
    );
    const opts = { dedupWindowMs: 2_000, now: NOW };
    const other = createSql(MYSQL_URL);
    try {
      for (let round = 0; round < 3; round++) {
        const part = batch.filter((_, i) => i % 3 === round);
        const inserted = await Promise.all([storeScans(sql, part, opts), storeScans(other, part, opts)]);
        expect(inserted[0] + inserted[1]).toBe(part.length);
      }
    } finally {
      await other.end();
    }
    for (const tag of tags) expect((await item(tag))?.usage_count).toBe(2);
  });

  it('stores a batch once, recomputes the item from its history, and a second store of the batch changes nothing', async () => {
    const tag = `tag-${randomUUID().slice(0, 8)}`;
    const topic = `direct-${randomUUID().slice(0, 8)}`;
    const history: RfidScan[] = [
      scan(tag, 'in', Date.UTC(2025, 11, 20), { quality_grade: 5 }),
      scan(tag, 'out', Date.UTC(2025, 11, 30)), // last year: ltd, not ytd
      scan(tag, 'return', Date.UTC(2026, 0, 3), { quality_grade: 4 }),
      scan(tag, 'out', NOW - 10 * MIN),
      scan(tag, 'out', NOW - 10 * MIN + 1_000, { reader_id: 'R-door-2' }), // the neighbouring reader: same rental
      scan(tag, 'damage', NOW - 5 * MIN, { quality_grade: 2, store_id: 'S2' }),
    ];
    const batch: SourcedScan[] = history.map((s, i) => ({ scan: s, topic, partition: 0, offset: String(i) }));
    const opts = { dedupWindowMs: 2_000, now: NOW };

    expect(await storeScans(sql, batch, opts)).toBe(6);
    const first = await item(tag);
    expect(first).toMatchObject({
      rental_class_num: 'TENT-40x60',
      store_id: 'S1', // home store: where it was first seen
      status: 'repair', // latest scan: damage
      quality_grade: 2,
      usage_count: 2,
      turnover_ltd: '2.00',
      turnover_ytd: '1.00',
    });
    expect(first!.date_created.getTime()).toBe(Date.UTC(2025, 11, 20));
    expect(first!.date_last_scanned.getTime()).toBe(NOW - 5 * MIN);

    // The same batch again (a replay after a crash before the offset commit), and its second half once more.
    expect(await storeScans(sql, batch, opts)).toBe(0);
    expect(await storeScans(sql, batch.slice(3), opts)).toBe(0);
    expect(await count('id_transactions', 'tag_id = ?', [tag])).toBe(6);
    expect(await item(tag)).toEqual(first);

    // A late scan, older than the latest, adds a rental but does not change the status.
    expect(
      await storeScans(
        sql,
        [{ scan: scan(tag, 'out', Date.UTC(2026, 1, 1)), topic, partition: 1, offset: '0' }],
        opts,
      ),
    ).toBe(1);
    expect(await item(tag)).toMatchObject({ status: 'repair', usage_count: 3, turnover_ytd: '2.00' });
  });

  it('rolls the whole batch back when a row fails', async () => {
    const tag = `tag-${randomUUID().slice(0, 8)}`;
    const topic = `direct-${randomUUID().slice(0, 8)}`;
    const bad: SourcedScan[] = [
      { scan: scan(tag, 'out', NOW), topic, partition: 0, offset: '0' },
      { scan: scan(tag, 'return', NOW + MIN, { quality_grade: 9 }), topic, partition: 0, offset: '1' },
    ];
    // A row the table refuses is a record error (a sink node dead-letters it), not a dependency failure.
    await expect(storeScans(sql, bad, { dedupWindowMs: 2_000, now: NOW, chunk: 1 })).rejects.toMatchObject({
      code: 'SINK_REJECTED',
      retryable: false,
    });
    expect(await count('id_transactions', 'tag_id = ?', [tag])).toBe(0);
    expect(await item(tag)).toBeUndefined();
  });
});

describe('progress (sink_partition_locks.stored_offset)', () => {
  it('moves to the highest offset stored with the scans, never back; a rolled-back batch leaves it', async () => {
    const topic = `direct-${randomUUID().slice(0, 8)}`;
    const tag = `tag-${randomUUID().slice(0, 8)}`;
    const read = sqlProgress(sql);
    const at = (p: number, o: number, s: RfidScan): SourcedScan => ({
      scan: s,
      topic,
      partition: p,
      offset: String(o),
    });
    const opts = { dedupWindowMs: 2_000, now: NOW };
    expect(await read(topic, [0, 1])).toEqual(new Map());

    await storeScans(
      sql,
      [
        at(0, 3, scan(tag, 'out', NOW - 9 * MIN)),
        at(0, 7, scan(tag, 'return', NOW - 8 * MIN)),
        at(1, 2, scan(tag, 'in', NOW - 7 * MIN)),
      ],
      opts,
    );
    expect(await read(topic, [0, 1])).toEqual(
      new Map([
        [0, 7n],
        [1, 2n],
      ]),
    );

    // A replay of an earlier batch stores nothing and leaves the progress where it was.
    await storeScans(sql, [at(0, 3, scan(tag, 'out', NOW - 9 * MIN))], opts);
    expect(await read(topic, [0])).toEqual(new Map([[0, 7n]]));

    // A batch that fails rolls its progress back with its rows.
    await expect(
      storeScans(sql, [at(1, 9, scan(tag, 'return', NOW - 6 * MIN, { quality_grade: 9 }))], opts),
    ).rejects.toMatchObject({ code: 'SINK_REJECTED' });
    expect(await read(topic, [1])).toEqual(new Map([[1, 2n]]));

    // What a waiting reader sees: the progress reaches an offset only with the scans up to it in id_transactions.
    const progress = new SinkProgress({ read, stallMs: 10_000, sink: 'the history sink', log });
    const waiting = progress.awaitStored([{ topic, partition: 1, offset: '5' }]);
    let done = false;
    void waiting.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(done).toBe(false);
    await storeScans(sql, [at(1, 5, scan(tag, 'out', NOW - 5 * MIN))], opts);
    await waiting;
    expect(await count('id_transactions', 'tag_id = ? AND source_topic = ?', [tag, topic])).toBe(4);
  });
});

describe('incremental item counters', () => {
  const YEAR = yearStartUtc(NOW);
  const TYPES = ['in', 'out', 'return', 'damage', 'repair'] as const;
  // Scans of 3 tags within 40 s either side of the year start, on a 500 ms grid: many fall within the 2 s dedup
  // window of one another, many arrive after later ones, and some straddle the new year.
  const scanArb = fc.record({
    tag: fc.integer({ min: 0, max: 2 }),
    type: fc.constantFrom(...TYPES),
    at: fc.integer({ min: -80, max: 80 }),
    grade: fc.integer({ min: 1, max: 5 }),
    store: fc.constantFrom('S1', 'S2'),
    cls: fc.constantFrom('A', 'B'),
  });
  const runArb = fc.record({
    scans: fc.array(scanArb, { minLength: 1, maxLength: 40 }),
    cuts: fc.array(fc.integer({ min: 1, max: 39 }), { maxLength: 6 }),
    replays: fc.array(fc.nat(), { maxLength: 3 }),
  });

  it('equal the whole-history recompute for any arrival order, batching and replay', async () => {
    await fc.assert(
      fc.asyncProperty(runArb, async ({ scans, cuts, replays }) => {
        const id = randomUUID().slice(0, 8);
        const topic = `prop-${id}`;
        const sourced: SourcedScan[] = scans.map((x, i) => ({
          scan: scan(`P${id}-${x.tag}`, x.type, YEAR + x.at * 500, {
            quality_grade: x.grade,
            store_id: x.store,
            rental_class_num: x.cls,
          }),
          topic,
          partition: x.tag % 2,
          offset: String(i),
        }));
        const bounds = [...new Set([0, ...cuts.filter((c) => c < sourced.length), sourced.length])].sort(
          (a, b) => a - b,
        );
        const batches = bounds.slice(1).map((end, k) => sourced.slice(bounds[k], end));
        const opts = { dedupWindowMs: 2_000, now: NOW };
        // The creation date is the earliest scan by event time, however the scans were batched.
        const firstSeen = new Map<string, number>();
        for (const s of sourced)
          firstSeen.set(s.scan.tag_id, Math.min(firstSeen.get(s.scan.tag_id) ?? Infinity, s.scan.scan_date));
        for (const [k, batch] of batches.entries()) {
          await storeScans(sql, batch, opts);
          // A replay of an earlier batch (a crash before the offset commit) changes nothing.
          for (const r of replays.filter((r) => r % batches.length <= k))
            expect(await storeScans(sql, batches[r % batches.length]!, opts)).toBe(0);
        }
        const like = [`P${id}-%`];
        const incremental = await sql.query<ItemRow>(
          'SELECT * FROM id_item_master WHERE tag_id LIKE ? ORDER BY tag_id',
          like,
        );
        const tags = incremental.map((r) => r.tag_id);
        expect(tags).toEqual([...firstSeen.keys()].sort());
        for (const row of incremental) {
          expect(row.date_created.getTime()).toBe(firstSeen.get(row.tag_id));
          // The home store is where the earliest scan was (either, when two share that time).
          const earliest = sourced.filter(
            (s) => s.scan.tag_id === row.tag_id && s.scan.scan_date === firstSeen.get(row.tag_id),
          );
          expect(earliest.map((s) => s.scan.store_id)).toContain(row.store_id);
        }
        await sql.execute(UPSERT_ITEMS_SQL, upsertItemsParams(tags, opts.dedupWindowMs, YEAR));
        const recomputed = await sql.query<ItemRow>(
          'SELECT * FROM id_item_master WHERE tag_id LIKE ? ORDER BY tag_id',
          like,
        );
        expect(incremental).toEqual(recomputed);
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});

describe('HistorySink on Kafka', () => {
  const TAGS = 30;
  const PER_TAG = 10;
  const N = TAGS * PER_TAG;
  const TYPES = ['in', 'out', 'return', 'out', 'return', 'damage', 'repair', 'in', 'out', 'return'];
  const prefix = `K${randomUUID().slice(0, 6)}-`;

  async function runSink(groupId: string): Promise<{ received: number; inserted: number }> {
    const counts = { received: 0, inserted: 0 };
    const topology = historyTopology(config, sql, {
      clock: { now: () => NOW },
      onBatch: (received, inserted) => {
        counts.received += received;
        counts.inserted += inserted;
      },
    });
    const ctx = { kafka: createKafka(config, log), serde, log, metrics: createMetricsRegistry() };
    const runner = await runTopology(config, topology, ctx, groupId);
    try {
      await waitForCommitted(admin, groupId, [TOPIC], 60_000);
      return counts;
    } finally {
      await runner.stop();
    }
  }

  async function items(): Promise<ItemRow[]> {
    return sql.query<ItemRow>('SELECT * FROM id_item_master WHERE tag_id LIKE ? ORDER BY tag_id', [
      `${prefix}%`,
    ]);
  }

  it('writes each scan once; a replay of the topic by a fresh group inserts nothing and counts nothing twice', async () => {
    const encode = await serde.encoderFor<RfidScan>(TOPIC, loadSchema('rfidScan'));
    const messages = [];
    for (let t = 0; t < TAGS; t++)
      for (let k = 0; k < PER_TAG; k++) {
        const s = scan(`${prefix}${String(t).padStart(2, '0')}`, TYPES[k]!, NOW - (PER_TAG - k) * 60 * MIN, {
          store_id: `S${(t % 3) + 1}`,
          quality_grade: 5 - (k % 4),
        });
        messages.push({ key: s.tag_id, value: encode(s) });
      }
    await producer.send({ topic: TOPIC, acks: -1, messages });

    const first = await runSink(`${config.pipeline.groupId}-history`);
    expect(first).toMatchObject({ received: N, inserted: N });
    expect(await count('id_transactions', 'source_topic = ?', [TOPIC])).toBe(N);
    const after = await items();
    expect(after).toHaveLength(TAGS);
    for (const row of after)
      expect(row).toMatchObject({
        status: 'returned',
        usage_count: 3,
        turnover_ltd: '3.00',
        quality_grade: 4,
      });

    // A crash after the DB commit but before the offset commit: the group's offsets go back to half way, and a new
    // consumer on the same group consumes the second half again.
    const group = `${config.pipeline.groupId}-history`;
    const ends = await endOffsets(admin, TOPIC);
    await admin.setOffsets({
      groupId: group,
      topic: TOPIC,
      partitions: [...ends].map(([partition, end]) => ({ partition, offset: String(end / 2n) })),
    });
    const restarted = await runSink(group);
    expect(restarted.received).toBe([...ends.values()].reduce((a, e) => a + Number(e - e / 2n), 0));
    expect(restarted.inserted).toBe(0);
    expect(await count('id_transactions', 'source_topic = ?', [TOPIC])).toBe(N);
    expect(await items()).toEqual(after);

    // The same records consumed again, by a new group: nothing new is stored and the counters stay.
    const replay = await runSink(`${config.pipeline.groupId}-history-replay`);
    expect(replay).toMatchObject({ received: N, inserted: 0 });
    expect(await count('id_transactions', 'source_topic = ?', [TOPIC])).toBe(N);
    expect(await items()).toEqual(after);
  });
});

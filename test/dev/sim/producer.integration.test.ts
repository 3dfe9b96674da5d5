// The simulator's Kafka sink on the real broker and registry: every record arrives, Avro values decode to what was
// simulated, record timestamps are arrival times, garbled reads stay raw bytes, and created topics keep old records.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvroSerde, confluentRegistry } from '../../../src/io/registry/registry.ts';
import { createLogger } from '../../../src/log.ts';
import { inArrivalOrder } from '../../../src/dev/sim/arrival.ts';
import { simulate, type StreamEvent } from '../../../src/dev/sim/model.ts';
import { openKafkaSink, produce, toMessage } from '../../../src/dev/sim/producer.ts';
import { DAY_MS } from '../../../src/dev/sim/time.ts';
import { requireStack, testConfig, testKafka } from '../../helpers/stack.ts';

const config = testConfig();
const kafka = testKafka(config);
const admin = kafka.admin();

beforeAll(async () => {
  await requireStack(config);
  await admin.connect();
});

afterAll(async () => {
  await admin
    .deleteTopics({ topics: [config.topics.scans, config.topics.transactions] })
    .catch(() => undefined);
  await admin.disconnect();
});

interface Received {
  key: string | null;
  value: Buffer;
  timestamp: number;
}

async function readAll(topic: string, expected: number): Promise<Received[]> {
  const consumer = kafka.consumer({ groupId: `${config.pipeline.groupId}-${topic}` });
  const out: Received[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      out.push({
        key: message.key?.toString() ?? null,
        value: message.value!,
        timestamp: Number(message.timestamp),
      });
    },
  });
  const deadline = Date.now() + 60_000;
  while (out.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await consumer.disconnect();
  return out;
}

describe('simulator -> Kafka', () => {
  it('sends a small simulation in arrival order; it reads back exactly', async () => {
    const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    const sim = simulate({
      stores: 1,
      days: 2,
      seed: 9,
      start: today - 2 * DAY_MS,
      noise: { malformedRate: 0.05 },
    });
    const sent: StreamEvent[] = [];
    // The timestamp each record was given: arrival capped at the clock when it was encoded. A run just after
    // midnight has arrivals later than the send time, so the cap must be the send-time clock, not a later one.
    const stamped = new Map<StreamEvent, number>();
    const sink = await openKafkaSink(config, createLogger('sim-test', 'silent'));
    expect(sink.created).toEqual([config.topics.scans, config.topics.transactions]);
    expect(sink.retentionMs.get(config.topics.scans)).toBe(-1);
    const stats = await produce(
      (function* () {
        for (const ev of inArrivalOrder(sim.events)) {
          sent.push(ev);
          yield ev;
        }
      })(),
      sink,
      (ev, now) => {
        stamped.set(ev, Math.min(ev.arrival, now));
        return toMessage(ev, sink.topics, sink.encoders, now);
      },
      { speed: { kind: 'max' }, batchSize: 500 },
    );
    await sink.close();
    expect(stats.sent).toBe(sent.length);
    const scans = sent.filter((e) => e.kind === 'scan');
    const txs = sent.filter((e) => e.kind === 'transaction');
    expect(scans.some((e) => e.kind === 'scan' && e.malformed === 'garbage')).toBe(true);

    const serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
    const gotScans = await readAll(config.topics.scans, scans.length);
    const gotTxs = await readAll(config.topics.transactions, txs.length);
    expect(gotScans).toHaveLength(scans.length);
    expect(gotTxs).toHaveLength(txs.length);

    // Compare as multisets: partitions interleave on read. Timestamps are arrival times (capped at send time).
    expect([...stamped.keys()]).toHaveLength(sent.length);
    const expectScan = new Map<string, number>();
    const sig = (key: string | null, ts: number, body: string) => `${key}|${ts}|${body}`;
    for (const e of scans) {
      if (e.kind !== 'scan') continue;
      const body = e.raw ? e.raw.toString('hex') : JSON.stringify(e.scan);
      const k = sig(e.key, stamped.get(e)!, body);
      expectScan.set(k, (expectScan.get(k) ?? 0) + 1);
    }
    for (const m of gotScans) {
      const body = m.value[0] === 0 ? JSON.stringify(await serde.decode(m.value)) : m.value.toString('hex');
      const k = sig(m.key, m.timestamp, body);
      const n = expectScan.get(k) ?? 0;
      expect(n, k.slice(0, 200)).toBeGreaterThan(0);
      expectScan.set(k, n - 1);
    }
    const txIds = new Set(txs.map((e) => (e.kind === 'transaction' ? e.tx.transaction_id : '')));
    for (const m of gotTxs) {
      const tx = (await serde.decode(m.value)) as { transaction_id: string; items: unknown[] };
      expect(txIds.has(tx.transaction_id)).toBe(true);
      expect(m.key).toBe(tx.transaction_id);
      expect(tx.items.length).toBeGreaterThan(0);
    }
  });
});

// What the processor reports through PipelineMetrics besides records: late records by missed window, the window
// stage's watermark (as the delay gauge), and state store sizes; read back from a real prom-client registry.
import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { count, measure, combine } from '../../operators/aggregates.ts';
import { windowAggregate, type LateInfo } from '../../operators/window-aggregate.ts';
import { MINUTE } from '../../operators/windows.ts';
import { AvroSerde, memoryRegistry } from '../../src/io/registry/registry.ts';
import { createMetricsRegistry, prometheusPipelineMetrics } from '../../src/metrics/prometheus.ts';
import { FakeClock } from '../../src/runtime/clock.ts';
import { reportWatermark } from '../../src/runtime/metrics.ts';
import type { StageContext } from '../../src/runtime/operator.ts';
import { RecordProcessor } from '../../src/runtime/processor.ts';
import { Flow, topology } from '../../src/runtime/topology.ts';

interface Ev {
  readonly key: string;
}

const EV_SCHEMA = {
  type: 'record',
  name: 'Ev',
  namespace: 'test.tagstream',
  fields: [{ name: 'key', type: 'string' }],
};
const RESULT_SCHEMA = {
  type: 'record',
  name: 'Res',
  namespace: 'test.tagstream',
  fields: [
    { name: 'key', type: 'string' },
    { name: 'window', type: 'string' },
  ],
};
const LATE_SCHEMA = {
  type: 'record',
  name: 'Late',
  namespace: 'test.tagstream',
  fields: [
    { name: 'window', type: 'string' },
    { name: 'lateness_ms', type: 'long' },
  ],
};

const T0 = Date.UTC(2026, 5, 1, 12);
const GRACE = 10_000;
const IDLE = 30_000;

async function setup() {
  const source = `test-in-${randomUUID()}`;
  const clock = new FakeClock(T0);
  const registry: Registry = createMetricsRegistry(false);
  const metrics = prometheusPipelineMetrics(registry, 'features', { now: () => clock.now() });
  const inner = memoryRegistry();
  const flow = Flow.from<Ev>(source)
    .via(
      windowAggregate<Ev>({
        name: 'w',
        windows: [
          { name: '1m', kind: 'tumbling', sizeMs: MINUTE },
          { name: '5m', kind: 'tumbling', sizeMs: 5 * MINUTE },
        ],
        key: (e) => e.key,
        aggregate: combine<Ev>({ n: measure(count, () => 1) }),
        graceMs: GRACE,
        emit: 'final',
        idleTimeoutMs: IDLE,
      }),
    )
    .side('late', `late.${source}`, LATE_SCHEMA, (v) => {
      const info = v as LateInfo<Ev>;
      return { window: info.window, lateness_ms: info.latenessMs };
    })
    .to(`out-${source}`, RESULT_SCHEMA);
  const processor = await RecordProcessor.create(topology('features', [flow]), new AvroSerde(inner), {
    applicationId: 'test-app',
    pipelineVersion: 'test',
    dlqTopic: (source: string) => `dlq.${source}`,
    clock,
    metrics,
  });
  const encode = await new AvroSerde(inner).encoderFor<Ev>(source, EV_SCHEMA);
  let offset = 0;
  const send = (key: string, eventTime: number, partition = 0) =>
    processor.process({
      topic: source,
      partition,
      offset: String(offset++),
      key: Buffer.from(key),
      value: encode({ key }),
      timestamp: eventTime,
    });
  const lines = async () => (await registry.metrics()).split('\n').filter((l) => l && !l.startsWith('#'));
  return { source, clock, processor, send, lines };
}

describe('processor metrics', () => {
  it('counts records sent to the late side output, once per window they missed', async () => {
    const s = await setup();
    await s.send('a', T0);
    await s.send('a', T0 + 10 * MINUTE); // closes the windows of T0
    await s.send('a', T0 + 30_000); // late for 1m and 5m
    const lines = await s.lines();
    expect(lines).toContain(
      `tagstream_late_records_total{pipeline="features",topic="${s.source}",window="1m"} 1`,
    );
    expect(lines).toContain(
      `tagstream_late_records_total{pipeline="features",topic="${s.source}",window="5m"} 1`,
    );
  });

  it("reports the window stage's watermark per partition as wall clock minus watermark", async () => {
    const s = await setup();
    await s.send('a', T0 - 90_000);
    await s.send('b', T0 - 200_000, 1);
    const lines = await s.lines();
    expect(lines).toContain(
      'tagstream_watermark_delay_seconds{pipeline="features",stage="w",partition="0"} 90',
    );
    expect(lines).toContain(
      'tagstream_watermark_delay_seconds{pipeline="features",stage="w",partition="1"} 200',
    );
  });

  it('keeps the delay growing while nothing arrives, until idleness moves the watermark on', async () => {
    const s = await setup();
    await s.send('a', T0 - 5_000);
    const series = 'tagstream_watermark_delay_seconds{pipeline="features",stage="w",partition="0"}';
    s.clock.advance(20_000);
    s.processor.tick(s.source, 0);
    expect(await s.lines()).toContain(`${series} 25`);
    // Idle for longer than idleTimeoutMs: the watermark follows the wall clock from where it stood.
    s.clock.advance(20_000);
    s.processor.tick(s.source, 0);
    expect(await s.lines()).toContain(`${series} 5`);
  });

  it("drops a partition's watermark series with its state", async () => {
    const s = await setup();
    await s.send('a', T0);
    await s.send('b', T0, 1);
    s.processor.dropState(s.source, 1);
    const delays = (await s.lines()).filter((l) => l.startsWith('tagstream_watermark_delay_seconds'));
    expect(delays).toEqual([
      'tagstream_watermark_delay_seconds{pipeline="features",stage="w",partition="0"} 0',
    ]);
  });

  it('reports the entries of each store over the partitions in memory', async () => {
    const s = await setup();
    await s.send('a', T0);
    await s.send('b', T0);
    await s.send('c', T0, 1);
    s.processor.reportStateSizes(s.source);
    const lines = await s.lines();
    // Three keys, each with an open 1m and 5m window: one entry per key holds both.
    expect(lines).toContain('tagstream_state_entries{pipeline="features",store="w.windows"} 3');
    // One clock entry per partition.
    expect(lines).toContain('tagstream_state_entries{pipeline="features",store="w.time"} 2');
    expect(lines).toContain('tagstream_state_entries{pipeline="features",store="w.sliding"} 0');
    // Partition 0 held keys a and b.
    s.processor.dropState(s.source, 0);
    s.processor.reportStateSizes(s.source);
    expect(await s.lines()).toContain('tagstream_state_entries{pipeline="features",store="w.windows"} 1');
  });
});

describe('reportWatermark', () => {
  it('is a no-op on a context without stage metrics (operator tests, harnesses)', () => {
    const ctx = { partition: 0 } as unknown as StageContext;
    expect(() => reportWatermark(ctx, 'w', T0)).not.toThrow();
  });

  it('passes the partition and ignores a watermark that is not finite', () => {
    const seen: unknown[] = [];
    const ctx = {
      partition: 3,
      stageMetrics: { watermark: (...args: unknown[]) => seen.push(args) },
    } as unknown as StageContext;
    reportWatermark(ctx, 'w', Number.NEGATIVE_INFINITY);
    reportWatermark(ctx, 'w', T0);
    expect(seen).toEqual([['w', 3, T0]]);
  });
});

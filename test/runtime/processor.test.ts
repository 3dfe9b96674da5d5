// The record processor: record errors become one dead letter for the whole input, anything else is thrown
// (so the batch is not committed), and every outcome is reported to the metrics interface.
import { rejectionOf } from '../helpers/errors.ts';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TagstreamError, recordError } from '../../src/errors.ts';
import { AvroSerde, memoryRegistry, type SchemaRegistryClient } from '../../src/io/registry/registry.ts';
import { FakeClock } from '../../src/runtime/clock.ts';
import type { Operator } from '../../src/runtime/operator.ts';
import { RecordProcessor, type RawRecord } from '../../src/runtime/processor.ts';
import { Flow, topology } from '../../src/runtime/topology.ts';
import type { DeadLetter } from '../../src/schemas/types.ts';
import { recordingMetrics } from '../helpers/ingest.ts';

interface N {
  readonly n: number;
}

const NUMBER_SCHEMA = {
  type: 'record',
  name: 'Num',
  namespace: 'test.tagstream',
  fields: [{ name: 'n', type: 'int' }],
};
/** The writer schema of the input: a different schema (and so a different id) from the sink's. */
const INPUT_SCHEMA = {
  ...NUMBER_SCHEMA,
  fields: [...NUMBER_SCHEMA.fields, { name: 'note', type: ['null', 'string'], default: null }],
};

const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);

/** n -> n, n+1, ..., n+k-1. */
function fanOut(k: number): Operator<unknown, N> {
  return {
    name: 'fan-out',
    process: (rec) => Array.from({ length: k }, (_, i) => ({ ...rec, value: { n: (rec.value as N).n + i } })),
  };
}

function failing(name: string, when: (n: number) => boolean, error: () => unknown): Operator<N, N> {
  return {
    name,
    process: (rec) => {
      if (when(rec.value.n)) throw error();
      return [rec];
    },
  };
}

interface Setup {
  readonly processor: RecordProcessor;
  readonly serde: AvroSerde;
  readonly metrics: ReturnType<typeof recordingMetrics>;
  readonly source: string;
  readonly sink: string;
  raw(value: Buffer | null, offset?: string): RawRecord;
  input(n: number): Promise<Buffer>;
  registryDown(down: boolean): void;
}

async function setup(ops: ReadonlyArray<Operator<unknown, unknown>>): Promise<Setup> {
  const source = `test-in-${randomUUID()}`;
  const sink = `test-out-${randomUUID()}`;
  const inner = memoryRegistry();
  let down = false;
  const registry: SchemaRegistryClient = {
    register: (s, schema) => inner.register(s, schema),
    subjectsOf: (id) => inner.subjectsOf(id),
    schemaById: (id) =>
      down
        ? Promise.reject(new TagstreamError('REGISTRY_UNAVAILABLE', 'registry down', { retryable: true }))
        : inner.schemaById(id),
  };
  const serde = new AvroSerde(registry);
  let flow = Flow.from(source);
  for (const op of ops) flow = flow.via(op);
  const metrics = recordingMetrics();
  const processor = await RecordProcessor.create(
    topology(`test-${randomUUID()}`, [flow.to(sink, NUMBER_SCHEMA)]),
    serde,
    {
      applicationId: 'test-app',
      pipelineVersion: '9.9.9',
      dlqTopic: (source: string) => `dlq.${source}`,
      clock: new FakeClock(NOW),
      metrics,
    },
  );
  const writer = new AvroSerde(inner);
  return {
    processor,
    serde,
    metrics,
    source,
    sink,
    raw: (value, offset = '41') => ({
      topic: source,
      partition: 2,
      offset,
      key: Buffer.from('key-1'),
      value,
      timestamp: 123,
    }),
    input: async (n) => (await writer.encoderFor<unknown>(source, INPUT_SCHEMA))({ n, note: null }),
    registryDown: (d) => {
      down = d;
    },
  };
}

describe('RecordProcessor', () => {
  it('lists source and output topics', async () => {
    const s = await setup([]);
    expect(s.processor.sourceTopics).toEqual([s.source]);
    expect(s.processor.outputTopics).toEqual([s.sink, `dlq.${s.source}`]);
  });

  it('writes every fanned-out record to the sink with key and timestamp, and counts in and out', async () => {
    const s = await setup([fanOut(3)]);
    const out = await s.processor.process(s.raw(await s.input(10)));
    expect(out.map((o) => o.topic)).toEqual([s.sink, s.sink, s.sink]);
    expect(out.map((o) => o.key?.toString())).toEqual(['key-1', 'key-1', 'key-1']);
    expect(out.map((o) => o.timestamp)).toEqual([123, 123, 123]);
    expect(await Promise.all(out.map((o) => s.serde.decode(o.value)))).toEqual([
      { n: 10 },
      { n: 11 },
      { n: 12 },
    ]);
    expect(s.metrics.calls).toEqual([
      ['recordsIn', s.source, 1],
      ['recordsOut', s.sink, 3],
    ]);
  });

  it('a record error mid fan-out dead-letters the whole input and emits nothing else', async () => {
    const s = await setup([
      fanOut(3),
      failing(
        'reject-11',
        (n) => n === 11,
        () => recordError('BAD_QUANTITY', 'eleven is too many'),
      ) as Operator<unknown, unknown>,
    ]);
    const value = await s.input(10);
    const out = await s.processor.process(s.raw(value, '41'));
    expect(out).toHaveLength(1);
    expect(out[0]!.topic).toBe(`dlq.${s.source}`);
    expect(out[0]!.key?.toString()).toBe('key-1');
    expect(out[0]!.timestamp).toBe(NOW);
    const dl = (await s.serde.decode(out[0]!.value)) as DeadLetter;
    expect(dl).toEqual({
      key: Buffer.from('key-1'),
      value,
      topic: s.source,
      partition: 2,
      offset: 41,
      error_code: 'BAD_QUANTITY',
      error_message: 'eleven is too many',
      failed_at: NOW,
      pipeline: s.processor.topology.name,
      pipeline_version: '9.9.9',
      stage: 'reject-11',
    });
    expect(s.metrics.calls).toEqual([
      ['recordsIn', s.source, 1],
      ['deadLettered', s.source, 'reject-11', 'BAD_QUANTITY'],
    ]);
  });

  it('an operator throwing a plain Error is thrown as INTERNAL, not dead-lettered', async () => {
    const bug = new TypeError('cannot read properties of undefined');
    const s = await setup([
      failing(
        'buggy',
        () => true,
        () => bug,
      ) as Operator<unknown, unknown>,
    ]);
    const e = await rejectionOf(s.processor.process(s.raw(await s.input(1))));
    expect(e.code).toBe('INTERNAL');
    expect(e.cause).toBe(bug);
    expect(e.message).toBe('cannot read properties of undefined');
    expect(s.metrics.calls).toEqual([
      ['recordsIn', s.source, 1],
      ['stageFailed', 'buggy', 'INTERNAL'],
    ]);
  });

  // A dependency error counts as a stage failure; work given up because the job stops (STOPPING) does not.
  it.each([
    ['REDIS_UNAVAILABLE', [['stageFailed', 'lookup', 'REDIS_UNAVAILABLE']]],
    ['STOPPING', []],
  ] as const)(
    'an operator throwing %s: thrown as it is, stage failures counted %j',
    async (code, counted) => {
      const error = new TagstreamError(code, 'a dependency', { retryable: true });
      const s = await setup([
        failing(
          'lookup',
          () => true,
          () => error,
        ) as Operator<unknown, unknown>,
      ]);
      expect(await rejectionOf(s.processor.process(s.raw(await s.input(1))))).toBe(error);
      expect(s.metrics.calls.filter(([name]) => name === 'stageFailed')).toEqual(counted);
    },
  );

  it('a registry outage while decoding is thrown (REGISTRY_UNAVAILABLE), not dead-lettered', async () => {
    const s = await setup([fanOut(1)]);
    const value = await s.input(5);
    s.registryDown(true);
    const e = await rejectionOf(s.processor.process(s.raw(value)));
    expect(e.code).toBe('REGISTRY_UNAVAILABLE');
    expect(e.retryable).toBe(true);
    expect(s.metrics.calls).toEqual([
      ['recordsIn', s.source, 1],
      ['stageFailed', 'decode', 'REGISTRY_UNAVAILABLE'],
    ]);
    // Once the registry is back the same record goes through: nothing was lost.
    s.registryDown(false);
    const out = await s.processor.process(s.raw(value));
    expect(await s.serde.decode(out[0]!.value)).toEqual({ n: 5 });
  });

  it('bad bytes are dead-lettered at stage decode', async () => {
    const s = await setup([fanOut(1)]);
    const out = await s.processor.process(s.raw(Buffer.from('garbage'), '7'));
    const dl = (await s.serde.decode(out[0]!.value)) as DeadLetter;
    expect([dl.stage, dl.error_code, dl.offset, dl.value?.toString()]).toEqual([
      'decode',
      'DECODE_MAGIC_BYTE',
      7,
      'garbage',
    ]);
    expect(s.metrics.calls).toEqual([
      ['recordsIn', s.source, 1],
      ['deadLettered', s.source, 'decode', 'DECODE_MAGIC_BYTE'],
    ]);
  });

  it('an output the sink schema cannot encode is dead-lettered as ENCODE_FAILED at encode:<sink>', async () => {
    const wrong: Operator<unknown, unknown> = {
      name: 'wrong-shape',
      process: (r) => [{ ...r, value: { n: 'x' } }],
    };
    const s = await setup([wrong]);
    const out = await s.processor.process(s.raw(await s.input(1)));
    expect(out.map((o) => o.topic)).toEqual([`dlq.${s.source}`]);
    const dl = (await s.serde.decode(out[0]!.value)) as DeadLetter;
    expect(dl.error_code).toBe('ENCODE_FAILED');
    expect(dl.stage).toBe(`encode:${s.sink}`);
    expect(dl.error_message).toContain(`cannot encode for ${s.sink}`);
  });

  it('a stage that drops the record writes nothing and reports zero out', async () => {
    const s = await setup([{ name: 'drop', process: () => [] }]);
    expect(await s.processor.process(s.raw(await s.input(1)))).toEqual([]);
    expect(s.metrics.calls).toEqual([
      ['recordsIn', s.source, 1],
      ['recordsOut', s.sink, 0],
    ]);
  });

  it('a record from a topic no branch reads is an INTERNAL error', async () => {
    const s = await setup([]);
    const e = await rejectionOf(s.processor.process({ ...s.raw(await s.input(1)), topic: 'elsewhere' }));
    expect(e.code).toBe('INTERNAL');
    expect(e.message).toBe('no branch reads elsewhere');
    expect(s.metrics.calls).toEqual([]);
  });
});

// Async stages: records of a batch are in flight together (so a micro-batching stage sees them as one batch),
// outputs keep the input order, record errors dead-letter only their record, and async + stateful is refused.
import { describe, expect, it } from 'vitest';
import { recordError } from '../../src/errors.ts';
import { MicroBatcher } from '../../src/runtime/micro-batcher.ts';
import type { AsyncOperator, Operator, Rec } from '../../src/runtime/operator.ts';
import { TestDriver } from '../../src/runtime/test-driver.ts';
import { Flow, topology } from '../../src/runtime/topology.ts';
import type { AvroSchemaJson } from '../../src/io/registry/registry.ts';

const numberRecord: AvroSchemaJson = {
  type: 'record',
  name: 'N',
  namespace: 'test',
  fields: [{ name: 'n', type: 'long' }],
};

interface N {
  n: number;
}

/** Squares through a micro-batcher; remembers the batch sizes; n = 13 is a bad record. */
function squaring(): AsyncOperator<N, N> & { batches: number[] } {
  const batches: number[] = [];
  const batcher = new MicroBatcher<number, number>(
    async (items) => {
      batches.push(items.length);
      await new Promise((r) => setTimeout(r, 1));
      return items.map((n) => n * n);
    },
    { maxBatch: 4, maxWaitMs: 5 },
  );
  return {
    name: 'square',
    async: true,
    batches,
    async process(rec: Rec<N>) {
      if (rec.value.n === 13) throw recordError('NOT_FINITE', 'unlucky');
      return [{ ...rec, value: { n: await batcher.submit(rec.value.n) } }];
    },
  };
}

const plusOne: Operator<N, N> = { name: 'plus-one', process: (r) => [{ ...r, value: { n: r.value.n + 1 } }] };

describe('async stages', () => {
  it('batches the records of one consumed batch and keeps their order, with sync stages after', async () => {
    const op = squaring();
    const driver = await TestDriver.create(
      topology('t', [Flow.from<N>('in', numberRecord).via(op).via(plusOne).to('out', numberRecord)]),
    );
    await driver.pipeBatch(
      'in',
      numberRecord,
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => ({ value: { n } })),
    );
    const out = await driver.read<N>('out');
    expect(out.map((r) => r.value.n)).toEqual([2, 5, 10, 17, 26, 37, 50, 65, 82, 101]);
    expect(op.batches).toEqual([4, 4, 2]);
  });

  it('dead-letters a bad record and keeps the others of its batch', async () => {
    const driver = await TestDriver.create(
      topology('t', [Flow.from<N>('in', numberRecord).via(squaring()).to('out', numberRecord)]),
    );
    await driver.pipeBatch(
      'in',
      numberRecord,
      [12, 13, 14].map((n) => ({ value: { n } })),
    );
    expect((await driver.read<N>('out')).map((r) => r.value.n)).toEqual([144, 196]);
    const dlq = await driver.read<{ error_code: string; stage: string; offset: number }>('dlq.in');
    expect(dlq.map((d) => [d.value.error_code, d.value.stage, d.value.offset])).toEqual([
      ['NOT_FINITE', 'square', 1],
    ]);
  });

  it('refuses a flow with an async stage and a stateful one', () => {
    const stateful: Operator<N, N> = { name: 'count', stores: ['count'], process: (r) => [r] };
    expect(() => Flow.from<N>('in').via(stateful).via(squaring()).to('out', numberRecord)).toThrow(
      /async stage and stateful stages \(count\)/,
    );
  });
});

// The pipeline builder: branches list their stages, run depth-first, name the failing stage, and sources are unique.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import { ingestTopology } from '../../pipelines/ingest.ts';
import { recordError } from '../../src/errors.ts';
import { FakeClock } from '../../src/runtime/clock.ts';
import { mapOperator, type Operator, type OperatorContext, type Rec } from '../../src/runtime/operator.ts';
import { Flow, topology, type Branch } from '../../src/runtime/topology.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';

/** The topic a branch ends in (these branches all end in topics). */
function topicSink(b: Branch): Extract<Branch['sink'], { kind: 'topic' }> {
  if (b.sink.kind !== 'topic') throw new Error(`${b.source} ends in a sink node`);
  return b.sink;
}
const topicOf = (b: Branch): string => topicSink(b).topic;

const schema = loadSchema('rfidScan');
const ctx: OperatorContext = {
  clock: new FakeClock(1_000),
  partition: 0,
  store: () => {
    throw new Error('stateless test stages use no store');
  },
  emitSide: () => undefined,
  source: { topic: 'in', partition: 0, offset: '0' },
};
const rec = <T>(value: T): Rec<T> => ({ key: Buffer.from('k'), value, timestamp: 5 });

const double = mapOperator<number, number>('double', (v, r) => ({ ...r, value: v * 2 }));
const fanOut: Operator<number, number> = {
  name: 'fan-out',
  process: (r) => [r, { ...r, value: r.value + 1 }],
};

describe('Flow', () => {
  it('lists the stage names in order and keeps source and sink', () => {
    const b = Flow.from('in')
      .via(double as Operator<unknown, number>)
      .via(fanOut)
      .to('out', schema);
    expect(b.source).toBe('in');
    expect(b.sourceSchema).toBeUndefined();
    expect(b.sink).toEqual({ kind: 'topic', topic: 'out', schema });
    expect(b.stages).toEqual(['double', 'fan-out']);
  });

  it('keeps the source schema through via()', () => {
    const source = loadSchema('posTransaction');
    const b = Flow.from('in', source)
      .via(fanOut as Operator<unknown, number>)
      .to('out', schema);
    expect(b.sourceSchema).toEqual(source);
  });

  it('runs every record through every stage, fanning out', () => {
    const b = Flow.from('in')
      .via(fanOut as Operator<unknown, number>)
      .via(double)
      .to('out', schema);
    const out = b.run(rec(3), ctx);
    expect(out).toEqual([{ rec: rec(6) }, { rec: rec(8) }]);
  });

  it('a branch with no stages passes the record through', () => {
    expect(Flow.from('in').to('out', schema).run(rec('x'), ctx)).toEqual([{ rec: rec('x') }]);
  });

  it('a stage may drop a record', () => {
    const drop: Operator<unknown, unknown> = { name: 'drop', process: () => [] };
    const b = Flow.from('in').via(drop).to('out', schema);
    expect(b.stages).toEqual(['drop']);
    expect(b.run(rec(1), ctx)).toEqual([]);
  });

  it('hands the context to each stage', () => {
    const seen: OperatorContext[] = [];
    const spy: Operator<unknown, unknown> = { name: 'spy', process: (r, c) => (seen.push(c), [r]) };
    Flow.from('in').via(spy).to('out', schema).run(rec(1), ctx);
    expect(seen).toEqual([ctx]);
  });

  it('a failure names its stage and nothing else comes out, even mid fan-out', () => {
    const error = recordError('BAD_QUANTITY', 'odd');
    const failOnOdd: Operator<number, number> = {
      name: 'fail-on-odd',
      process: (r) => {
        if (r.value % 2 === 1) throw error;
        return [r];
      },
    };
    const b = Flow.from('in')
      .via(fanOut as Operator<unknown, number>)
      .via(failOnOdd)
      .to('out', schema);
    expect(b.run(rec(2), ctx)).toEqual([{ failedStage: 'fail-on-odd', error }]);
  });
});

describe('topology', () => {
  it('keeps name and branches', () => {
    const a = Flow.from('a')
      .via(double as Operator<unknown, number>)
      .to('a.out', schema);
    const b = Flow.from('b').to('b.out', schema);
    const t = topology('two', [a, b]);
    expect(t.name).toBe('two');
    expect(t.branches.map((x) => [x.source, topicOf(x), x.stages])).toEqual([
      ['a', 'a.out', ['double']],
      ['b', 'b.out', []],
    ]);
  });

  it('rejects two branches reading the same source', () => {
    const a = Flow.from('rfid.scans').to('x', schema);
    const b = Flow.from('rfid.scans').to('y', schema);
    expect(() => topology('dup', [a, Flow.from('other').to('z', schema), b])).toThrow(
      'topology dup: two branches read rfid.scans; compose them into one chain',
    );
  });

  it('the ingest topology reads scans and transactions, validates, and writes clean.<source>', () => {
    const t = ingestTopology(parseConfig({}));
    expect(t.name).toBe('ingest');
    expect(t.branches.map((b) => ({ source: b.source, stages: b.stages, sink: topicOf(b) }))).toEqual([
      { source: 'rfid.scans', stages: ['validate-scan'], sink: 'clean.rfid.scans' },
      { source: 'pos.transactions', stages: ['validate-transaction'], sink: 'clean.pos.transactions' },
    ]);
    expect(topicSink(t.branches[0]!).schema).toEqual(loadSchema('rfidScan'));
    expect(t.branches[0]!.sourceSchema).toEqual(loadSchema('rfidScan'));
    expect(topicSink(t.branches[1]!).schema).toEqual(loadSchema('posTransaction'));
    expect(t.branches[1]!.sourceSchema).toEqual(loadSchema('posTransaction'));
  });

  it('the ingest topology follows configured topic names', () => {
    const t = ingestTopology(parseConfig({ topics: { scans: 'scans.v2', cleanPrefix: 'ok.' } }));
    expect(t.branches[0]!.source).toBe('scans.v2');
    expect(topicOf(t.branches[0]!)).toBe('ok.scans.v2');
  });
});

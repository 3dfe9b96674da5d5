// The online store's pure parts: key and field layout, the value encoding, the newest-by-event-time rule, and how a
// batch becomes script calls and HMGETs. The Lua script is checked against foldNewest on a real Redis in
// feature-store.integration.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FeatureVector } from '../../src/schemas/types.ts';
import {
  decodeAsOfReads,
  decodeReads,
  decodeValue,
  encodeValue,
  entityKey,
  featureField,
  foldNewest,
  planAsOfReads,
  planReads,
  planWrites,
  takesOver,
  versionKey,
  type OnlineValue,
} from '../../src/store/online.ts';

function feature(overrides: Partial<FeatureVector> = {}): FeatureVector {
  return {
    entity_id: 'item-1',
    entity_type: 'item',
    feature_name: 'usage_frequency_7d',
    feature_value: 0.25,
    feature_type: 'numeric',
    timestamp: 1_780_000_000_000,
    window: null,
    window_start: null,
    window_end: null,
    confidence: 1,
    source: 'rfid',
    ...overrides,
  };
}

describe('layout', () => {
  it('one hash per entity under the prefix, one field per feature and window', () => {
    expect(entityKey('ts:', 'item-1')).toBe('ts:feat:item-1');
    expect(entityKey('t-1234:', 'store:S1')).toBe('t-1234:feat:store:S1');
    expect(featureField('rental_quantity', '1h')).toBe('rental_quantity|1h');
    expect(featureField('temperature_f', null)).toBe('temperature_f|');
    expect(featureField('temperature_f', undefined)).toBe('temperature_f|');
  });
});

describe('encodeValue / decodeValue', () => {
  it('is <timestamp>:<value>', () => {
    expect(encodeValue({ timestamp: 1_780_000_000_123, value: 0.5 })).toBe('1780000000123:0.5');
    expect(encodeValue({ timestamp: 5, value: -3e-7 })).toBe('5:-3e-7');
  });

  it('round-trips every integer timestamp and finite double exactly', () => {
    fc.assert(
      fc.property(
        fc.maxSafeInteger(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        (timestamp, value) => {
          const back = decodeValue(encodeValue({ timestamp, value }));
          expect(back).not.toBeNull();
          expect(back!.timestamp).toBe(timestamp);
          expect(Object.is(back!.value, value) || (value === 0 && back!.value === 0)).toBe(true);
        },
      ),
    );
  });

  it.each([null, undefined, '', '123', ':5', '12:', 'abc:1', '1.5:2', '12:x'])(
    'treats %j as missing',
    (s) => {
      expect(decodeValue(s)).toBeNull();
    },
  );
});

describe('newest by event time wins', () => {
  const v = (timestamp: number, value: number): OnlineValue => ({ timestamp, value });

  it('a newer or equal event time takes over; an older one does not', () => {
    expect(takesOver(v(10, 1), null)).toBe(true);
    expect(takesOver(v(11, 1), v(10, 2))).toBe(true);
    expect(takesOver(v(10, 1), v(10, 2))).toBe(true);
    expect(takesOver(v(9, 1), v(10, 2))).toBe(false);
  });

  it('an older value written after a newer one leaves the newer one', () => {
    expect(foldNewest([v(20, 2), v(10, 1)])).toEqual(v(20, 2));
    expect(foldNewest([])).toBeNull();
  });

  it('replaying a batch, in any order, after it changes nothing', () => {
    const arb = fc.array(fc.record({ timestamp: fc.integer({ min: 0, max: 50 }), value: fc.integer() }), {
      minLength: 1,
    });
    fc.assert(
      fc.property(arb, (batch) => {
        const once = foldNewest(batch);
        expect(foldNewest([...batch, ...batch])!.timestamp).toBe(once!.timestamp);
        // Whatever the arrival order, the result holds the latest event time.
        expect(foldNewest([...batch].reverse())!.timestamp).toBe(Math.max(...batch.map((b) => b.timestamp)));
      }),
    );
  });
});

describe('planWrites', () => {
  it('one script call per batch of values, in order; in a call one key and one JSON argument per entity', () => {
    const features = [
      feature({ entity_id: 'a', timestamp: 1, feature_value: 1 }),
      feature({ entity_id: 'b', timestamp: 2, feature_value: 2, window: '1h' }),
      feature({ entity_id: 'a', timestamp: 3, feature_value: 3, feature_name: 'temperature_f' }),
      feature({ entity_id: 'a', timestamp: 4, feature_value: 4 }),
    ];
    expect(planWrites('p:', features, 3600, 3)).toEqual([
      {
        keys: ['p:feat:a', 'p:feat:b'],
        args: [
          '3600',
          '0',
          '0',
          '2',
          JSON.stringify(['usage_frequency_7d|', '1:1', 0, 'temperature_f|', '3:3', 0]),
          JSON.stringify(['usage_frequency_7d|1h', '2:2', 0]),
        ],
      },
      {
        keys: ['p:feat:a'],
        args: ['3600', '0', '0', '1', JSON.stringify(['usage_frequency_7d|', '4:4', 0])],
      },
    ]);
    expect(planWrites('p:', [], 3600, 500)).toEqual([]);
  });

  it('a versioned feature names its versions set after the hashes, by KEYS index, each set once', () => {
    const versions = {
      columns: new Set(['out_scans@7d', 'available_stock']),
      horizonMs: 1000,
      maxVersions: 8,
    };
    const features = [
      feature({ entity_id: 'S1|T', feature_name: 'out_scans', window: '7d', timestamp: 5, feature_value: 2 }),
      feature({ entity_id: 'S1|T', feature_name: 'rentals', window: '7d', timestamp: 5, feature_value: 1 }),
      feature({ entity_id: 'S2|T', feature_name: 'available_stock', timestamp: 6, feature_value: 4 }),
      feature({ entity_id: 'S1|T', feature_name: 'out_scans', window: '7d', timestamp: 7, feature_value: 3 }),
    ];
    expect(planWrites('p:', features, 60, 500, versions)).toEqual([
      {
        keys: ['p:feat:S1|T', 'p:feat:S2|T', 'p:asof:S1|T#out_scans|7d', 'p:asof:S2|T#available_stock|'],
        args: [
          '60',
          '1000',
          '8',
          '2',
          JSON.stringify(['out_scans|7d', '5:2', 3, 'rentals|7d', '5:1', 0, 'out_scans|7d', '7:3', 3]),
          JSON.stringify(['available_stock|', '6:4', 4]),
        ],
      },
    ]);
    expect(versionKey('p:', 'S1|T', 'out_scans|7d')).toBe('p:asof:S1|T#out_scans|7d');
  });
});

describe('planAsOfReads / decodeAsOfReads', () => {
  const versions = { columns: new Set(['b@7d']), horizonMs: 1000, maxVersions: 8 };
  const refs = [{ name: 'a' }, { name: 'b', window: '7d' }];
  const points = [
    { entityId: 'x', time: 100 },
    { entityId: 'y', time: 200 },
    { entityId: 'x', time: 130 },
    { entityId: 'x', time: 120 },
  ];

  it('per entity: the HMGET of every ref, then per versioned ref the version at or before its earliest time and those up to its latest', () => {
    expect(planAsOfReads('p:', points, refs, versions)).toEqual([
      { kind: 'command', name: 'hmget', args: ['p:feat:x', 'a|', 'b|7d'] },
      { kind: 'command', name: 'zrevrangebyscore', args: ['p:asof:x#b|7d', 100, '-inf', 'LIMIT', 0, 1] },
      { kind: 'command', name: 'zrangebyscore', args: ['p:asof:x#b|7d', '(100', 130] },
      { kind: 'command', name: 'hmget', args: ['p:feat:y', 'a|', 'b|7d'] },
      { kind: 'command', name: 'zrevrangebyscore', args: ['p:asof:y#b|7d', 200, '-inf', 'LIMIT', 0, 1] },
    ]);
    // Without versions it is planReads, once per entity.
    expect(planAsOfReads('p:', points, refs, undefined)).toEqual(planReads('p:', ['x', 'y'], refs));
  });

  it('gives each point the newest version at or before its time, and the latest value where there is none', () => {
    const replies = [
      ['150:1', '150:9'],
      ['90:8'],
      ['110:5', '125:6'],
      ['180:2', '190:7'],
      [], // no version at or before 200 (expired, or refilled from the offline log): the latest stands
    ];
    expect(decodeAsOfReads(replies, points, refs, versions)).toEqual([
      [
        { timestamp: 150, value: 1 },
        { timestamp: 90, value: 8 },
      ],
      [
        { timestamp: 180, value: 2 },
        { timestamp: 190, value: 7 },
      ],
      [
        { timestamp: 150, value: 1 },
        { timestamp: 125, value: 6 },
      ],
      [
        { timestamp: 150, value: 1 },
        { timestamp: 110, value: 5 },
      ],
    ]);
  });
});
describe('planReads / decodeReads', () => {
  it('one HMGET per entity with every field, in ref order', () => {
    const cmds = planReads('p:', ['a', 'b'], [{ name: 'x' }, { name: 'y', window: '1d' }]);
    expect(cmds).toEqual([
      { kind: 'command', name: 'hmget', args: ['p:feat:a', 'x|', 'y|1d'] },
      { kind: 'command', name: 'hmget', args: ['p:feat:b', 'x|', 'y|1d'] },
    ]);
  });

  it('decodes replies, missing and unparsable fields as null', () => {
    expect(
      decodeReads(
        [
          ['1:2', null],
          [null, 'junk'],
          [Buffer.from('3:4'), '5:6'],
        ],
        2,
      ),
    ).toEqual([
      [{ timestamp: 1, value: 2 }, null],
      [null, null],
      [
        { timestamp: 3, value: 4 },
        { timestamp: 5, value: 6 },
      ],
    ]);
  });
});

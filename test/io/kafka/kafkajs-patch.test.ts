// The patched kafkajs (patches/kafkajs+2.2.4.patch): the producer's grouping of a send's messages by partition is one
// pass that keeps every message, in send order within its partition, as the original did in quadratic time; and a
// transactional producer looks its coordinators up once, not before every request of every transaction.
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultPartitioner } from '../../../src/io/kafka/partition.ts';

const require = createRequire(import.meta.url);
const groupMessagesPerPartition = require('kafkajs/src/producer/groupMessagesPerPartition.js') as (args: {
  topic: string;
  partitionMetadata: readonly { partitionId: number; leader: number }[];
  messages: readonly { key: string; value: string }[];
  partitioner: ReturnType<typeof defaultPartitioner>;
}) => Record<string, { key: string; value: string }[]>;

describe('kafkajs groupMessagesPerPartition (patched)', () => {
  it('puts every message in its partition, in send order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 8 }), { maxLength: 300 }),
        fc.integer({ min: 1, max: 8 }),
        (keys, n) => {
          const partitionMetadata = Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 0 }));
          const messages = keys.map((key, i) => ({ key, value: String(i) }));
          const partitioner = defaultPartitioner();
          const grouped = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner });
          const expected: Record<string, { key: string; value: string }[]> = {};
          for (const m of messages)
            (expected[partitioner({ topic: 't', partitionMetadata, message: m })] ??= []).push(m);
          expect(grouped).toEqual(expected);
        },
      ),
    );
  });

  it('gives nothing for a topic without partitions', () => {
    const grouped = groupMessagesPerPartition({
      topic: 't',
      partitionMetadata: [],
      messages: [{ key: 'k', value: 'v' }],
      partitioner: defaultPartitioner(),
    });
    expect(grouped).toEqual({});
  });
});

// Varlongs and varints as the Kafka protocol writes them (zigzag, then 7 bits a byte, low first), from BigInt
// arithmetic: the oracle for the patched encoder's number fast path and the decoder's.
const Encoder = require('kafkajs/src/protocol/encoder.js') as {
  new (): { writeVarLong(v: unknown): unknown; writeVarInt(v: number): unknown; buffer: Buffer };
  sizeOfVarLong(v: unknown): number;
};
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => {
  readVarLong(): { value: bigint };
  readVarInt(): number;
  offset: number;
};
const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: bigint | number | string): unknown };

function varlongBytes(v: bigint): number[] {
  let z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return out;
}

const int64 = fc.oneof(
  fc.bigInt({ min: -(2n ** 31n) - 2n, max: 2n ** 31n + 2n }),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.constantFrom(
    0n,
    -1n,
    63n,
    64n,
    -64n,
    -65n,
    2n ** 27n,
    2n ** 28n,
    -(2n ** 27n),
    2n ** 31n - 1n,
    -(2n ** 31n),
    2n ** 48n,
    -(2n ** 48n) - 1n,
    2n ** 51n - 1n,
    2n ** 51n,
    -(2n ** 51n),
    -(2n ** 51n) - 1n,
    2n ** 63n - 1n,
    -(2n ** 63n),
  ),
  fc.bigInt({ min: -(2n ** 52n), max: 2n ** 52n }),
);

describe('kafkajs varlongs and varints (patched)', () => {
  it('writes a varlong, given as a number or a Long, as the protocol does, and reads it back', () => {
    fc.assert(
      fc.property(int64, (v) => {
        const expected = varlongBytes(v);
        const inputs: unknown[] = [
          Long.fromValue(v),
          ...(Number.isSafeInteger(Number(v)) ? [Number(v)] : []),
        ];
        for (const input of inputs) {
          const e = new Encoder();
          e.writeVarLong(input);
          expect([...e.buffer]).toEqual(expected);
          expect(Encoder.sizeOfVarLong(input)).toBe(expected.length);
        }
        const d = new Decoder(Buffer.from([...expected, 0x2a]));
        expect(d.readVarLong().value).toBe(v);
        expect(d.offset).toBe(expected.length);
      }),
      { numRuns: 3_000 },
    );
  });

  it('writes a varint as the protocol does, and reads it back', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (v) => {
        const expected = varlongBytes(BigInt(v));
        const e = new Encoder();
        e.writeVarInt(v);
        expect([...e.buffer]).toEqual(expected);
        expect(new Decoder(Buffer.from(expected)).readVarInt()).toBe(v);
      }),
      { numRuns: 3_000 },
    );
  });
});

interface Failure {
  readonly request: string;
  readonly type: string;
}

/** A transactional producer's transaction manager over a fake cluster, counting the coordinator lookups. */
function eosOverFakeCluster() {
  const eosManager = require('kafkajs/src/producer/eosManager/index.js') as (args: unknown) => {
    initProducerId(): Promise<void>;
    beginTransaction(): void;
    addPartitionsToTransaction(topics: unknown[]): Promise<void>;
    sendOffsets(args: { consumerGroupId: string; topics: unknown[] }): Promise<void>;
    commit(): Promise<void>;
    abort(): Promise<void>;
  };
  const requests: string[] = [];
  const lookups: string[] = [];
  const state: { failNext: Failure | undefined } = { failNext: undefined };
  // The transaction coordinator and the group coordinator, each with a connection of its own.
  const fakeBroker = () => {
    const b = { connected: true, isConnected: () => b.connected } as Record<string, unknown> & {
      connected: boolean;
    };
    const request = (name: string, result: unknown = {}) => {
      b[name.charAt(0).toLowerCase() + name.slice(1)] = () => {
        requests.push(name);
        const f = state.failNext;
        if (f?.request !== name) return Promise.resolve(result);
        state.failNext = undefined;
        return Promise.reject(Object.assign(new Error(`${name} failed`), { type: f.type }));
      };
    };
    request('InitProducerId', { producerId: 7, producerEpoch: 0 });
    for (const name of ['AddPartitionsToTxn', 'AddOffsetsToTxn', 'TxnOffsetCommit', 'EndTxn']) request(name);
    return b;
  };
  const coordinators = { transaction: fakeBroker(), group: fakeBroker() };
  const cluster = {
    retry: { retries: 0 },
    refreshMetadataIfNecessary: () => Promise.resolve(),
    findGroupCoordinator: ({ groupId, coordinatorType }: { groupId: string; coordinatorType: number }) => {
      const kind = coordinatorType === 1 ? 'transaction' : 'group';
      lookups.push(`${kind}:${groupId}`);
      coordinators[kind].connected = true; // the cluster connects the broker it hands out
      return Promise.resolve(coordinators[kind]);
    },
  };
  const logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
  const eos = eosManager({ logger, cluster, transactional: true, transactionalId: 'tx-1' });
  const transaction = async () => {
    eos.beginTransaction();
    await eos.addPartitionsToTransaction([{ topic: 'out', partitions: [{ partition: 0 }] }]);
    await eos.sendOffsets({
      consumerGroupId: 'group-1',
      topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '1' }] }],
    });
    await eos.commit();
  };
  return { eos, state, requests, lookups, coordinators, transaction };
}

describe('kafkajs transaction coordinators (patched)', () => {
  it('looks each coordinator up once for many transactions', async () => {
    const { eos, requests, lookups, transaction } = eosOverFakeCluster();
    await eos.initProducerId();
    for (let i = 0; i < 3; i++) await transaction();
    expect(lookups).toEqual(['transaction:tx-1', 'group:group-1']);
    expect(requests.filter((r) => r === 'EndTxn')).toHaveLength(3);
    expect(requests.filter((r) => r === 'TxnOffsetCommit')).toHaveLength(3);
  });

  it('looks the transaction coordinator up again after a request to it failed', async () => {
    const { eos, state, lookups, transaction } = eosOverFakeCluster();
    await eos.initProducerId();
    await transaction();
    state.failNext = { request: 'AddOffsetsToTxn', type: 'NOT_COORDINATOR' };
    await expect(transaction()).rejects.toThrow('AddOffsetsToTxn failed');
    await eos.abort();
    expect(lookups).toEqual(['transaction:tx-1', 'group:group-1', 'transaction:tx-1']);
  });

  it('looks the group coordinator up again after an offset commit to it failed', async () => {
    const { eos, state, lookups, transaction } = eosOverFakeCluster();
    await eos.initProducerId();
    await transaction();
    // A retriable error: kafkajs retries on the same coordinator (no retries here), the next transaction looks it up.
    state.failNext = { request: 'TxnOffsetCommit', type: 'COORDINATOR_LOAD_IN_PROGRESS' };
    await expect(transaction()).rejects.toThrow();
    await eos.abort();
    await transaction();
    expect(lookups).toEqual(['transaction:tx-1', 'group:group-1', 'group:group-1']);
  });

  it('looks a coordinator up again once its connection has closed', async () => {
    const { eos, lookups, coordinators, transaction } = eosOverFakeCluster();
    await eos.initProducerId();
    await transaction();
    coordinators.group.connected = false;
    await transaction();
    coordinators.transaction.connected = false;
    await transaction();
    expect(lookups).toEqual(['transaction:tx-1', 'group:group-1', 'group:group-1', 'transaction:tx-1']);
  });
});

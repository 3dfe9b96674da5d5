// The patched kafkajs (patches/kafkajs+2.2.4.patch): the producer's grouping of a send's messages by partition is one
// pass that keeps every message, in send order within its partition, as the original did in quadratic time.
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

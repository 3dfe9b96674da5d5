// The kafkajs task assigner: partition p of every topic to the same member, the partition numbers dealt out to
// the members in turn, each partition to exactly one member.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createKafka } from '../../../src/io/kafka/client.ts';
import { taskAssignment } from '../../../src/io/kafka/kafkajs.ts';
import { createLogger } from '../../../src/log.ts';
import { testConfig } from '../../helpers/stack.ts';

describe('taskAssignment', () => {
  it('gives partition p of every topic to one member', () => {
    const a = taskAssignment(
      ['m-b', 'm-a'],
      new Map([
        ['scans', [0, 1, 2]],
        ['events', [2, 1, 0]],
        ['transactions', [0, 1]],
      ]),
    );
    expect(Object.fromEntries(a)).toEqual({
      'm-a': { scans: [0, 2], events: [0, 2], transactions: [0] },
      'm-b': { scans: [1], events: [1], transactions: [1] },
    });
  });

  it('assigns every partition exactly once, never splitting a partition number (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 5 }),
        (members, counts) => {
          const partitions = new Map(counts.map((n, i) => [`t${i}`, [...Array(n).keys()]]));
          const a = taskAssignment(members, partitions);
          expect([...a.keys()].sort()).toEqual([...members].sort());
          const owner = new Map<string, string>();
          const byNumber = new Map<number, string>();
          for (const [m, topics] of a)
            for (const [t, ps] of Object.entries(topics))
              for (const p of ps) {
                expect(owner.has(`${t}:${p}`)).toBe(false);
                owner.set(`${t}:${p}`, m);
                expect(byNumber.get(p) ?? m).toBe(m);
                byNumber.set(p, m);
              }
          expect(owner.size).toBe(counts.reduce((x, y) => x + y, 0));
        },
      ),
    );
  });

  it('reaches the runner: the client createKafka hands out says kafkajs assigns whole tasks', () => {
    // The guarded wrapper around every client once dropped the flag, and each partition kept its own producer.
    const kafka = createKafka(testConfig(), createLogger('task-assignment-test', 'silent'));
    expect(kafka.assignsTasks).toBe(true);
  });
});

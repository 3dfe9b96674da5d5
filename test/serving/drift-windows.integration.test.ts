// The drift window's Lua script on a real Redis against the in-process windows (memoryDriftWindows), batch by batch:
// the same rows held, the same counts, the same rows dropped in the same order (firstCrossing reads them), and the
// same rows counted where units repeat or are forgotten.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { command, type RedisClient } from '../../src/io/redis/client.ts';
import { UNIT_MEMORY_MS, memoryDriftWindows, redisDriftWindows } from '../../src/serving/drift.ts';
import { connectTestRedis, testConfig } from '../helpers/stack.ts';

const config = testConfig();
const prefix = `drift-windows-test:${randomUUID().slice(0, 8)}:`;
let redis: RedisClient;

beforeAll(async () => {
  redis = await connectTestRedis(config);
});

afterAll(async () => {
  const keys = await redis.pipeline([command('keys', `${prefix}*`)]);
  const list = (keys[0] as unknown[] | null) ?? [];
  if (list.length) await redis.pipeline([command('del', ...list.map(String))]);
  await redis.close();
});

describe('drift windows in Redis', () => {
  it('hold, count and drop the rows the in-process windows do', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.array(
            fc.tuple(
              fc.integer({ min: 0, max: 3 }),
              fc.integer({ min: 0, max: 4 }),
              // Units repeat (within and across batches); their times reach past the memory.
              fc.integer({ min: 0, max: 5 }),
              fc.integer({ min: 0, max: 3 }),
            ),
            { maxLength: 9 },
          ),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        fc.integer({ min: 1, max: 7 }),
        async (batches, size) => {
          const key = `k${run++}`;
          const shared = redisDriftWindows(redis, prefix);
          const local = memoryDriftWindows();
          for (const batch of batches) {
            const rows = batch.map(([a, b, unit, day]) => ({
              slots: `${a},${b}`,
              unit: `u${unit}`,
              time: day * (UNIT_MEMORY_MS / 2),
            }));
            const [got, want] = [await shared.add(key, rows, size), await local.add(key, rows, size)];
            expect(got.rows).toBe(want.rows);
            expect(new Map([...got.counts].sort())).toEqual(new Map([...want.counts].sort()));
            expect(got.evicted).toEqual(want.evicted);
            expect(got.added).toEqual(want.added);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

// The drift window's Lua script on a real Redis against the in-process windows (memoryDriftWindows), batch by batch:
// the same rows held, the same counts and the same rows dropped, in the same order (firstCrossing reads them).
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { command, type RedisClient } from '../../src/io/redis/client.ts';
import { memoryDriftWindows, redisDriftWindows } from '../../src/serving/drift.ts';
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
          fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 4 })), {
            maxLength: 9,
          }),
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
            const rows = batch.map(([a, b]) => `${a},${b}`);
            const inc = new Map<string, number>();
            for (const r of rows)
              r.split(',').forEach((slot, c) => inc.set(`${c}:${slot}`, (inc.get(`${c}:${slot}`) ?? 0) + 1));
            const [got, want] = [
              await shared.add(key, rows, inc, size),
              await local.add(key, rows, inc, size),
            ];
            expect(got.rows).toBe(want.rows);
            expect(new Map([...got.counts].sort())).toEqual(new Map([...want.counts].sort()));
            expect(got.evicted).toEqual(want.evicted);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

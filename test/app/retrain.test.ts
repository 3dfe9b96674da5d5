// The nightly retrain on a fake clock: off by default, runs at the configured time in its zone, logs what was
// promoted, and a failed run (a store down) is logged and the next night tries again.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import { startRetrain } from '../../src/app/retrain.ts';
import { TagstreamError } from '../../src/errors.ts';
import type { JobResult, TargetReport } from '../../src/ml/train/job.ts';
import { FakeClock } from '../../src/runtime/clock.ts';
import { FakeTimer, captureLog } from '../batch/fakes.ts';

const HOUR = 3_600_000;

describe('startRetrain', () => {
  it('is off unless serving.retrain.enabled', () => {
    const { log } = captureLog();
    expect(startRetrain(parseConfig({}), { log })).toBeUndefined();
  });

  it('trains nightly at the scheduled local time and keeps going after a failure', async () => {
    const config = parseConfig({
      serving: { retrain: { enabled: true, schedule: '0 3 * * *', timeZone: 'America/New_York' } },
    });
    const clock = new FakeClock(Date.UTC(2026, 5, 3, 12)); // 08:00 in New York
    const timer = new FakeTimer(clock);
    const { log, messages } = captureLog();
    const runs: number[] = [];
    let fail = true;
    const scheduler = startRetrain(config, {
      log,
      clock,
      timer,
      train: async (): Promise<JobResult> => {
        runs.push(clock.now());
        if (fail) {
          fail = false;
          throw new TagstreamError('MYSQL_UNAVAILABLE', 'MariaDB is down');
        }
        const report = { service: 'demand', promoted: true } as unknown as TargetReport;
        return { reports: [report], failures: [] };
      },
    })!;
    await timer.advance(2 * 24 * HOUR);
    await scheduler.stop();
    // 03:00 New York (EDT) = 07:00 UTC, on the next two days.
    expect(runs.map((t) => new Date(t).toISOString())).toEqual([
      '2026-06-04T07:00:00.000Z',
      '2026-06-05T07:00:00.000Z',
    ]);
    expect(messages()).toEqual(
      expect.arrayContaining([
        'retrain: promoted none; production kept for none; failed all (MYSQL_UNAVAILABLE: MariaDB is down)',
        'retrain: promoted demand; production kept for none',
      ]),
    );
  });
});

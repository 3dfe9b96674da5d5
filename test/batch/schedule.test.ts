// The scheduler on a fake clock and timer (no sleeping): cron times in a zone, one run per occurrence, never two
// runs of a collector at once, month-long waits in bounded timer steps, and a clean stop.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import type { CollectorName, RunResult } from '../../src/batch/collectors.ts';
import {
  MAX_TIMER_MS,
  Scheduler,
  describeRun,
  nextRun,
  nextRuns,
  validateSchedules,
  type ScheduledJob,
} from '../../src/batch/schedule.ts';
import { FakeClock } from '../../src/runtime/clock.ts';
import { thrownBy } from '../helpers/errors.ts';
import { FakeTimer, captureLog, flush } from './fakes.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const iso = (t: number): string => new Date(t).toISOString();

function result(name: CollectorName, ok = true): RunResult {
  return {
    collector: name,
    ok,
    range: { from: 0, to: 0 },
    rows: 1,
    published: 1,
    features: 3,
    durationMs: 5,
  };
}

describe('nextRuns', () => {
  it('gives the defaults: weather 06:00 daily, economic Monday 07:00, calendar the 1st 08:00, historical 02:30', () => {
    const config = parseConfig({});
    // Wednesday 2026-06-03 12:00 UTC.
    const runs = nextRuns(config, Date.UTC(2026, 5, 3, 12), 2);
    expect(runs.map((r) => [r.collector, r.schedule, r.at.map(iso)])).toEqual([
      ['weather', '0 6 * * *', ['2026-06-04T06:00:00.000Z', '2026-06-05T06:00:00.000Z']],
      ['economic', '0 7 * * 1', ['2026-06-08T07:00:00.000Z', '2026-06-15T07:00:00.000Z']],
      ['calendar', '0 8 1 * *', ['2026-07-01T08:00:00.000Z', '2026-08-01T08:00:00.000Z']],
      ['historical', '30 2 * * *', ['2026-06-04T02:30:00.000Z', '2026-06-05T02:30:00.000Z']],
    ]);
  });

  it('reads the schedules in collectors.timeZone, across a DST change', () => {
    const config = parseConfig({ collectors: { timeZone: 'America/New_York' } });
    // 2026-03-07 12:00 UTC; DST starts in New York on 2026-03-08.
    const [weather] = nextRuns(config, Date.UTC(2026, 2, 7, 12), 2);
    expect(weather!.at.map(iso)).toEqual(['2026-03-08T10:00:00.000Z', '2026-03-09T10:00:00.000Z']);
  });

  it('leaves out disabled collectors and uses configured schedules', () => {
    const config = parseConfig({
      collectors: { economic: { enabled: false }, weather: { schedule: '*/15 * * * *' } },
    });
    const runs = nextRuns(config, Date.UTC(2026, 5, 3, 12, 1), 1);
    expect(runs.map((r) => r.collector)).toEqual(['weather', 'calendar', 'historical']);
    expect(iso(runs[0]!.at[0]!)).toBe('2026-06-03T12:15:00.000Z');
  });

  it('an occurrence exactly at `from` is not the next one', () => {
    const t = Date.UTC(2026, 5, 3, 6);
    expect(iso(nextRun('0 6 * * *', t, 'UTC'))).toBe('2026-06-04T06:00:00.000Z');
    expect(iso(nextRun('0 6 * * *', t - 1, 'UTC'))).toBe('2026-06-03T06:00:00.000Z');
  });

  it('bad schedules and zones name their key', () => {
    expect(thrownBy(() => parseConfig({ collectors: { weather: { schedule: 'daily' } } })).message).toContain(
      'collectors.weather.schedule',
    );
    const e = thrownBy(() =>
      validateSchedules(
        parseConfig({ collectors: { timeZone: 'Mars/Olympus', historical: { schedule: '99 2 * * *' } } }),
      ),
    );
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.details['issues']).toEqual([
      'collectors.timeZone: "Mars/Olympus" is not an IANA time zone',
      expect.stringMatching(/^collectors\.historical\.schedule: "99 2 \* \* \*" is not a cron expression/),
    ]);
  });
});

/** A job whose runs finish only when the test says so. */
function controlledJob(name: CollectorName, schedule: string) {
  const runs: Array<{ finish: (ok?: boolean) => void }> = [];
  const job: ScheduledJob = {
    name,
    schedule,
    run: () =>
      new Promise<RunResult>((resolve) => {
        runs.push({ finish: (ok = true) => resolve(result(name, ok)) });
      }),
  };
  return { job, runs };
}

function setup(jobs: ScheduledJob[], start: number, timeZone = 'UTC') {
  const clock = new FakeClock(start);
  const timer = new FakeTimer(clock);
  const logs = captureLog();
  const done: RunResult[] = [];
  const scheduler = new Scheduler(jobs, {
    clock,
    timer,
    timeZone,
    log: logs.log,
    onRun: (r) => done.push(r),
  });
  return { clock, timer, logs, done, scheduler };
}

describe('Scheduler', () => {
  it('runs a job at each occurrence and logs it with counts and duration', async () => {
    const weather = controlledJob('weather', '0 6 * * *');
    const s = setup([weather.job], Date.UTC(2026, 5, 3, 5));
    s.scheduler.start();
    expect(iso(s.scheduler.nextDue('weather')!)).toBe('2026-06-03T06:00:00.000Z');
    await s.timer.advance(HOUR - 1);
    expect(weather.runs).toHaveLength(0);
    await s.timer.advance(1);
    expect(weather.runs).toHaveLength(1);
    expect(s.scheduler.isRunning('weather')).toBe(true);
    weather.runs[0]!.finish();
    await flush();
    expect(s.scheduler.isRunning('weather')).toBe(false);
    expect(s.done).toHaveLength(1);
    const line = s.logs.lines.find((l) => l.msg.startsWith('collector weather 1970-01-01'));
    expect(line).toMatchObject({ rows: 1, published: 1, features: 3, durationMs: 5 });
    await s.timer.advance(DAY);
    expect(weather.runs).toHaveLength(2);
    expect(iso(s.scheduler.nextDue('weather')!)).toBe('2026-06-05T06:00:00.000Z');
  });

  it('never runs a collector twice at once: an occurrence during a run is skipped and logged', async () => {
    const fast = controlledJob('historical', '*/10 * * * *');
    const s = setup([fast.job], Date.UTC(2026, 5, 3, 0, 5));
    s.scheduler.start();
    await s.timer.advance(5 * 60_000); // 00:10: starts
    expect(fast.runs).toHaveLength(1);
    await s.timer.advance(20 * 60_000); // 00:20 and 00:30 come while it runs
    expect(fast.runs).toHaveLength(1);
    expect(s.logs.messages(40)).toEqual([
      'collector historical: the run due at 2026-06-03T00:20:00.000Z is skipped; the previous run is still going',
      'collector historical: the run due at 2026-06-03T00:30:00.000Z is skipped; the previous run is still going',
    ]);
    fast.runs[0]!.finish();
    await flush();
    await s.timer.advance(10 * 60_000); // 00:40: runs again
    expect(fast.runs).toHaveLength(2);
  });

  it('collectors run independently of each other', async () => {
    const a = controlledJob('weather', '0 6 * * *');
    const b = controlledJob('historical', '30 2 * * *');
    const s = setup([a.job, b.job], Date.UTC(2026, 5, 3, 0));
    s.scheduler.start();
    await s.timer.advance(7 * HOUR);
    expect([a.runs.length, b.runs.length]).toEqual([1, 1]);
  });

  it('waits a month in bounded timer steps (setTimeout cannot take more than 24.8 days)', async () => {
    const calendar = controlledJob('calendar', '0 8 1 * *');
    const s = setup([calendar.job], Date.UTC(2026, 5, 1, 9));
    s.scheduler.start();
    expect(iso(s.scheduler.nextDue('calendar')!)).toBe('2026-07-01T08:00:00.000Z');
    await s.timer.advance(30 * DAY - 1 - HOUR);
    expect(calendar.runs).toHaveLength(0);
    await s.timer.advance(1);
    expect(calendar.runs).toHaveLength(1);
    expect(Math.max(...s.timer.delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
  });

  it('after a late wake-up (suspended machine) runs once, not once per missed occurrence', async () => {
    const weather = controlledJob('weather', '0 6 * * *');
    const s = setup([weather.job], Date.UTC(2026, 5, 3, 5));
    s.scheduler.start();
    // The clock jumps three days (to 06-06 05:00) while no timer fires; then the pending timer fires.
    s.clock.advance(3 * DAY);
    await s.timer.advance(0);
    expect(weather.runs).toHaveLength(1);
    weather.runs[0]!.finish();
    await flush();
    expect(s.logs.messages(40)).toEqual([]);
    expect(iso(s.scheduler.nextDue('weather')!)).toBe('2026-06-06T06:00:00.000Z');
    await s.timer.advance(HOUR);
    expect(weather.runs).toHaveLength(2);
  });

  it('a failed run is logged as a warning and the next occurrence still runs', async () => {
    const weather = controlledJob('weather', '0 6 * * *');
    const s = setup([weather.job], Date.UTC(2026, 5, 3, 5));
    s.scheduler.start();
    await s.timer.advance(HOUR);
    weather.runs[0]!.finish(false);
    await flush();
    expect(s.logs.lines.find((l) => l.level === 40)?.msg).toMatch(/^collector weather .*: FAILED/);
    await s.timer.advance(DAY);
    expect(weather.runs).toHaveLength(2);
  });

  it('stop clears the timers and waits for the run in progress', async () => {
    const weather = controlledJob('weather', '0 6 * * *');
    const s = setup([weather.job], Date.UTC(2026, 5, 3, 5));
    s.scheduler.start();
    await s.timer.advance(HOUR);
    let stopped = false;
    const stopping = s.scheduler.stop().then(() => (stopped = true));
    await flush();
    expect(stopped).toBe(false);
    expect(s.timer.pending).toBe(0);
    weather.runs[0]!.finish();
    await stopping;
    expect(stopped).toBe(true);
    await s.timer.advance(2 * DAY);
    expect(weather.runs).toHaveLength(1);
  });
});

describe('describeRun', () => {
  it('says the range, counts and duration, or that it failed', () => {
    const ok = { ...result('weather'), range: { from: 20605, to: 20607 } };
    expect(describeRun(ok)).toBe(
      'collector weather 2026-06-01..2026-06-03: 1 rows, 1 records to Kafka, 3 feature values in 5 ms',
    );
    expect(describeRun({ ...result('economic', false), features: 0 })).toBe(
      'collector economic 1970-01-01: FAILED (unknown) after 5 ms; 1 rows, 1 records to Kafka, 0 feature values',
    );
  });
});

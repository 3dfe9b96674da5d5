// A cron-like scheduler for the collectors (each enabled collector at the times its `collectors.<name>.schedule`
// names, in collectors.timeZone) and any other periodic job (the pipeline's nightly retrain). Clock and timer are
// injected, so tests drive it with a fake clock and never sleep. A job runs at most once at a time: an occurrence
// that comes while the previous run is still going is skipped (and logged). After a late wake-up (a suspended
// machine) a job runs once, not once per missed occurrence.
import { CronExpressionParser } from 'cron-parser';
import type { Config } from '../../config/schema.ts';
import { TagstreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Clock } from '../runtime/clock.ts';
import { COLLECTOR_NAMES, type CollectorName, type RunResult } from './collectors.ts';
import { isoDay } from './records.ts';

export interface Timer {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const systemTimer: Timer = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Longest single timer: setTimeout overflows past 2^31 - 1 ms (24.8 days), less than a month, so a long wait is
 * taken in steps and the due time checked on each wake-up (which also absorbs a clock that jumped).
 */
export const MAX_TIMER_MS = 6 * 3_600_000;

/** The first time strictly after `from` that the cron expression matches in `timeZone`. */
export function nextRun(schedule: string, from: number, timeZone: string): number {
  return CronExpressionParser.parse(schedule, { currentDate: new Date(from), tz: timeZone })
    .next()
    .getTime();
}

/** Checks every collector's schedule and the time zone; the error names the failing key. */
export function validateSchedules(config: Config): void {
  const tz = config.collectors.timeZone;
  const issues: string[] = [];
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    issues.push(`collectors.timeZone: ${JSON.stringify(tz)} is not an IANA time zone`);
  }
  for (const name of COLLECTOR_NAMES) {
    const schedule = config.collectors[name].schedule;
    try {
      CronExpressionParser.parse(schedule, { strict: false });
    } catch (e) {
      issues.push(
        `collectors.${name}.schedule: ${JSON.stringify(schedule)} is not a cron expression (${(e as Error).message})`,
      );
    }
  }
  if (issues.length > 0)
    throw new TagstreamError('CONFIG_INVALID', `invalid configuration:\n  ${issues.join('\n  ')}`, {
      details: { issues },
    });
}

export interface PlannedRuns {
  readonly collector: CollectorName;
  readonly schedule: string;
  /** The next `count` times, ms since epoch. */
  readonly at: readonly number[];
}

/** The next `count` run times of every enabled collector after `from`. */
export function nextRuns(config: Config, from: number, count = 1): PlannedRuns[] {
  validateSchedules(config);
  const tz = config.collectors.timeZone;
  return COLLECTOR_NAMES.filter((name) => config.collectors[name].enabled).map((name) => {
    const schedule = config.collectors[name].schedule;
    const at: number[] = [];
    let t = from;
    for (let i = 0; i < count; i++) {
      t = nextRun(schedule, t, tz);
      at.push(t);
    }
    return { collector: name, schedule, at };
  });
}

export interface ScheduledJob<R = RunResult> {
  readonly name: string;
  readonly schedule: string;
  readonly run: () => Promise<R>;
}

/** How a finished run is logged: ok or not, its line, and structured fields. */
export interface RunReport {
  readonly ok: boolean;
  readonly line: string;
  readonly fields: Record<string, unknown>;
}

export interface SchedulerOptions<R = RunResult> {
  readonly clock: Clock;
  readonly timer: Timer;
  readonly timeZone: string;
  readonly log: Logger;
  readonly maxTimerMs?: number;
  /** Called after each run (tests, metrics). */
  readonly onRun?: (result: R) => void;
  /** What the jobs are called in log lines (default `collector`). */
  readonly kind?: string;
  /** Default: describeRun of a collector's RunResult. */
  readonly report?: (result: R) => RunReport;
}

interface JobState {
  due: number;
  handle: unknown;
  running: Promise<void> | null;
}

export function describeRun(r: RunResult): string {
  const range =
    r.range.from === r.range.to ? isoDay(r.range.from) : `${isoDay(r.range.from)}..${isoDay(r.range.to)}`;
  const counts = `${r.rows} rows, ${r.published} records to Kafka, ${r.features} feature values`;
  return r.ok
    ? `collector ${r.collector} ${range}: ${counts} in ${r.durationMs} ms`
    : `collector ${r.collector} ${range}: FAILED (${r.error?.code ?? 'unknown'}) after ${r.durationMs} ms; ${counts}`;
}

const collectorReport = (r: RunResult): RunReport => ({
  ok: r.ok,
  line: describeRun(r),
  fields: {
    rows: r.rows,
    published: r.published,
    features: r.features,
    durationMs: r.durationMs,
    ...(r.ok ? {} : { code: r.error?.code }),
  },
});

export class Scheduler<R = RunResult> {
  private readonly states = new Map<string, JobState>();
  private stopped = true;
  private readonly kind: string;
  private readonly report: (result: R) => RunReport;

  constructor(
    private readonly jobs: readonly ScheduledJob<R>[],
    private readonly options: SchedulerOptions<R>,
  ) {
    this.kind = options.kind ?? 'collector';
    this.report = options.report ?? (collectorReport as unknown as (r: R) => RunReport);
  }

  /** Arms a timer per job. */
  start(): void {
    this.stopped = false;
    const now = this.options.clock.now();
    for (const job of this.jobs) {
      const state: JobState = {
        due: nextRun(job.schedule, now, this.options.timeZone),
        handle: null,
        running: null,
      };
      this.states.set(job.name, state);
      this.options.log.info(
        { [this.kind]: job.name, schedule: job.schedule, next: new Date(state.due).toISOString() },
        `${this.kind} ${job.name}: next run ${new Date(state.due).toISOString()}`,
      );
      this.arm(job, state);
    }
  }

  /** The next due time of a job (ms), undefined before start. */
  nextDue(name: string): number | undefined {
    return this.states.get(name)?.due;
  }

  isRunning(name: string): boolean {
    return this.states.get(name)?.running != null;
  }

  /** Clears the timers and waits for runs in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.states.values()) if (s.handle !== null) this.options.timer.clear(s.handle);
    await Promise.all([...this.states.values()].map((s) => s.running));
  }

  private arm(job: ScheduledJob<R>, state: JobState): void {
    const wait = Math.max(0, state.due - this.options.clock.now());
    state.handle = this.options.timer.set(
      () => this.wake(job, state),
      Math.min(wait, this.options.maxTimerMs ?? MAX_TIMER_MS),
    );
  }

  private wake(job: ScheduledJob<R>, state: JobState): void {
    state.handle = null;
    if (this.stopped) return;
    const now = this.options.clock.now();
    if (now < state.due) {
      this.arm(job, state);
      return;
    }
    if (state.running) {
      this.options.log.warn(
        { [this.kind]: job.name, due: new Date(state.due).toISOString() },
        `${this.kind} ${job.name}: the run due at ${new Date(state.due).toISOString()} is skipped; the previous run is still going`,
      );
    } else {
      state.running = this.runOnce(job).finally(() => {
        state.running = null;
      });
    }
    state.due = nextRun(job.schedule, now, this.options.timeZone);
    this.arm(job, state);
  }

  private async runOnce(job: ScheduledJob<R>): Promise<void> {
    const { log } = this.options;
    try {
      const result = await job.run();
      const r = this.report(result);
      if (r.ok) log.info({ [this.kind]: job.name, ...r.fields }, r.line);
      else log.warn({ [this.kind]: job.name, ...r.fields }, r.line);
      this.options.onRun?.(result);
    } catch (e) {
      // Jobs report their failures in their result; anything thrown here is a bug, and the next occurrence still runs.
      log.error({ [this.kind]: job.name, err: e }, `${this.kind} ${job.name}: run crashed`);
    }
  }
}

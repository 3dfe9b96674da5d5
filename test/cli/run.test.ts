// runUntilStopped (src/cli/run.ts) with a fake process and vitest's fake timers: a stop on SIGTERM exits 0 once the
// job has stopped; a job whose stop never finishes is given up on after twice the shutdown timeout (exit 1,
// SHUTDOWN_TIMEOUT); a failed job is stopped within the timeout and exits 1 with one fatal line.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runUntilStopped, type JobLifecycle, type ProcessHost } from '../../src/cli/run.ts';
import type { RunningJob } from '../../src/app/job.ts';
import { TagstreamError } from '../../src/errors.ts';
import { captureLog } from '../batch/fakes.ts';

const TIMEOUT_MS = 1_000;

/** A process whose signals the test sends and whose exits it records. */
function fakeProcess() {
  const handlers = new Map<string, (signal: string) => void>();
  const exits: Array<number | undefined> = [];
  const host: ProcessHost = {
    onceSignal: (signal, handler) => void handlers.set(signal, handler),
    exit: (code) => {
      exits.push(code);
      return undefined as never;
    },
  };
  return { host, exits, signal: (s: string) => handlers.get(s)?.(s) };
}

/** A job whose stop takes `stopMs` (never when Infinity) and which fails when `fail` is called. */
function fakeJob(stopMs: number) {
  let fail: (e: Error) => void = () => undefined;
  const stops: number[] = [];
  const job = {
    failure: new Promise<Error>((resolve) => (fail = resolve)),
    stop: () => {
      stops.push(Date.now());
      return Number.isFinite(stopMs)
        ? new Promise<void>((resolve) => setTimeout(resolve, stopMs))
        : new Promise<void>(() => undefined);
    },
  } as unknown as RunningJob;
  return { job, stops, fail: (e: Error) => fail(e) };
}

function lifecycle(): { o: JobLifecycle; lines: ReturnType<typeof captureLog>['lines'] } {
  const { log, lines } = captureLog();
  return {
    o: { log, stoppingMessage: 'stopping', what: 'pipeline', shutdownTimeoutMs: TIMEOUT_MS },
    lines,
  };
}

describe('runUntilStopped', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('exits 0 once the job has stopped after SIGTERM', async () => {
    const p = fakeProcess();
    const j = fakeJob(300);
    const { o, lines } = lifecycle();
    void runUntilStopped(Promise.resolve(j.job), o, p.host);
    await vi.advanceTimersByTimeAsync(0);
    p.signal('SIGTERM');
    await vi.advanceTimersByTimeAsync(299);
    expect(p.exits).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(p.exits).toEqual([undefined]);
    expect(j.stops).toHaveLength(1);
    expect(lines.map((l) => l.msg)).toContain('stopping');
  });

  it('gives up on a stop that never finishes after twice the shutdown timeout: exit 1, SHUTDOWN_TIMEOUT', async () => {
    const p = fakeProcess();
    const j = fakeJob(Infinity);
    const { o, lines } = lifecycle();
    void runUntilStopped(Promise.resolve(j.job), o, p.host);
    await vi.advanceTimersByTimeAsync(0);
    p.signal('SIGINT');
    await vi.advanceTimersByTimeAsync(2 * TIMEOUT_MS - 1);
    expect(p.exits).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(p.exits[0]).toBe(1);
    const unclean = lines.find((l) => l.msg === 'unclean stop') as { err?: { code?: string } } | undefined;
    expect(unclean?.err?.code).toBe('SHUTDOWN_TIMEOUT');
  });

  it('waits for a job still starting, then stops it', async () => {
    const p = fakeProcess();
    const j = fakeJob(0);
    const { o } = lifecycle();
    let started: (job: RunningJob) => void = () => undefined;
    void runUntilStopped(new Promise<RunningJob>((resolve) => (started = resolve)), o, p.host);
    p.signal('SIGTERM');
    await vi.advanceTimersByTimeAsync(500);
    expect(j.stops).toHaveLength(0);
    started(j.job);
    await vi.advanceTimersByTimeAsync(0);
    expect(j.stops).toHaveLength(1);
    expect(p.exits).toEqual([undefined]);
  });

  it('stops a failed job within the shutdown timeout and exits 1 with one fatal line', async () => {
    const p = fakeProcess();
    const j = fakeJob(Infinity);
    const { o, lines } = lifecycle();
    const done = runUntilStopped(Promise.resolve(j.job), o, p.host);
    await vi.advanceTimersByTimeAsync(0);
    j.fail(new TagstreamError('KAFKA_AUTH_FAILED', 'the broker refused the login'));
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
    expect(p.exits).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await done;
    expect(p.exits).toEqual([1]);
    expect(j.stops).toHaveLength(1);
    const fatal = lines.filter((l) => l.level === 60).map((l) => l.msg);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toContain('pipeline failed (KAFKA_AUTH_FAILED)');
  });
});

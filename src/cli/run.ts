// Runs a CLI action: our coded errors print as one clear line with their code; anything else prints its stack. And
// runs a long-lived job until a signal or its failure (runJob, runUntilStopped).
import type { Config } from '../../config/schema.ts';
import { startJob, type JobParts, type RunningJob } from '../app/job.ts';
import { TagstreamError, isTagstreamError } from '../errors.ts';
import { loggerFor, type Logger } from '../log.ts';
import { withDeadline } from '../runtime/deadline.ts';

export async function runCli(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (e) {
    if (isTagstreamError(e)) console.error(`error [${e.code}]: ${e.message}`);
    else console.error(e);
    process.exitCode = 1;
  }
}

export interface JobLifecycle {
  readonly log: Logger;
  /** What the log says on SIGINT/SIGTERM before stopping. */
  readonly stoppingMessage: string;
  /** What the fatal line calls what failed (`pipeline`, `prediction sink`). */
  readonly what: string;
  /** Bound on the stop after a failure (pipeline.shutdownTimeoutMs). */
  readonly shutdownTimeoutMs: number;
  /** Called once the job has started (where it serves, say). */
  readonly started?: (job: RunningJob, log: Logger) => void;
  /** Called after a clean stop on a signal. */
  readonly stopped?: (log: Logger) => void;
}

/**
 * Starts the job's `parts` with a logger for `component` and runs it until stopped (runUntilStopped), its stop after a
 * failure bounded by pipeline.shutdownTimeoutMs: what `npm run pipeline` and `npm run api` do.
 */
export function runJob(
  config: Config,
  component: string,
  parts: JobParts,
  o: Omit<JobLifecycle, 'log' | 'shutdownTimeoutMs' | 'stopped'> & {
    readonly stopped?: (log: Logger) => void;
  },
): Promise<never> {
  const log = loggerFor(config, component);
  // Signals are handled from the first moment: a stop during start-up waits for it, then stops cleanly.
  return runUntilStopped(startJob(config, parts, { log }), {
    ...o,
    log,
    shutdownTimeoutMs: config.pipeline.shutdownTimeoutMs,
  });
}

/** What runUntilStopped needs of the process: its stop signals and its exit (a fake in tests). */
export interface ProcessHost {
  onceSignal(signal: 'SIGINT' | 'SIGTERM', handler: (signal: string) => void): void;
  /** Exits with `code`, or with process.exitCode as it stands when `code` is undefined. */
  exit(code?: number): never;
}

const nodeProcess: ProcessHost = {
  onceSignal: (signal, handler) => process.once(signal, handler),
  exit: (code) => process.exit(code),
};

/**
 * Runs a starting job until SIGINT/SIGTERM (a clean stop, exit 0; 1 when the stop was unclean) or its failure (a
 * consumer crashed for good, or met an error no retry fixes: a refused login, a missing grant). On a failure the
 * other consumers stop too, within the shutdown timeout (leaving their groups, so a restart gets the partitions at
 * once), one line says the code and what to do, and the process exits 1; the failed batch was not committed. One
 * stop, whichever asks first; signals are handled from the first moment (a stop during start-up waits for it).
 */
export async function runUntilStopped(
  starting: Promise<RunningJob>,
  o: JobLifecycle,
  host: ProcessHost = nodeProcess,
): Promise<never> {
  let stopping: Promise<void> | undefined;
  const stopJob = (): Promise<void> => (stopping ??= starting.then((job) => job.stop()));
  /** The job's stop, given up on (SHUTDOWN_TIMEOUT) after `ms`: a part that never finishes cannot keep the process. */
  const stopWithin = (ms: number, then: string): Promise<void> =>
    withDeadline(
      stopJob(),
      ms,
      () => new TagstreamError('SHUTDOWN_TIMEOUT', `stopping took longer than ${ms} ms${then}`),
    );
  const stop = async (signal: string): Promise<void> => {
    o.log.info({ signal }, o.stoppingMessage);
    let code: number | undefined;
    try {
      // Each consumer's stop is bounded by the shutdown timeout; the job's as a whole by twice it (the stores and
      // clients are closed after the consumers).
      await stopWithin(
        2 * o.shutdownTimeoutMs,
        ' (twice pipeline.shutdownTimeoutMs); exiting: what was not committed is processed again at the next start',
      );
      o.stopped?.(o.log);
    } catch (e) {
      o.log.error({ err: e }, 'unclean stop');
      code = 1;
    }
    host.exit(code);
  };
  host.onceSignal('SIGINT', (s) => void stop(s));
  host.onceSignal('SIGTERM', (s) => void stop(s));
  const job = await starting;
  o.started?.(job, o.log);
  const error = await job.failure;
  await stopWithin(o.shutdownTimeoutMs, '').catch((e: unknown) => o.log.warn({ err: e }, 'unclean stop'));
  // One line: the code, what to do, then the error's message (what to change) and its cause.
  o.log.fatal(
    { err: error },
    `${o.what} failed${isTagstreamError(error) ? ` (${error.code})` : ''}; fix the cause and restart: ` +
      'what failed was not committed and is processed again, committed work is not repeated',
  );
  return host.exit(1);
}

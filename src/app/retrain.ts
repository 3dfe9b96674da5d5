// The nightly retrain inside a running pipeline: at the times serving.retrain.schedule names (cron, in
// serving.retrain.timeZone) the training job runs on the history collected so far; a candidate that passes the gate is
// promoted and announced on models.versions, and every running instance (this one included) swaps it in.
import type { Config } from '../../config/schema.ts';
import { Scheduler, systemTimer } from '../batch/schedule.ts';
import { toTagstreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { summaryLines, type JobResult } from '../ml/train/job.ts';
import { trainWithConfig } from '../ml/train/run.ts';
import { systemClock, type Clock } from '../runtime/clock.ts';
import type { Timer } from '../batch/schedule.ts';

export interface RetrainOptions {
  readonly log: Logger;
  readonly clock?: Clock;
  readonly timer?: Timer;
  /** Default: trainWithConfig on the whole history with the standard choices. */
  readonly train?: () => Promise<JobResult>;
}

/** A started scheduler, or undefined when serving.retrain.enabled is false. */
export function startRetrain(config: Config, options: RetrainOptions): Scheduler<JobResult> | undefined {
  const { retrain } = config.serving;
  if (!retrain.enabled) return undefined;
  const log = options.log.child({ component: 'retrain' });
  const train =
    options.train ??
    (async () => {
      const result = await trainWithConfig(config, {}, { log, progress: (line) => log.debug(line) });
      for (const line of summaryLines(result)) log.info(line);
      return result;
    });
  const scheduler = new Scheduler<JobResult>(
    [
      {
        name: 'models',
        schedule: retrain.schedule,
        run: async () => {
          try {
            return await train();
          } catch (e) {
            // A store or registry that is down: reported like a failed service, and the next night tries again.
            return { reports: [], failures: [{ service: 'all', error: toTagstreamError(e) }] };
          }
        },
      },
    ],
    {
      clock: options.clock ?? systemClock,
      timer: options.timer ?? systemTimer,
      timeZone: retrain.timeZone,
      log,
      kind: 'retrain',
      report: (r) => ({
        ok: r.failures.length === 0,
        line: retrainLine(r),
        fields: {
          promoted: r.reports.filter((x) => x.promoted).map((x) => x.service),
          kept: r.reports.filter((x) => !x.promoted).map((x) => x.service),
          failed: r.failures.map((f) => f.service),
        },
      }),
    },
  );
  scheduler.start();
  return scheduler;
}

/** One line: what was promoted, kept (the gate said no) and what failed. */
export function retrainLine(r: JobResult): string {
  const list = (xs: readonly string[]): string => (xs.length ? xs.join(', ') : 'none');
  return (
    `retrain: promoted ${list(r.reports.filter((x) => x.promoted).map((x) => x.service))}; ` +
    `production kept for ${list(r.reports.filter((x) => !x.promoted).map((x) => x.service))}` +
    (r.failures.length
      ? `; failed ${r.failures.map((f) => `${f.service} (${f.error.code}: ${f.error.message})`).join(', ')}`
      : '')
  );
}

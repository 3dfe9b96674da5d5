// `npm run collect -- run|schedule|next`: the batch collectors (weather, economic, calendar, historical) once, on
// their cron schedules until Ctrl-C, or a list of their next run times.
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../../config/load.ts';
import {
  COLLECTOR_NAMES,
  defaultRange,
  isCollectorName,
  manualRange,
  runCollector,
  type CollectorName,
  type RunResult,
} from '../batch/collectors.ts';
import { isoDay, parseIsoDay } from '../batch/records.ts';
import { createCollectorRuntime } from '../batch/runtime.ts';
import { Scheduler, describeRun, nextRuns, systemTimer, validateSchedules } from '../batch/schedule.ts';
import { TagstreamError } from '../errors.ts';
import { migrate } from '../io/mysql/migrate.ts';
import { loggerFor } from '../log.ts';
import { systemClock } from '../runtime/clock.ts';
import { runCli } from './run.ts';
import { withLogOptions } from './args.ts';

const say = (line: string): void => console.log(line);

function dayArg(value: string): number {
  const d = parseIsoDay(value);
  if (d === undefined) throw new InvalidArgumentError('expected a date YYYY-MM-DD');
  return d;
}

function summary(results: readonly RunResult[], ms: number): string {
  const ok = results.filter((r) => r.ok).length;
  const total = (k: 'rows' | 'published' | 'features') => results.reduce((a, r) => a + r[k], 0);
  return (
    `${ok} of ${results.length} collector run(s) succeeded in ${(ms / 1000).toFixed(1)} s: ` +
    `${total('rows')} rows, ${total('published')} records to Kafka, ${total('features')} feature values`
  );
}

const program = new Command('collect')
  .description(
    'Batch collectors: weather (daily), economic (weekly), calendar (monthly) from a file or HTTP provider to ' +
      'external.* and the feature store, and historical (nightly) aggregates of id_item_master and id_transactions ' +
      'into the feature store. Configuration: collectors.* (TAGSTREAM_CONFIG, TAGSTREAM__collectors__...).',
  )
  .showHelpAfterError();

const sourceDirOption = () =>
  new Option(
    '--source-dir <dir>',
    'folder of weather.jsonl, economic.jsonl, calendar.jsonl (default: collectors.sourceDir)',
  );

program
  .command('run')
  .description(
    'run one collector, or all enabled ones, once. Default range: the scheduled one, [today - lookbackDays, ' +
      'today + aheadDays] in collectors.timeZone; historical writes one snapshot per day of the range (default today).',
  )
  .argument('<collector>', `${COLLECTOR_NAMES.join(' | ')} | all`)
  .addOption(new Option('--from <YYYY-MM-DD>', 'first day of the range').argParser(dayArg))
  .addOption(new Option('--to <YYYY-MM-DD>', 'last day of the range (inclusive)').argParser(dayArg))
  .addOption(sourceDirOption())
  .action((which: string, opts: { from?: number; to?: number; sourceDir?: string }) =>
    runCli(async () => {
      const config = loadConfig();
      if (which !== 'all' && !isCollectorName(which))
        throw new TagstreamError(
          'CONFIG_INVALID',
          `unknown collector ${which}: expected ${COLLECTOR_NAMES.join(', ')} or all`,
        );
      const names: CollectorName[] =
        which === 'all'
          ? COLLECTOR_NAMES.filter((n) => config.collectors[n].enabled)
          : [which as CollectorName];
      const now = systemClock.now();
      const ranges = names.map((n) => [n, manualRange(n, config, now, opts)] as const);
      const log = loggerFor(config, 'collect');
      const started = Date.now();
      await migrate(config.mysql.url);
      const runtime = await createCollectorRuntime(config, {
        log,
        ...(opts.sourceDir === undefined ? {} : { sourceDir: opts.sourceDir }),
      });
      const results: RunResult[] = [];
      try {
        for (const [name, range] of ranges) {
          say(
            `${name}: collecting ${isoDay(range.from)}..${isoDay(range.to)} from ${runtime.deps.providers[name].name}`,
          );
          const result = await runCollector(name, range, runtime.deps);
          say(`  ${describeRun(result)}`);
          if (!result.ok && result.error) say(`  error [${result.error.code}]: ${result.error.message}`);
          results.push(result);
        }
      } finally {
        await runtime.close();
      }
      say(summary(results, Date.now() - started));
      if (results.some((r) => !r.ok)) process.exitCode = 1;
    }),
  );

program
  .command('schedule')
  .description(
    'run the enabled collectors on their collectors.<name>.schedule cron strings (collectors.timeZone) until Ctrl-C',
  )
  .addOption(sourceDirOption())
  .action((opts: { sourceDir?: string }) =>
    runCli(async () => {
      const config = loadConfig();
      validateSchedules(config);
      const log = loggerFor(config, 'collect');
      await migrate(config.mysql.url);
      const runtime = await createCollectorRuntime(config, {
        log,
        ...(opts.sourceDir === undefined ? {} : { sourceDir: opts.sourceDir }),
      });
      const names = COLLECTOR_NAMES.filter((n) => config.collectors[n].enabled);
      const scheduler = new Scheduler(
        names.map((name) => ({
          name,
          schedule: config.collectors[name].schedule,
          run: () => runCollector(name, defaultRange(name, config, systemClock.now()), runtime.deps),
        })),
        {
          clock: systemClock,
          timer: systemTimer,
          timeZone: config.collectors.timeZone,
          log,
          onRun: (r) => say(describeRun(r)),
        },
      );
      scheduler.start();
      for (const name of names)
        say(
          `${name.padEnd(10)} ${config.collectors[name].schedule.padEnd(12)} next ${new Date(scheduler.nextDue(name)!).toISOString()}`,
        );
      say('scheduler running; Ctrl-C stops it after the runs in progress');
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          log.info({ signal }, 'stopping the scheduler');
          void scheduler
            .stop()
            .then(() => runtime.close())
            .then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    }),
  );

program
  .command('next')
  .description('print the next run times of the enabled collectors')
  .addOption(
    new Option('-n, --count <n>', 'runs per collector').default(3).argParser((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
      return n;
    }),
  )
  .action((opts: { count: number }) =>
    runCli(async () => {
      const config = loadConfig();
      validateSchedules(config);
      const tz = config.collectors.timeZone;
      const fmt = new Intl.DateTimeFormat('sv-SE', {
        timeZone: tz,
        dateStyle: 'short',
        timeStyle: 'short',
      });
      say(`next runs, times in ${tz}:`);
      const when = (t: number): string =>
        tz === 'UTC' ? fmt.format(t) : `${fmt.format(t)} (${new Date(t).toISOString().slice(0, 16)}Z)`;
      for (const p of nextRuns(config, systemClock.now(), opts.count))
        say(`${p.collector.padEnd(10)} ${p.schedule.padEnd(12)} ${p.at.map(when).join(', ')}`);
    }),
  );

withLogOptions(program);
await program.parseAsync();

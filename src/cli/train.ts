// `npm run train`: the training job (labels from id_transactions, point-in-time frames from the feature store,
// time-ordered CV, the validation gate, registry and ml_model_performance), and `train backfill`, which fills
// id_transactions and ml_feature_store from a simulator run through the pipeline's own operators.
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { TagstreamError } from '../errors.ts';
import { migrate } from '../io/mysql/migrate.ts';
import { createSql, redactUrl } from '../io/mysql/pool.ts';
import { loggerFor } from '../log.ts';
import { backfillFromSim } from '../ml/train/backfill.ts';
import { demandCeiling, maintenanceCeiling } from '../ml/train/ground-truth.ts';
import {
  DEFAULT_HOLDOUT_DAYS,
  DEFAULT_K,
  TRAIN_SERVICES,
  summaryLines,
  type TrainService,
} from '../ml/train/job.ts';
import { trainWithConfig } from '../ml/train/run.ts';
import { dateArg, int, withLogOptions } from './args.ts';
import { runCli } from './run.ts';

const say = (line: string): void => console.log(line);
const DAY_MS = 86_400_000;

const fraction = (text: string): number => {
  const x = Number(text);
  if (text.trim() === '' || !(x >= 0 && x < 1)) throw new InvalidArgumentError('expected a number in [0, 1)');
  return x;
};

function servicesOf(which: string): TrainService[] {
  if (which === 'all') return [...TRAIN_SERVICES];
  if ((TRAIN_SERVICES as readonly string[]).includes(which)) return [which as TrainService];
  throw new TagstreamError(
    'CONFIG_INVALID',
    `--service ${which}: expected ${TRAIN_SERVICES.join(', ')} or all`,
  );
}

interface TrainOpts {
  service: string;
  from?: number;
  to?: number;
  promote: boolean;
  requireGate: boolean;
  holdoutDays: number;
  k?: number;
  folds: number;
  seed: number;
  grid: 'default' | 'small';
  minImprovement: number;
}

async function train(opts: TrainOpts): Promise<void> {
  const config: Config = loadConfig();
  const services = servicesOf(opts.service);
  const log = loggerFor(config, 'train');
  await migrate(config.mysql.url);
  const started = Date.now();
  say(`training ${services.join(', ')} on ${redactUrl(config.mysql.url)}`);
  const result = await trainWithConfig(
    config,
    {
      services,
      ...(opts.from === undefined ? {} : { from: opts.from }),
      ...(opts.to === undefined ? {} : { to: opts.to + DAY_MS }),
      holdoutDays: opts.holdoutDays,
      ...(opts.k === undefined ? {} : { k: opts.k }),
      folds: opts.folds,
      seed: opts.seed,
      grid: opts.grid,
      promote: opts.promote,
      minImprovement: opts.minImprovement,
    },
    { log, progress: say },
  );
  say('');
  say(`summary (${((Date.now() - started) / 1000).toFixed(0)} s):`);
  for (const line of summaryLines(result)) say(line);
  const failed = result.reports.filter((r) => !r.gate.pass);
  if (opts.requireGate && failed.length > 0) {
    console.error(`gate failed for ${failed.map((r) => r.service).join(', ')} (--require-gate)`);
    process.exitCode = 1;
  }
  if (result.failures.length > 0) process.exitCode = 1;
}

const program = new Command('train')
  // Options after a subcommand's name are the subcommand's (`ceiling --k 7`), not the training run's.
  .enablePositionalOptions()
  .description(
    'Train the demand (next day and next 7 days), maintenance and quality models: labels from id_transactions, ' +
      'features as of each label time from ml_feature_store, time-ordered CV over linear/logistic, random forest and ' +
      'gradient boosting, then the validation gate on the last --holdout-days days: a candidate is promoted (and ' +
      'announced on models.versions) only if it beats the naive baseline and is not worse than production. Every ' +
      'model is logged to ml_model_performance. Uses MYSQL_URL, REDIS_URL, KAFKA_BROKERS, SCHEMA_REGISTRY_URL.',
  )
  .addOption(new Option('--service <name>', `${TRAIN_SERVICES.join(' | ')} | all`).default('all'))
  .addOption(new Option('--from <YYYY-MM-DD>', 'first day of history to use (UTC)').argParser(dateArg))
  .addOption(
    new Option('--to <YYYY-MM-DD>', 'last day of history to use (UTC, inclusive)').argParser(dateArg),
  )
  .addOption(new Option('--no-promote', 'register and log candidates, promote nothing'))
  .addOption(new Option('--require-gate', 'exit with status 1 when a gate fails'))
  .addOption(
    new Option('--holdout-days <n>', 'the later-in-time holdout the gate compares on')
      .default(DEFAULT_HOLDOUT_DAYS)
      .argParser(int(1)),
  )
  .addOption(
    new Option(
      '--k <n>',
      'maintenance: repair needed within the next K rentals (default: serving.maintenanceK, 3)',
    ).argParser(int(1)),
  )
  .addOption(new Option('--folds <n>', 'time-ordered CV folds').default(3).argParser(int(1)))
  .addOption(new Option('--seed <n>', 'random seed of the tree learners').default(7).argParser(int(0)))
  .addOption(new Option('--grid <grid>', 'candidate grid').choices(['default', 'small']).default('default'))
  .addOption(
    new Option('--min-improvement <x>', 'relative improvement over the baseline the gate requires')
      .default(0)
      .argParser(fraction),
  )
  .showHelpAfterError()
  .action((opts: TrainOpts) => runCli(() => train(opts)));

program
  .command('backfill')
  .description(
    'Fill id_transactions, id_item_master and ml_feature_store from a simulator run (npm run simulate -- --no-kafka ' +
      '--out DIR): the events are regenerated from DIR/manifest.json and run through the pipeline topology in process, ' +
      'then the weather, economic and calendar collectors read DIR/external. Use an empty database (MYSQL_URL).',
  )
  .requiredOption('--from-sim <dir>', 'the simulator output folder')
  .addOption(new Option('--all-features', 'write every feature value, not only those training reads'))
  .addOption(new Option('--historical', 'also run the historical collector for the period (slow)'))
  .addOption(
    new Option('--historical-every <n>', 'with --historical: one snapshot every n days')
      .default(1)
      .argParser(int(1)),
  )
  .action((opts: { fromSim: string; allFeatures?: boolean; historical?: boolean; historicalEvery: number }) =>
    runCli(async () => {
      const config = loadConfig();
      const log = loggerFor(config, 'train-backfill');
      await migrate(config.mysql.url);
      const sql = createSql(config.mysql.url, { connectionLimit: 4 });
      try {
        say(`backfilling ${redactUrl(config.mysql.url)} from ${opts.fromSim}`);
        const s = await backfillFromSim(
          sql,
          {
            simDir: opts.fromSim,
            allFeatures: opts.allFeatures === true,
            historical: opts.historical === true,
            historicalEveryDays: opts.historicalEvery,
            progress: say,
          },
          { config, log },
        );
        const fmt = (n: number): string => n.toLocaleString('en-US');
        say(
          `backfilled in ${s.seconds.toFixed(0)} s: ${fmt(s.events)} events, ${fmt(s.scansStored)} clean scans into ` +
            `id_transactions, ${fmt(s.items)} items, ${fmt(s.featuresWritten)} feature values into ml_feature_store ` +
            `(${fmt(s.featuresSkipped)} not read by training skipped), ${fmt(s.deadLetters)} dead letters, ` +
            `${fmt(s.late)} late records; collectors: ${s.collectors.filter((c) => c.ok).length}/${s.collectors.length} runs ok`,
        );
      } finally {
        await sql.end();
      }
    }),
  );

program
  .command('ceiling')
  .description(
    "What the simulator's ground truth allows at best on the holdout: the demand MAE of the true rates against the " +
      'seasonal-naive forecast, and the ROC AUC of the true damage probabilities for the maintenance label.',
  )
  .requiredOption('--from-sim <dir>', 'the simulator output folder')
  .addOption(
    new Option('--k <n>', 'maintenance label: the next K rentals').default(DEFAULT_K).argParser(int(1)),
  )
  .addOption(
    new Option('--holdout-days <n>', 'the last days compared')
      .default(DEFAULT_HOLDOUT_DAYS)
      .argParser(int(1)),
  )
  .action((opts: { fromSim: string; k: number; holdoutDays: number }) =>
    runCli(async () => {
      const d = demandCeiling(opts.fromSim, opts.holdoutDays);
      const pct = (a: number, b: number): string => `${(100 * (1 - a / b)).toFixed(1)}%`;
      say(
        `demand, last ${opts.holdoutDays} days (${d.rows} rows): seasonal-naive MAE ${d.naiveMae.toFixed(4)}; ` +
          `true rate MAE ${d.oracleMae.toFixed(4)} (${pct(d.oracleMae, d.naiveMae)} better); ` +
          `true rate without the day's price MAE ${d.oracleNoPriceMae.toFixed(4)} (${pct(d.oracleNoPriceMae, d.naiveMae)} better)`,
      );
      for (const k of [...new Set([1, opts.k])]) {
        const m = maintenanceCeiling(opts.fromSim, k, opts.holdoutDays);
        say(
          `maintenance, K = ${k}, last ${opts.holdoutDays} days of checkouts (${m.rows} rentals, ${(100 * m.positiveRate).toFixed(1)}% positive): ` +
            `ROC AUC of the true probabilities ${m.oracleAuc.toFixed(4)} (this rental's alone: ${m.oracleFirstRentalAuc.toFixed(4)})`,
        );
      }
    }),
  );

withLogOptions(program);
await program.parseAsync();

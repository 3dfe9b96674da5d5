// `npm run train`: the training job (labels from id_transactions, point-in-time frames from the feature store,
// time-ordered CV, the validation gate, registry and ml_model_performance). Filling the database from a simulator
// run, and the simulator's ceiling, are dev tools: `npm run sim:train` (src/dev/cli/sim-train.ts).
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { TagstreamError } from '../errors.ts';
import { migrate } from '../io/mysql/migrate.ts';
import { redactUrl } from '../io/mysql/pool.ts';
import { loggerFor } from '../log.ts';
import {
  DEFAULT_HOLDOUT_DAYS,
  DEFAULT_INTERVAL_COVERAGE,
  TRAIN_SERVICES,
  summaryLines,
  type TrainService,
} from '../ml/train/job.ts';
import { trainWithConfig } from '../ml/train/run.ts';
import { dateArg, int, withLogOptions } from './args.ts';
import { runCli } from './run.ts';

const say = (line: string): void => console.log(line);
const DAY_MS = 86_400_000;

const probability = (text: string): number => {
  const x = Number(text);
  if (text.trim() === '' || !(x > 0 && x < 1)) throw new InvalidArgumentError('expected a number in (0, 1)');
  return x;
};

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
  intervalCoverage: number;
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
      intervalCoverage: opts.intervalCoverage,
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
  .description(
    'Train the demand (next day and next 7 days), maintenance and quality models: labels from id_transactions, ' +
      'features as of each label time from ml_feature_store, time-ordered CV over linear/logistic, random forest and ' +
      'gradient boosting, then the validation gate on the last --holdout-days days: a candidate (the CV winner, or ' +
      'the weighted ensemble of every algorithm where it beats the best single one) is promoted (and announced on ' +
      'models.versions) only if it beats the naive baseline and is not worse than production. Every model is ' +
      'logged to ml_model_performance. Uses MYSQL_URL, REDIS_URL, KAFKA_BROKERS, SCHEMA_REGISTRY_URL. With the ' +
      "simulator's ground truth: npm run sim:train -- train --from-sim DIR.",
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
  .addOption(
    new Option(
      '--interval-coverage <p>',
      'demand and quality: nominal coverage of the split-conformal prediction interval',
    )
      .default(DEFAULT_INTERVAL_COVERAGE)
      .argParser(probability),
  )
  .showHelpAfterError()
  .action((opts: TrainOpts) => runCli(() => train(opts)));

withLogOptions(program);
// backfill and ceiling read the simulator's files: they are dev tools now (src/dev/cli/sim-train.ts).
const moved = process.argv[2];
if (moved === 'backfill' || moved === 'ceiling') {
  console.error(
    `error: \`npm run train -- ${moved}\` moved to the dev tools: run \`npm run sim:train -- ${process.argv.slice(2).join(' ')}\``,
  );
  process.exit(2);
}
await program.parseAsync();

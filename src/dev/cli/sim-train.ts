// `npm run sim:train -- backfill|ceiling --from-sim DIR`: training on simulator data, a dev tool beside `npm run
// train`. `backfill` fills id_transactions, id_item_master and ml_feature_store from a simulator run through the
// pipeline's own operators; `ceiling` says what the simulator's ground truth allows at best on the holdout.
import { Command, Option } from 'commander';
import { loadConfig } from '../../../config/load.ts';
import { int, withLogOptions } from '../../cli/args.ts';
import { runCli } from '../../cli/run.ts';
import { migrate } from '../../io/mysql/migrate.ts';
import { createSql, redactUrl } from '../../io/mysql/pool.ts';
import { loggerFor } from '../../log.ts';
import {
  DEFAULT_HOLDOUT_DAYS,
  DEFAULT_K,
  TRAIN_SERVICES,
  summaryLines,
  type TrainService,
} from '../../ml/train/job.ts';
import { trainWithConfig } from '../../ml/train/run.ts';
import { backfillFromSim } from '../ml/backfill.ts';
import { demandCeiling, groundTruthFrom, maintenanceCeiling } from '../ml/ground-truth.ts';

const say = (line: string): void => console.log(line);

const program = new Command('sim:train')
  // Options after a subcommand's name are the subcommand's (`ceiling --k 7`).
  .enablePositionalOptions()
  .description(
    'Training on simulator data (dev tool): fill an empty database from a simulator run, or measure what the ' +
      "simulator's ground truth allows at best. The training job itself is npm run train.",
  )
  .showHelpAfterError();

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

program
  .command('train')
  .description(
    "The training job (npm run train) with the simulator's ground truth: each run also prints the ceiling the " +
      "true damage probabilities reach on the maintenance holdout's own rows at the same K, and the model's share of " +
      'it (also in ml_model_performance). The database must hold that simulation (backfill, or the demo).',
  )
  .requiredOption('--from-sim <dir>', 'the simulator output folder')
  .addOption(
    new Option('--service <name>', `${TRAIN_SERVICES.join(' | ')} | all`)
      .choices([...TRAIN_SERVICES, 'all'])
      .default('all'),
  )
  .addOption(
    new Option('--k <n>', 'maintenance label: the next K rentals').default(DEFAULT_K).argParser(int(1)),
  )
  .addOption(
    new Option('--holdout-days <n>', 'the later-in-time holdout the gate compares on')
      .default(DEFAULT_HOLDOUT_DAYS)
      .argParser(int(1)),
  )
  .addOption(new Option('--no-promote', 'register and log candidates, promote nothing'))
  .action((opts: { fromSim: string; service: string; k: number; holdoutDays: number; promote: boolean }) =>
    runCli(async () => {
      const config = loadConfig();
      const log = loggerFor(config, 'train');
      await migrate(config.mysql.url);
      const started = Date.now();
      const result = await trainWithConfig(
        config,
        {
          services: opts.service === 'all' ? TRAIN_SERVICES : [opts.service as TrainService],
          k: opts.k,
          holdoutDays: opts.holdoutDays,
          promote: opts.promote,
          groundTruth: groundTruthFrom(opts.fromSim),
        },
        { log, progress: say },
      );
      say('');
      say(`summary (${((Date.now() - started) / 1000).toFixed(0)} s):`);
      for (const line of summaryLines(result)) say(line);
      if (result.failures.length > 0) process.exitCode = 1;
    }),
  );

withLogOptions(program);
await program.parseAsync();

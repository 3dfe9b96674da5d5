// `npm run pipeline`: runs the streaming job (ingest, features, feature store sinks), the serving flows (inference,
// the six services, alerts) and the nightly retrain until SIGINT/SIGTERM, then stops cleanly within
// pipeline.shutdownTimeoutMs.
import { Command } from 'commander';
import { loadConfig, redactConfig } from '../../config/load.ts';
import { startJob } from '../app/job.ts';
import { TagstreamError, isTagstreamError } from '../errors.ts';
import { loggerFor } from '../log.ts';
import { withDeadline } from '../runtime/deadline.ts';
import { runCli } from './run.ts';
import { withLogOptions } from './args.ts';

const program = new Command('pipeline')
  .description(
    'Run the streaming job: validate rfid.scans and pos.transactions into clean.<source> (bad records into dlq.<source>), ' +
      'extract item, transaction and per-class feature rows into features.realtime.rows, and windowed per-class rows into features.windowed.rows; ' +
      'write them to the feature store; score events with the production models into predictions.<service> (demand, maintenance, quality, ' +
      'pricing, restock, pack) and raise alerts (serving.enabled); retrain nightly (serving.retrain.enabled). ' +
      'Configuration comes from TAGSTREAM_CONFIG (YAML), TAGSTREAM__section__key and KAFKA_BROKERS / SCHEMA_REGISTRY_URL / REDIS_URL / MYSQL_URL.',
  )
  .option('--print-config', 'print the effective configuration (secrets redacted) and exit')
  .option('--api', 'also serve the REST API (api.host:api.port) and fill its prediction cache')
  .action((opts: { printConfig?: boolean; api?: boolean }) =>
    runCli(async () => {
      const config = loadConfig();
      if (opts.printConfig) {
        console.log(JSON.stringify(redactConfig(config), null, 2));
        return;
      }
      const log = loggerFor(config, 'pipeline');
      // Signals are handled from the first moment: a stop during start-up waits for it, then stops cleanly.
      const starting = startJob(
        config,
        { streams: true, api: opts.api ? {} : false, retrain: true },
        { log },
      );
      // One stop, whether a signal or a failure asks first.
      let stopping: Promise<void> | undefined;
      const stopJob = (): Promise<void> => (stopping ??= starting.then((job) => job.stop()));
      const stop = async (signal: string): Promise<void> => {
        log.info({ signal }, 'stopping: no new fetches, draining, committing');
        try {
          await stopJob();
        } catch (e) {
          log.error({ err: e }, 'unclean stop');
          process.exitCode = 1;
        }
        process.exit();
      };
      process.once('SIGINT', (s) => void stop(s));
      process.once('SIGTERM', (s) => void stop(s));
      const job = await starting;
      if (job.api) log.info(`REST API on ${job.api.url}`);
      const error = await job.failure;
      // A consumer crashed for good, or met an error no retry can fix (a refused login, a missing grant): the other
      // consumers stop too (leaving their groups, so a restart gets the partitions at once), within the shutdown
      // timeout; the failed batch was not committed.
      const { shutdownTimeoutMs } = config.pipeline;
      await withDeadline(
        stopJob(),
        shutdownTimeoutMs,
        () => new TagstreamError('SHUTDOWN_TIMEOUT', `stopping took longer than ${shutdownTimeoutMs} ms`),
      ).catch((e: unknown) => log.warn({ err: e }, 'unclean stop'));
      // One line: the code, what to do, then the error's message (what to change) and its cause.
      log.fatal(
        { err: error },
        `pipeline failed${isTagstreamError(error) ? ` (${error.code})` : ''}; fix the cause and restart: ` +
          'what failed was not committed and is processed again, committed work is not repeated',
      );
      process.exit(1);
    }),
  );

withLogOptions(program);
await program.parseAsync();

// `npm run pipeline`: runs the ingest pipeline until SIGINT/SIGTERM, then stops cleanly within pipeline.shutdownTimeoutMs.
import { Command } from 'commander';
import { loadConfig, redactConfig } from '../../config/load.ts';
import { tagstreamTopology } from '../../pipelines/tagstream.ts';
import { startPipeline, type RunningPipeline } from '../app/pipeline.ts';
import { migrate } from '../io/mysql/migrate.ts';
import { createLogger } from '../log.ts';
import { runCli } from './run.ts';

const program = new Command('pipeline')
  .description(
    'Run the streaming job: validate rfid.scans and pos.transactions into clean.<source> (bad records into dlq.<source>), ' +
      'extract item, transaction and per-class features into features.realtime, and windowed per-class features into features.windowed. ' +
      'Configuration comes from TAGSTREAM_CONFIG (YAML), TAGSTREAM__section__key and KAFKA_BROKERS / SCHEMA_REGISTRY_URL / REDIS_URL / MYSQL_URL.',
  )
  .option('--print-config', 'print the effective configuration (secrets redacted) and exit')
  .option(
    '--instance-id <id>',
    'stable id of this instance (names its transactional producer); default: host name',
  )
  .action((opts: { printConfig?: boolean; instanceId?: string }) =>
    runCli(async () => {
      const config = loadConfig();
      if (opts.printConfig) {
        console.log(JSON.stringify(redactConfig(config), null, 2));
        return;
      }
      const log = createLogger('pipeline', config.log.level);
      // Signals are handled from the first moment: a stop during start-up waits for it, then stops cleanly.
      const starting: Promise<RunningPipeline> = migrate(config.mysql.url).then(() =>
        startPipeline(config, tagstreamTopology(config), {
          log,
          featureStore: true,
          ...(opts.instanceId === undefined ? {} : { instanceId: opts.instanceId }),
        }),
      );
      const stop = async (signal: string): Promise<void> => {
        log.info({ signal }, 'stopping: no new fetches, draining, committing');
        try {
          const running = await starting;
          await running.stop();
        } catch (e) {
          log.error({ err: e }, 'unclean stop');
          process.exitCode = 1;
        }
        process.exit();
      };
      process.once('SIGINT', (s) => void stop(s));
      process.once('SIGTERM', (s) => void stop(s));
      const running = await starting;
      const error = await running.runner.failure;
      log.fatal(
        { err: error },
        'pipeline failed; fix the cause above and restart: committed work is not repeated',
      );
      process.exit(1);
    }),
  );

await program.parseAsync();

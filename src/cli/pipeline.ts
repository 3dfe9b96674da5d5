// `npm run pipeline`: runs the streaming job (ingest, features, feature store sinks), the serving flows (inference,
// the six services, alerts) and the nightly retrain until SIGINT/SIGTERM, then stops cleanly within
// pipeline.shutdownTimeoutMs.
import { Command, Option } from 'commander';
import { loadConfig, redactConfig } from '../../config/load.ts';
import { runCli, runJob } from './run.ts';
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
  .addOption(
    new Option(
      '--role <role>',
      'what this process runs: all of it, only the streaming topology and its sinks, or only the serving flows ' +
        '(with the nightly retrain); run one `streams` and one `serving` process to use two cores',
    )
      .choices(['all', 'streams', 'serving'])
      .default('all'),
  )
  .action((opts: { printConfig?: boolean; api?: boolean; role: 'all' | 'streams' | 'serving' }) =>
    runCli(async () => {
      const config = loadConfig();
      if (opts.printConfig) {
        console.log(JSON.stringify(redactConfig(config), null, 2));
        return;
      }
      await runJob(
        config,
        'pipeline',
        {
          streams: opts.role !== 'serving',
          // all: serving as configured (serving.enabled); streams: none; serving: on, whatever serving.enabled says.
          ...(opts.role === 'all' ? {} : { serving: opts.role === 'serving' }),
          api: opts.api ? {} : false,
          retrain: opts.role !== 'streams',
        },
        {
          stoppingMessage: 'stopping: no new fetches, draining, committing',
          what: 'pipeline',
          started: (job, log) => {
            if (job.api) log.info(`REST API on ${job.api.url}`);
          },
        },
      );
    }),
  );

withLogOptions(program);
await program.parseAsync();

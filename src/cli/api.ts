// `npm run api`: the prediction sink and the REST API on their own, until SIGINT/SIGTERM, then a clean stop.
import { Command } from 'commander';
import { loadConfig, redactConfig } from '../../config/load.ts';
import { int, withLogOptions } from './args.ts';
import { runCli, runJob } from './run.ts';

const program = new Command('api')
  .description(
    'Serve the REST API (predictions, alerts, features, models, dead letters, /healthz, /readyz, /openapi.json) and run ' +
      'the prediction sink that fills its Redis cache from predictions.<service> and alerts. ' +
      'Listens on api.host:api.port (default 127.0.0.1:8080); set API_READ_TOKEN and API_ADMIN_TOKEN (or *_FILE) to ' +
      'require `Authorization: Bearer <token>` (the admin token for dead letters), API_TLS_CERT_FILE and ' +
      'API_TLS_KEY_FILE to serve HTTPS (docs/security.md). Configuration comes from TAGSTREAM_CONFIG (YAML), ' +
      'TAGSTREAM__section__key and KAFKA_BROKERS / SCHEMA_REGISTRY_URL / REDIS_URL / MYSQL_URL / API_*_TOKEN.',
  )
  .option('--port <n>', 'listen on this port instead of api.port (0: any free port)', int(0))
  .option('--no-sink', 'serve only; another instance runs the prediction sink into the same Redis')
  .option('--print-config', 'print the effective configuration (secrets redacted) and exit')
  .action((opts: { port?: number; sink: boolean; printConfig?: boolean }) =>
    runCli(async () => {
      const config = loadConfig();
      if (opts.printConfig) {
        console.log(JSON.stringify(redactConfig(config), null, 2));
        return;
      }
      // The prediction sink failing for good stops the API too, rather than serve a cache nothing fills any more.
      await runJob(
        config,
        'api',
        { serving: false, api: { sink: opts.sink, ...(opts.port === undefined ? {} : { port: opts.port }) } },
        {
          stoppingMessage: 'stopping: no new requests, finishing those in flight, stopping the sink',
          what: 'prediction sink',
          started: (job) => {
            if (job.api) console.log(`REST API on ${job.api.url} (OpenAPI: ${job.api.url}/openapi.json)`);
          },
          stopped: (log) => log.info('stopped'),
        },
      );
    }),
  );

withLogOptions(program);
await program.parseAsync();

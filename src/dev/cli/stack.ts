// `npm run stack -- up|down|status|logs`: the local Kafka + schema registry, and checks of MariaDB and Redis.
import { Command } from 'commander';
import { loadConfig } from '../../../config/load.ts';
import { stackServices } from '../stack/services.ts';
import { describeState, stackDown, stackStatus, stackUp, tailLines } from '../stack/manager.ts';
import { runCli } from '../../cli/run.ts';
import { withLogOptions } from '../../cli/args.ts';

const program = new Command('stack')
  .description(
    'Manage the local stack: Apache Kafka (KRaft) and Apicurio Registry are fetched from Maven Central and run by tagstream; ' +
      'MariaDB and Redis are used as configured. Services named by KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL, MYSQL_URL are used as they are.',
  )
  .showHelpAfterError();

const say = (line: string): void => console.log(line);

program
  .command('up')
  .description(
    'start what is not running, wait until every service is ready, create the database and apply migrations (a no-op when all is up)',
  )
  .action(() =>
    runCli(async () => {
      const { started } = await stackUp(loadConfig(), say);
      say(started.length ? `stack up; started ${started.join(', ')}` : 'stack already up; nothing started');
    }),
  );

program
  .command('down')
  .description('stop the services tagstream started (never external ones)')
  .argument('[services...]', 'only these (kafka, registry)')
  .action((names: string[]) =>
    runCli(async () => {
      const stopped = await stackDown(loadConfig(), say, names.length ? names : undefined);
      say(stopped.length ? `stopped ${stopped.join(', ')}` : 'nothing of ours was running');
    }),
  );

program
  .command('status')
  .description('show each service: started by tagstream, external, or stopped; and whether it answers')
  .action(() =>
    runCli(async () => {
      for (const { name, state } of await stackStatus(loadConfig()))
        say(`${name.padEnd(9)} ${describeState(state)}`);
    }),
  );

program
  .command('logs')
  .description('print the last lines of the logs of the services tagstream runs')
  .argument('[service]', 'kafka or registry (default: both)')
  .option('-n, --lines <n>', 'lines per log', '50')
  .action((service: string | undefined, opts: { lines: string }) =>
    runCli(async () => {
      for (const s of stackServices(loadConfig())) {
        if (!s.logFile || (service && s.name !== service)) continue;
        say(`==> ${s.name}: ${s.logFile} <==`);
        say(tailLines(s.logFile, Number(opts.lines)));
      }
    }),
  );

withLogOptions(program);
await program.parseAsync();

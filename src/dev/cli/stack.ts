// `npm run stack -- up|down|status|logs`: the local Kafka + schema registry, and checks of MariaDB and Redis; with
// `up --secure` also a second Kafka with SASL_SSL, SCRAM users and ACLs (src/dev/stack/secure.ts), and a Redis (TLS,
// ACL users) and a MariaDB (TLS required, least-privilege users) of their own (src/dev/stack/secure-data.ts);
// `compose-secrets` and `compose-setup` for the same in docker-compose.yml's secure profile (secure-compose.ts).
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../../../config/load.ts';
import type { Config } from '../../../config/schema.ts';
import {
  rotatePassword,
  secureInstructions,
  secureKafkaService,
  securePaths,
  secureProfile,
} from '../stack/secure.ts';
import {
  parseRotateTarget,
  rotateMariadbPassword,
  rotateRedisPassword,
  secureDataInstructions,
  secureDataPaths,
  secureMariadbService,
  secureRedisService,
  writeSecureDataProfiles,
} from '../stack/secure-data.ts';
import { composeSetup, writeComposeSecrets } from '../stack/secure-compose.ts';
import { usersScript } from '../../io/mysql/users.ts';
import { stackPaths, stackServices, type StackService } from '../stack/services.ts';
import { describeState, stackDown, stackStatus, stackUp, tailLines } from '../stack/manager.ts';
import { runCli } from '../../cli/run.ts';
import { withLogOptions } from '../../cli/args.ts';

const program = new Command('stack')
  .description(
    'Manage the local stack: Apache Kafka (KRaft) and Apicurio Registry are fetched from Maven Central and run by tagstream; ' +
      'MariaDB and Redis are used as configured. Services named by KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL, MYSQL_URL are used as they are. ' +
      '`up --secure` also runs a second Kafka with SASL_SSL, SCRAM users and ACLs (kafka-secure; docs/security.md).',
  )
  .showHelpAfterError();

const say = (line: string): void => console.log(line);

/**
 * The stack's services, and the secure ones after them (Kafka, Redis, MariaDB) when asked for (`secure`) or when
 * each was ever set up.
 */
function services(config: Config, secure: boolean): StackService[] {
  const paths = stackPaths(config);
  const sd = secureDataPaths(paths.stackDir);
  return [
    ...stackServices(config),
    ...(secure || existsSync(sd.kafkaDir) ? [secureKafkaService(config, paths)] : []),
    ...(secure || existsSync(sd.redisDir) ? [secureRedisService(config, paths)] : []),
    ...(secure || existsSync(sd.mariadbDir) ? [secureMariadbService(config, paths)] : []),
  ];
}

program
  .command('up')
  .description(
    'start what is not running, wait until every service is ready, create the database and apply migrations (a no-op when all is up)',
  )
  .option(
    '--secure',
    `also run a second Kafka (kafka-secure, in .stack/secure/) with a SASL_SSL listener on 127.0.0.1:9192 (SCRAM users admin, ` +
      'tagstream, reader, producer; passwords in .stack/secure/secrets/), an mTLS listener on :9194 and ACLs per user; ' +
      'a Redis with TLS only on :6390 and ACL users (redis-secure), a MariaDB requiring TLS on :3316 with ' +
      'least-privilege users (mariadb-secure); prints the settings that point tagstream at them (docs/security.md)',
  )
  .action((opts: { secure?: boolean }) =>
    runCli(async () => {
      const config = loadConfig();
      // The secure Kafka only when asked for: a plain `up` (the demo, npm test) never starts it.
      const list = opts.secure ? services(config, true) : stackServices(config);
      const { started } = await stackUp(config, say, list);
      say(started.length ? `stack up; started ${started.join(', ')}` : 'stack already up; nothing started');
      if (opts.secure) {
        const sd = secureDataPaths(stackPaths(config).stackDir);
        writeSecureDataProfiles(sd, (user) => secureProfile(sd, user));
        say(secureInstructions(securePaths(stackPaths(config).stackDir)));
        say(secureDataInstructions(sd));
      }
    }),
  );

program
  .command('rotate')
  .description(
    'give a user of the secure stack a new random password, set on the running server (Kafka: SCRAM with ' +
      'ConfigCommand as admin; Redis: ACL SETUSER as admin; MariaDB: ALTER USER as root), then written to its file in ' +
      '.stack/secure/secrets/; restart the clients that use it',
  )
  .argument('<service-or-user>', 'kafka, redis or mariadb, then the user; a user alone is a Kafka user')
  .argument(
    '[user]',
    'kafka: tagstream, reader, producer; redis: admin, tagstream, api; mariadb: root, tagstream, trainer, api',
  )
  .action((first: string, user: string | undefined) =>
    runCli(async () => {
      const config = loadConfig();
      const target = parseRotateTarget(user === undefined ? [first] : [first, user]);
      const paths = stackPaths(config);
      if (target.service === 'kafka') rotatePassword(config, paths, target.user, say);
      else if (target.service === 'redis') await rotateRedisPassword(config, paths, target.user, say);
      else await rotateMariadbPassword(paths, target.user, say);
    }),
  );

program
  .command('compose-secrets')
  .description(
    "write what docker-compose.yml's secure profile hands its containers as Docker secrets: the secure stack's " +
      'passwords, CA and certificates in .stack/secure/ (made when missing, as `up --secure` makes them), the broker ' +
      'settings, SCRAM users and Redis ACL file in .stack/secure/compose/; starts nothing (docs/security.md)',
  )
  .action(() =>
    runCli(async () => {
      const config = loadConfig();
      const paths = stackPaths(config);
      const files = writeComposeSecrets(config, paths, say);
      say(`${files.length} files for the secure compose profile:`);
      for (const f of files) say(`  ${relative(process.cwd(), f)}`);
      if (paths.stackDir !== resolve('.stack'))
        say(`note: docker-compose.yml reads them from ./.stack/secure, not ${paths.stackDir}`);
      say('then: docker compose --profile secure up -d');
    }),
  );

program
  .command('compose-setup')
  .description(
    "inside docker-compose.yml's secure profile (its secure-setup service): the Kafka ACLs as admin, the migrations " +
      'as root and the least-privilege MariaDB users, as `up --secure` sets them up; secrets from /run/secrets',
  )
  .action(() => runCli(async () => composeSetup(loadConfig(), say)));

program
  .command('down')
  .description('stop the services tagstream started (never external ones)')
  .argument('[services...]', 'only these (kafka, registry, kafka-secure, redis-secure, mariadb-secure)')
  .action((names: string[]) =>
    runCli(async () => {
      const config = loadConfig();
      const stopped = await stackDown(config, say, names.length ? names : undefined, services(config, true));
      say(stopped.length ? `stopped ${stopped.join(', ')}` : 'nothing of ours was running');
    }),
  );

program
  .command('status')
  .description('show each service: started by tagstream, external, or stopped; and whether it answers')
  .action(() =>
    runCli(async () => {
      const config = loadConfig();
      for (const { name, state } of await stackStatus(config, services(config, true)))
        say(`${name.padEnd(12)} ${describeState(state)}`);
    }),
  );

program
  .command('logs')
  .description('print the last lines of the logs of the services tagstream runs')
  .argument(
    '[service]',
    'kafka, registry, kafka-secure, redis-secure or mariadb-secure (default: each that ran)',
  )
  .option('-n, --lines <n>', 'lines per log', '50')
  .action((service: string | undefined, opts: { lines: string }) =>
    runCli(async () => {
      const config = loadConfig();
      for (const s of services(config, false)) {
        if (!s.logFile || (service && s.name !== service)) continue;
        say(`==> ${s.name}: ${s.logFile} <==`);
        say(tailLines(s.logFile, Number(opts.lines)));
      }
    }),
  );

program
  .command('db-users')
  .description(
    'print the SQL that creates the least-privilege MariaDB users (tagstream, trainer, api) and their grants, passwords as placeholders (schemas/users.sql; src/io/mysql/users.ts)',
  )
  .option('--database <name>', 'the database to grant on', 'tagstream')
  .action((opts: { database: string }) =>
    runCli(async () => void process.stdout.write(usersScript(opts.database))),
  );

withLogOptions(program);
await program.parseAsync();

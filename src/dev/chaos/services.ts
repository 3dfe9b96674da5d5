// The chaos suite's own services, so that its faults never touch anyone else's: a Kafka broker and an Apicurio
// registry from the stack manager on free ports and a folder of the run's own, a mariadbd on a fresh data directory
// and a redis-server without persistence, each on a free port. The machine's MariaDB (3306) and Redis (6379) and
// the shared stack (`npm run stack`) are never used, stopped or restarted.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { Config } from '../../../config/schema.ts';
import { TagstreamError } from '../../errors.ts';
import { tcpReachable } from '../../io/net/tcp.ts';
import { launchDetached } from '../stack/java.ts';
import { isOurProcess, stopProcess, waitFor } from '../stack/process.ts';
import { stackServices, type StackService } from '../stack/services.ts';

/** A port nothing listens on now, with `port + offset` free too (Kafka's controller, Quarkus' management port). */
export async function freePort(offset = 0): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((done, fail) => {
      const server = createServer();
      server.once('error', fail);
      server.listen(0, '127.0.0.1', () => {
        const p = (server.address() as { port: number }).port;
        server.close(() => done(p));
      });
    });
    if (port + offset > 65_535) continue;
    if (offset === 0 || !(await tcpReachable('127.0.0.1', port + offset, 300))) return port;
  }
  throw new TagstreamError('STACK_START_FAILED', 'no free port pair found');
}

/** A process this run starts and may kill and start again on the same data (an outage). */
export interface DataService {
  readonly name: string;
  readonly url: string;
  start(): Promise<void>;
  /** kill -9: no clean shutdown, nothing flushed that the service had not made durable itself. */
  kill(): Promise<number | undefined>;
  stop(): Promise<void>;
}

function managed(
  name: string,
  url: string,
  port: number,
  dir: string,
  command: () => { cmd: string; args: string[] },
  marker: string,
): DataService {
  let pid: number | undefined;
  const log = join(dir, `${name}.log`);
  return {
    name,
    url,
    async start() {
      const { cmd, args } = command();
      pid = launchDetached(cmd, args, dir, log);
      if (!(await waitFor(() => tcpReachable('127.0.0.1', port), 60_000, 200)))
        throw new TagstreamError('STACK_START_FAILED', `${name} did not listen on ${port}; see ${log}`);
    },
    async kill() {
      const was = pid;
      if (isOurProcess(pid, marker)) {
        process.kill(pid, 'SIGKILL');
        await waitFor(async () => !isOurProcess(was, marker), 10_000, 50);
      }
      pid = undefined;
      return was;
    },
    async stop() {
      if (isOurProcess(pid, marker)) await stopProcess(pid, marker, 20_000);
      pid = undefined;
    },
  };
}

/** mariadbd on a data directory of its own (mariadb-install-db), root without a password, grant tables off. */
export async function privateMariadb(dir: string): Promise<DataService> {
  const port = await freePort();
  const data = resolve(dir, 'mariadb');
  const tmp = resolve(dir, 'mariadb-tmp');
  mkdirSync(data, { recursive: true });
  mkdirSync(tmp, { recursive: true });
  const init = spawnSync(
    'mariadb-install-db',
    [
      '--no-defaults',
      `--datadir=${data}`,
      '--user=root',
      '--skip-test-db',
      '--auth-root-authentication-method=normal',
    ],
    { encoding: 'utf8' },
  );
  if (init.status !== 0)
    throw new TagstreamError(
      'STACK_START_FAILED',
      `mariadb-install-db failed (is MariaDB installed?): ${(init.stderr || init.stdout).slice(-400)}`,
    );
  return managed(
    'mariadb',
    `mysql://root@127.0.0.1:${port}/tagstream_chaos`,
    port,
    dir,
    () => ({
      cmd: 'mariadbd',
      args: [
        '--no-defaults',
        `--datadir=${data}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${join(data, 'mariadbd.sock')}`,
        `--pid-file=${join(data, 'mariadbd.pid')}`,
        // Its own tmpdir: at start-up mariadbd deletes every `#sql*` file in it, in /tmp the machine's MariaDB's.
        `--tmpdir=${tmp}`,
        '--user=root',
        '--skip-grant-tables',
        '--skip-log-bin',
        '--innodb-buffer-pool-size=256M',
        // A process kill (the fault) loses nothing with 2: the OS still writes what was handed to it.
        '--innodb-flush-log-at-trx-commit=2',
        '--max-connections=500',
      ],
    }),
    data,
  );
}

/** redis-server without persistence: a restart comes back empty, as a cache does. */
export async function privateRedis(dir: string): Promise<DataService> {
  const port = await freePort();
  return managed(
    'redis',
    `redis://127.0.0.1:${port}`,
    port,
    dir,
    () => ({
      cmd: 'redis-server',
      args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    }),
    `:${port}`,
  );
}

/** Kafka and the registry of the stack manager, on free ports, in `dir` (its own KRaft storage and journal). */
export async function privateStack(
  base: Config,
  dir: string,
): Promise<{ config: Config; kafka: StackService; registry: StackService }> {
  const kafkaPort = await freePort(1);
  const registryPort = await freePort(1000);
  const config: Config = {
    ...base,
    kafka: { ...base.kafka, brokers: [`127.0.0.1:${kafkaPort}`] },
    schemaRegistry: { url: `http://127.0.0.1:${registryPort}/apis/ccompat/v7` },
    stack: { ...base.stack, dir },
  };
  // Variables that would make the stack manager treat Kafka or the registry as external.
  const env = { ...process.env };
  delete env['KAFKA_BROKERS'];
  delete env['SCHEMA_REGISTRY_URL'];
  const [kafka, registry] = stackServices(config, process.cwd(), env) as [StackService, StackService];
  return { config, kafka, registry };
}

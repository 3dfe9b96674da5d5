// The local stack's services: Kafka (KRaft) and Apicurio Registry run by us; MariaDB and Redis used as configured.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import type { Config } from '../../../config/schema.ts';
import { TagstreamError } from '../../errors.ts';
import { migrate } from '../../io/mysql/migrate.ts';
import { redactUrl } from '../../io/mysql/pool.ts';
import { command, createRedisClient } from '../../io/redis/client.ts';
import { ensureTopics } from '../../io/kafka/client.ts';
import { kafkajsClient } from '../../io/kafka/kafkajs.ts';
import { securityFrom, type KafkaSecurity } from '../../io/kafka/security.ts';
import { parseHostPort, tcpReachable } from '../../io/net/tcp.ts';
import { createLogger } from '../../log.ts';

/** Readiness probes expect refusals while a service starts: nothing to log. */
const quiet = createLogger('stack', 'silent');
import { javaAtLeast, javaBinary, launchDetached, runMaven } from './java.ts';
import { isOurProcess, readPid, stopPidFile, waitFor, writePid } from './process.ts';

export type ServiceState =
  | { readonly kind: 'ours'; readonly pid: number; readonly reachable: boolean }
  | { readonly kind: 'external'; readonly reachable: boolean; readonly address: string }
  | { readonly kind: 'down' };

export interface StackService {
  readonly name: string;
  readonly logFile?: string;
  state(): Promise<ServiceState>;
  /** Makes the service usable; returns true when this call started a process. */
  up(log: (line: string) => void): Promise<boolean>;
  /** Stops the process only if we started it; returns true when something was stopped. */
  down(log: (line: string) => void): Promise<boolean>;
}

export interface StackPaths {
  readonly stackDir: string;
  readonly cacheDir: string;
}

export function stackPaths(config: Config, cwd: string = process.cwd()): StackPaths {
  const cache = config.stack.cacheDir.replace(/^~(?=\/|$)/, homedir());
  return { stackDir: resolve(cwd, config.stack.dir), cacheDir: resolve(cache) };
}

const POM = fileURLToPath(new URL('./kafka.pom.xml', import.meta.url));
const KAFKA_MARKER = 'kafka.Kafka';
const REGISTRY_MARKER = 'apicurio-registry-app';

/** An admin client of the stack's own, quiet: readiness probes expect refusals. */
const stackAdmin = (
  brokers: readonly string[],
  connectTimeoutMs: number,
  retries?: number,
  security?: KafkaSecurity,
) =>
  kafkajsClient({
    brokers,
    clientId: 'tagstream-stack',
    connectTimeoutMs,
    log: quiet,
    ...(security ? { security } : {}),
  }).admin(retries === undefined ? {} : { retries });

export async function kafkaReady(brokers: readonly string[], security?: KafkaSecurity): Promise<boolean> {
  const admin = stackAdmin(brokers, 2_000, 0, security);
  try {
    await admin.connect();
    return (await admin.brokerCount()) > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** Fetches the Kafka jars into the cache once (Maven, from Maven Central); returns the libs folder. */
export function kafkaLibs(config: Config, paths: StackPaths, dir: string, log: (l: string) => void): string {
  const libs = join(paths.cacheDir, `kafka-${config.stack.kafkaVersion}`, 'libs');
  // A cache made before kafka-tools joined the pom lacks it: fetched again (Maven keeps what is there).
  const tools = join(libs, `kafka-tools-${config.stack.kafkaVersion}.jar`);
  if (existsSync(join(libs, '.complete')) && existsSync(tools)) return libs;
  log(`kafka: fetching Apache Kafka ${config.stack.kafkaVersion} jars from Maven Central into ${libs}`);
  mkdirSync(libs, { recursive: true });
  mkdirSync(dir, { recursive: true });
  runMaven(
    [
      '-f',
      POM,
      'dependency:copy-dependencies',
      `-DoutputDirectory=${libs}`,
      `-Dkafka.version=${config.stack.kafkaVersion}`,
    ],
    dir,
    join(dir, 'maven.log'),
    'KAFKA_BROKERS',
  );
  writeFileSync(join(libs, '.complete'), new Date().toISOString());
  return libs;
}

/** One KRaft node (broker and controller) of the stack: where it lives and what makes it differ. */
export interface KafkaNode {
  readonly name: string;
  /** Its folder: server.properties, data/, the log and the pid file. */
  readonly dir: string;
  readonly brokers: readonly string[];
  /** How the stack's own clients (readiness, setup) connect. */
  readonly security?: KafkaSecurity;
  /** server.properties lines after the common ones (listeners and everything about them). */
  properties(dataDir: string): string[];
  /** Before the storage is formatted or the node started (certificates, passwords); true: format it anew. */
  prepare?(log: (l: string) => void): boolean;
  /** Extra arguments of `kafka-storage format` (SCRAM users). */
  formatArgs?(): string[];
  /** Once it answers, on every `up` (ACLs). */
  ready?(log: (l: string) => void): Promise<void>;
}

/**
 * server.properties of a one-node KRaft stack around a node's own lines (listeners and everything about them): broker
 * and controller in one process, internal topics of one replica, no waiting for groups, no automatic topics. The
 * secure compose profile's broker (secure-compose.ts) is built from the same lines.
 */
export function kraftNodeProperties(
  nodeLines: readonly string[],
  dataDir: string,
  partitions: number,
): string[] {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    ...nodeLines,
    `log.dirs=${dataDir}`,
    `num.partitions=${partitions}`,
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=10',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
  ];
}

/** Starts a node when it is down, waits until it answers; stops it if we started it. */
export function kafkaNodeService(
  config: Config,
  paths: StackPaths,
  node: KafkaNode,
  external: boolean,
  env: NodeJS.ProcessEnv = process.env,
): StackService {
  const { dir, brokers, name } = node;
  const pidFile = join(dir, 'kafka.pid');
  const logFile = join(dir, 'kafka.log');

  const state = async (): Promise<ServiceState> => {
    const pid = readPid(pidFile);
    if (isOurProcess(pid, KAFKA_MARKER))
      return { kind: 'ours', pid, reachable: await kafkaReady(brokers, node.security) };
    const { host, port } = parseHostPort(brokers[0] ?? '127.0.0.1:9092');
    if (external || (await tcpReachable(host, port)))
      return {
        kind: 'external',
        reachable: await kafkaReady(brokers, node.security),
        address: brokers.join(','),
      };
    return { kind: 'down' };
  };

  return {
    name,
    logFile,
    state,
    async up(log) {
      const s = await state();
      if (s.kind === 'ours' && s.reachable) {
        await node.ready?.(log);
        return false;
      }
      if (s.kind === 'external') {
        if (!s.reachable)
          throw new TagstreamError(
            'KAFKA_UNAVAILABLE',
            `Kafka at ${s.address} does not answer: start it, or unset KAFKA_BROKERS to let tagstream run one`,
          );
        log(`${name}: using the running broker at ${s.address}`);
        await node.ready?.(log);
        return false;
      }
      mkdirSync(dir, { recursive: true });
      let started = false;
      if (s.kind === 'down') {
        const libs = kafkaLibs(config, paths, dir, log);
        const dataDir = join(dir, 'data');
        if (node.prepare?.(log)) rmSync(dataDir, { recursive: true, force: true });
        const java = javaBinary(env['JAVA_HOME'] ?? '');
        const props = join(dir, 'server.properties');
        writeFileSync(
          props,
          [
            '# Written by `npm run stack -- up`: one KRaft node, broker and controller.',
            ...kraftNodeProperties(node.properties(dataDir), dataDir, config.kafka.partitions),
            '',
          ].join('\n'),
          // It may hold passwords (the secure node's JAAS lines).
          { mode: 0o600 },
        );
        const log4j = join(dir, 'log4j2.yaml');
        writeFileSync(
          log4j,
          'Configuration:\n  Appenders:\n    Console:\n      name: STDOUT\n      PatternLayout:\n        Pattern: "[%d] %p %m (%c)%n"\n' +
            '  Loggers:\n    Root:\n      level: INFO\n      AppenderRef:\n        - ref: STDOUT\n',
        );
        const cp = `${libs}/*`;
        if (!existsSync(join(dataDir, 'meta.properties'))) {
          log(`${name}: formatting KRaft storage`);
          const uuid = spawnSync(java, ['-cp', cp, 'kafka.tools.StorageTool', 'random-uuid'], {
            encoding: 'utf8',
          });
          const clusterId = uuid.stdout.trim().split('\n').pop() ?? '';
          const fmt = spawnSync(
            java,
            [
              '-cp',
              cp,
              'kafka.tools.StorageTool',
              'format',
              '-t',
              clusterId,
              '-c',
              props,
              ...(node.formatArgs?.() ?? []),
            ],
            { encoding: 'utf8' },
          );
          if (fmt.status !== 0)
            throw new TagstreamError(
              'STACK_START_FAILED',
              // Its output echoes no argument (the SCRAM passwords are in the arguments).
              `${name} storage format failed: ${fmt.stderr || fmt.stdout}`,
            );
        }
        const heap = `-Xmx${config.stack.kafkaHeapMb}m`;
        const pid = launchDetached(
          java,
          [
            heap,
            `-Xms${Math.min(256, config.stack.kafkaHeapMb)}m`,
            '-XX:+UseG1GC',
            `-Dlog4j2.configurationFile=${log4j}`,
            '-cp',
            cp,
            KAFKA_MARKER,
            props,
          ],
          dir,
          logFile,
        );
        writePid(pidFile, pid);
        log(`${name}: started (pid ${pid}), waiting for ${brokers.join(',')}`);
        started = true;
      }
      const ok = await waitFor(
        async () => isOurProcess(readPid(pidFile), KAFKA_MARKER) && kafkaReady(brokers, node.security),
        config.stack.readyTimeoutMs,
        500,
      );
      if (!ok)
        throw new TagstreamError(
          'STACK_START_FAILED',
          `${name} did not become ready within ${config.stack.readyTimeoutMs} ms; see ${logFile} (npm run stack -- logs ${name})`,
        );
      await node.ready?.(log);
      log(`${name}: ready`);
      return started;
    },
    down: (log) => stopPidFile(name, pidFile, KAFKA_MARKER, 30_000, log),
  };
}

/** Apache Kafka 4.x, one KRaft node acting as broker and controller, jars resolved by Maven into the cache. */
export function kafkaService(
  config: Config,
  paths: StackPaths,
  env: NodeJS.ProcessEnv = process.env,
): StackService {
  const brokers = config.kafka.brokers;
  const external = env['KAFKA_BROKERS'] !== undefined && env['KAFKA_BROKERS'] !== '';
  const { host, port } = parseHostPort(brokers[0] ?? '127.0.0.1:9092');
  const controllerPort = port + 1;
  return kafkaNodeService(
    config,
    paths,
    {
      name: 'kafka',
      dir: join(paths.stackDir, 'kafka'),
      brokers,
      // An external broker configured with security is probed with it.
      security: securityFrom(config.kafka),
      properties: () => [
        `controller.quorum.voters=1@${host}:${controllerPort}`,
        `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
        `advertised.listeners=PLAINTEXT://${host}:${port}`,
        'controller.listener.names=CONTROLLER',
        'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        'inter.broker.listener.name=PLAINTEXT',
      ],
    },
    external,
    env,
  );
}

/**
 * The registry's journal topic (Apicurio 3 `kafkasql` storage): one partition, so that its log is one total order,
 * kept forever (no time or size retention, no compaction), like Confluent Schema Registry's `_schemas`. Created before
 * the registry starts, so that the registry does not create it with the broker's defaults.
 */
async function ensureJournal(config: Config, topic: string): Promise<void> {
  const admin = stackAdmin(config.kafka.brokers, 5_000, undefined, securityFrom(config.kafka));
  try {
    await admin.connect();
    await ensureTopics(admin, [topic], config, {
      partitions: 1,
      config: { 'cleanup.policy': 'delete', 'retention.ms': '-1', 'retention.bytes': '-1' },
    });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Apicurio Registry with its Confluent-compatible API, from its Maven Central tarball. From 3.x on it keeps its
 * schemas in a Kafka topic of the stack's broker (`kafkasql` storage, stack.registryJournalTopic), so schemas and
 * their ids survive a registry restart, `stack down/up` and a reboot; it needs Java 21+ (javaAtLeast finds one).
 * 2.x runs on Java 17 with in-memory storage (schemas are registered again after a restart, with new ids).
 */
export function registryService(
  config: Config,
  paths: StackPaths,
  env: NodeJS.ProcessEnv = process.env,
): StackService {
  const dir = join(paths.stackDir, 'registry');
  const pidFile = join(dir, 'registry.pid');
  const logFile = join(dir, 'registry.log');
  const url = config.schemaRegistry.url.replace(/\/$/, '');
  const external = env['SCHEMA_REGISTRY_URL'] !== undefined && env['SCHEMA_REGISTRY_URL'] !== '';
  const version = config.stack.apicurioVersion;
  const home = join(paths.cacheDir, `apicurio-${version}`);
  const durable = Number(version.split('.')[0]) >= 3;
  const ready = (): Promise<boolean> => httpOk(`${url}/subjects`);
  const address = new URL(url);
  const { hostname } = address;
  const port = Number(address.port || 80);

  const state = async (): Promise<ServiceState> => {
    const pid = readPid(pidFile);
    if (isOurProcess(pid, REGISTRY_MARKER)) return { kind: 'ours', pid, reachable: await ready() };
    if (external || (await tcpReachable(hostname, port)))
      return { kind: 'external', reachable: await ready(), address: url };
    return { kind: 'down' };
  };

  const fetchApp = (log: (l: string) => void): string => {
    // 2.x ships a runner jar, 3.x a Quarkus fast-jar layout started by quarkus-run.jar.
    const launcher = (): string | undefined =>
      existsSync(home)
        ? readdirSync(home).find((f) => f.endsWith('-runner.jar') || f === 'quarkus-run.jar')
        : undefined;
    const existing = launcher();
    if (existing) return join(home, existing);
    const tarball = join(paths.cacheDir, `apicurio-registry-app-${version}-all.tar.gz`);
    mkdirSync(paths.cacheDir, { recursive: true });
    if (!existsSync(tarball)) {
      log(`registry: fetching Apicurio Registry ${version} from Maven Central into ${paths.cacheDir}`);
      runMaven(
        [
          'dependency:copy',
          `-Dartifact=io.apicurio:apicurio-registry-app:${version}:tar.gz:all`,
          `-DoutputDirectory=${paths.cacheDir}`,
        ],
        paths.cacheDir,
        join(dir, 'maven.log'),
        'SCHEMA_REGISTRY_URL',
      );
    }
    mkdirSync(home, { recursive: true });
    const tar = spawnSync('tar', ['-xzf', tarball, '-C', home], { encoding: 'utf8' });
    const found = launcher();
    if (tar.status !== 0 || !found)
      throw new TagstreamError('STACK_START_FAILED', `could not unpack ${tarball}: ${tar.stderr}`);
    return join(home, found);
  };

  return {
    name: 'registry',
    logFile,
    state,
    async up(log) {
      const s = await state();
      if (s.kind === 'ours' && s.reachable) return false;
      if (s.kind === 'external') {
        if (!s.reachable)
          throw new TagstreamError(
            'REGISTRY_UNAVAILABLE',
            `schema registry at ${s.address} does not answer on /subjects: start it, or unset SCHEMA_REGISTRY_URL to let tagstream run one`,
          );
        log(`registry: using the running schema registry at ${s.address}`);
        return false;
      }
      mkdirSync(dir, { recursive: true });
      let started = false;
      if (s.kind === 'down') {
        const jar = fetchApp(log);
        const java = durable
          ? javaAtLeast(21, config.stack.registryJavaHome, `Apicurio Registry ${version}`)
          : javaBinary(config.stack.registryJavaHome);
        const storage = durable
          ? [
              // Quarkus' management interface (health, metrics) binds 0.0.0.0:9000 by default: on the registry's
              // own address instead, at its port + 1000, so that nothing listens beyond the configured address and
              // a second registry (tests) does not collide.
              `-Dquarkus.management.host=${hostname}`,
              `-Dquarkus.management.port=${port + 1000}`,
              '-Dapicurio.storage.kind=kafkasql',
              `-Dapicurio.kafkasql.bootstrap.servers=${config.kafka.brokers.join(',')}`,
              `-Dapicurio.kafkasql.topic=${config.stack.registryJournalTopic}`,
            ]
          : [];
        if (durable) {
          // Its storage is the broker, which `up` may be starting at this moment.
          if (
            !(await waitFor(
              () => kafkaReady(config.kafka.brokers, securityFrom(config.kafka)),
              config.stack.readyTimeoutMs,
              500,
            ))
          )
            throw new TagstreamError(
              'KAFKA_UNAVAILABLE',
              `the schema registry keeps its schemas in Kafka, which did not answer at ${config.kafka.brokers.join(', ')} within ${config.stack.readyTimeoutMs} ms: see npm run stack -- logs kafka`,
            );
          await ensureJournal(config, config.stack.registryJournalTopic);
        }
        const pid = launchDetached(
          java,
          [
            // The process marker (isOurProcess): 3.x's command line names no jar of its own.
            `-Dtagstream.service=${REGISTRY_MARKER}`,
            `-Xmx${config.stack.registryHeapMb}m`,
            `-Dquarkus.http.host=${hostname}`,
            `-Dquarkus.http.port=${port}`,
            ...storage,
            '-jar',
            jar,
          ],
          dir,
          logFile,
        );
        writePid(pidFile, pid);
        log(`registry: started (pid ${pid}), waiting for ${url}`);
        started = true;
      }
      const ok = await waitFor(
        async () => isOurProcess(readPid(pidFile), REGISTRY_MARKER) && ready(),
        config.stack.readyTimeoutMs,
        500,
      );
      if (!ok)
        throw new TagstreamError(
          'STACK_START_FAILED',
          `schema registry did not become ready within ${config.stack.readyTimeoutMs} ms; see ${logFile} (npm run stack -- logs registry)`,
        );
      log('registry: ready');
      return started;
    },
    down: (log) => stopPidFile('registry', pidFile, REGISTRY_MARKER, 20_000, log),
  };
}

/** MariaDB/MySQL: never started by us; `up` creates the database and applies the migrations. */
export function mysqlService(config: Config): StackService {
  const url = config.mysql.url;
  const reachable = async (): Promise<boolean> => {
    const u = new URL(url);
    return tcpReachable(u.hostname, Number(u.port || 3306));
  };
  return {
    name: 'mysql',
    async state() {
      return { kind: 'external', reachable: await reachable(), address: redactUrl(url) };
    },
    async up(log) {
      if (!(await reachable()))
        throw new TagstreamError(
          'MYSQL_UNAVAILABLE',
          `MariaDB/MySQL at ${redactUrl(url)} is not reachable: start it (e.g. start-stop-daemon --start --background --exec /usr/sbin/mariadbd), or set MYSQL_URL`,
        );
      const applied = await migrate(url);
      log(
        `mysql: ${redactUrl(url)} ready${applied.length ? `, applied ${applied.join(', ')}` : ', schema up to date'}`,
      );
      return false;
    },
    async down() {
      return false;
    },
  };
}

/** Redis: never started by us; `up` checks that it answers PING (through our client: TLS and ACL users included). */
export function redisService(config: Config): StackService {
  const ping = async (): Promise<boolean> => {
    const client = createRedisClient(config.redis.url, { maxRetriesPerRequest: 0, connectTimeoutMs: 2_000 });
    try {
      return (await client.pipeline([command('ping')]))[0] === 'PONG';
    } catch {
      return false;
    } finally {
      await client.close();
    }
  };
  return {
    name: 'redis',
    async state() {
      return { kind: 'external', reachable: await ping(), address: redactUrl(config.redis.url) };
    },
    async up(log) {
      if (!(await ping()))
        throw new TagstreamError(
          'REDIS_UNAVAILABLE',
          `Redis at ${redactUrl(config.redis.url)} does not answer PING: start it (redis-server --daemonize yes), or set REDIS_URL`,
        );
      log(`redis: ${redactUrl(config.redis.url)} ready`);
      return false;
    },
    async down() {
      return false;
    },
  };
}

export function stackServices(
  config: Config,
  cwd: string = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
): StackService[] {
  const paths = stackPaths(config, cwd);
  return [
    kafkaService(config, paths, env),
    registryService(config, paths, env),
    mysqlService(config),
    redisService(config),
  ];
}

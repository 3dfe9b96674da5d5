// The secure local Redis and MariaDB (`npm run stack -- up --secure`), beside the secure Kafka: processes of the
// stack's own under .stack/secure/, on their own ports, so that the machine's Redis (6379) and MariaDB (3306) are
// never reconfigured. Redis: TLS only (no plaintext port), the default user off, ACL users per role. MariaDB: TLS
// required (require_secure_transport), root for the migrations, and the least-privilege users of
// src/io/mysql/users.ts. Both use the stack's CA (secure.ts); passwords are random, in files of mode 600, and
// `stack rotate redis|mariadb <user>` gives one user a new one on the running server.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Config } from '../../../config/schema.ts';
import { TagstreamError, isTagstreamError } from '../../errors.ts';
import { migrate } from '../../io/mysql/migrate.ts';
import { createSql } from '../../io/mysql/pool.ts';
import { createUsers, DB_USERS, userStatements, type DbUser } from '../../io/mysql/users.ts';
import { command, createRedisClient } from '../../io/redis/client.ts';
import { tcpReachable } from '../../io/net/tcp.ts';
import { launchDetached, requireTool } from './java.ts';
import { isOurProcess, readPid, stopPidFile, waitFor, writePid } from './process.ts';
import {
  SECURE_HOST,
  SECURE_USERS,
  ensureServerCertificate,
  readSecret,
  securePaths,
  writeSecret,
  type SecurePaths,
  type SecureUser,
} from './secure.ts';
import type { ServiceState, StackPaths, StackService } from './services.ts';

/** TLS-only Redis and TLS-required MariaDB of the secure stack. */
export const SECURE_DATA_PORTS = { redis: 6390, mariadb: 3316 } as const;

/** admin: the stack's own (ACLs, tests' clean-up); tagstream: the pipeline; api: the REST API without its sink. */
export const REDIS_USERS = ['admin', 'tagstream', 'api'] as const;
export type RedisUser = (typeof REDIS_USERS)[number];

/** root: migrations and users only; then the users of src/io/mysql/users.ts. */
export const MARIADB_USERS = ['root', ...DB_USERS] as const;
export type MariadbUser = (typeof MARIADB_USERS)[number];

/** The database the secure MariaDB is set up with (migrations, grants). */
export const SECURE_DATABASE = 'tagstream';

export interface SecureDataPaths {
  readonly redisDir: string;
  readonly mariadbDir: string;
  readonly mariadbData: string;
  readonly mariadbSocket: string;
  redisPasswordFile(user: RedisUser): string;
  mariadbPasswordFile(user: MariadbUser): string;
}

export function secureDataPaths(stackDir: string): SecureDataPaths & SecurePaths {
  const sp = securePaths(stackDir);
  const mariadbDir = join(sp.dir, 'mariadb');
  return {
    ...sp,
    redisDir: join(sp.dir, 'redis'),
    mariadbDir,
    mariadbData: join(mariadbDir, 'data'),
    mariadbSocket: join(mariadbDir, 'mariadbd.sock'),
    redisPasswordFile: (user) => join(sp.secretsDir, `redis-${user}.password`),
    mariadbPasswordFile: (user) => join(sp.secretsDir, `mariadb-${user}.password`),
  };
}

/** A random password per Redis and MariaDB user, once (hex: nothing a URL or an ACL rule misreads). */
export function ensureDataSecrets(paths: SecureDataPaths & SecurePaths): void {
  mkdirSync(paths.secretsDir, { recursive: true, mode: 0o700 });
  const files = [
    ...REDIS_USERS.map((u) => paths.redisPasswordFile(u)),
    ...MARIADB_USERS.map((u) => paths.mariadbPasswordFile(u)),
  ];
  for (const file of files) if (!existsSync(file)) writeSecret(file, randomBytes(24).toString('hex'));
}

// Redis ---------------------------------------------------------------------------------------------------------

/** Commands every client sends on connecting: ioredis's ready check (INFO) and CLIENT SETNAME; PING for probes. */
const REDIS_CONNECTION_COMMANDS = ['ping', 'info', 'client|setname'];
/** Our Lua scripts go as EVALSHA, loaded with SCRIPT LOAD (src/io/redis/client.ts). */
const REDIS_SCRIPT_COMMANDS = ['evalsha', 'script|load'];

/**
 * What the pipeline runs, as commands and inside its scripts: the feature store (src/store/online.ts), the
 * prediction cache (src/serving/prediction-cache.ts) and the drift windows (src/serving/drift.ts). A Lua script's
 * redis.call is checked against the same ACL; test/security/redis-acl.test.ts checks the list against the code.
 */
export const REDIS_PIPELINE_COMMANDS = [
  'exists',
  'get',
  'set',
  'expire',
  'hget',
  'hset',
  'hdel',
  'hmget',
  'hgetall',
  'hincrby',
  'zadd',
  'zcard',
  'zrange',
  'zrevrange',
  'zrangebyscore',
  'zrevrangebyscore',
  'zremrangebyrank',
  'zremrangebyscore',
  'zrevrank',
  'zscore',
  'lpush',
  'llen',
  'lrange',
  'ltrim',
] as const;

/** The reads among them: the REST API's (`npm run api -- --no-sink`) reads of the online store and the cache. */
export const REDIS_READ_COMMANDS = [
  'exists',
  'get',
  'hget',
  'hmget',
  'hgetall',
  'zcard',
  'zrange',
  'zrevrange',
  'zrevrangebyscore',
  'zrevrank',
  'zscore',
  'llen',
  'lrange',
] as const;

/**
 * The ACL rules of a user after its password: keys under the feature store's prefix only (featureStore.redisPrefix,
 * where the online store, the prediction cache and the drift windows live), no Pub/Sub channels, and only the
 * commands its role sends. admin may do everything.
 */
export function redisAclRules(user: RedisUser, prefix: string): string[] {
  if (user === 'admin') return ['~*', '&*', '+@all'];
  const data = user === 'tagstream' ? REDIS_PIPELINE_COMMANDS : REDIS_READ_COMMANDS;
  return [
    `~${prefix}*`,
    'resetchannels',
    '-@all',
    ...[...REDIS_CONNECTION_COMMANDS, ...REDIS_SCRIPT_COMMANDS, ...data].map((c) => `+${c}`),
  ];
}

/** The ACL SETUSER arguments of a user: its rules from scratch, on, its password as a SHA-256 (never in clear). */
export function redisSetUserArgs(user: RedisUser, password: string, prefix: string): string[] {
  const hash = createHash('sha256').update(password).digest('hex');
  return [user, 'reset', 'on', `#${hash}`, ...redisAclRules(user, prefix)];
}

/** The ACL file the server starts with: the default user off, and each user as `up` last set it. */
export function redisAclFile(passwords: Readonly<Record<RedisUser, string>>, prefix: string): string {
  return [
    'user default off resetchannels -@all',
    ...REDIS_USERS.map((u) => `user ${redisSetUserArgs(u, passwords[u], prefix).join(' ')}`),
    '',
  ].join('\n');
}

/** The Redis config of the secure stack: TLS only, no persistence (a cache), its ACL file. */
export function redisServerConfig(paths: SecureDataPaths & SecurePaths, port: number): string {
  return [
    '# Written by `npm run stack -- up --secure`: TLS only, ACL users (docs/security.md).',
    'port 0',
    `tls-port ${port}`,
    `bind ${SECURE_HOST}`,
    `tls-cert-file ${paths.serverCert}`,
    `tls-key-file ${paths.serverKey}`,
    `tls-ca-cert-file ${paths.caFile}`,
    // Clients authenticate with ACL users; no client certificates.
    'tls-auth-clients no',
    `aclfile ${join(paths.redisDir, 'users.acl')}`,
    'save ""',
    'appendonly no',
    `dir ${paths.redisDir}`,
    'protected-mode yes',
    // The process title names this file: how `stack` knows the process is its own.
    'proc-title-template "{title} {listen-addr} {config-file}"',
    '',
  ].join('\n');
}

const redisPasswords = (paths: SecureDataPaths): Record<RedisUser, string> =>
  Object.fromEntries(REDIS_USERS.map((u) => [u, readSecret(paths.redisPasswordFile(u))])) as Record<
    RedisUser,
    string
  >;

/** How `user` reaches the secure Redis, as the config's redis section (password by file). */
export function secureRedisConfig(
  paths: SecureDataPaths & SecurePaths,
  user: RedisUser,
  port: number = SECURE_DATA_PORTS.redis,
): { url: string; passwordFile: string; tls: { caFile: string } } {
  return {
    url: `rediss://${user}@${SECURE_HOST}:${port}`,
    passwordFile: paths.redisPasswordFile(user),
    tls: { caFile: paths.caFile },
  };
}

/** The URL with everything in it (password, CA), as config/load.ts makes it: for the stack's own clients. */
function redisUrlWithPassword(paths: SecureDataPaths & SecurePaths, user: RedisUser, port: number): string {
  const u = new URL(`rediss://${SECURE_HOST}:${port}`);
  u.username = user;
  u.password = readSecret(paths.redisPasswordFile(user));
  return `${u.toString()}?tls-ca=${encodeURIComponent(paths.caFile)}`;
}

/** The secure Redis as a stack service: `redis-secure`. */
export function secureRedisService(
  config: Config,
  paths: StackPaths,
  port: number = SECURE_DATA_PORTS.redis,
): StackService {
  const sp = secureDataPaths(paths.stackDir);
  const pidFile = join(sp.redisDir, 'redis.pid');
  const logFile = join(sp.redisDir, 'redis.log');
  const confFile = join(sp.redisDir, 'redis.conf');
  const prefix = config.featureStore.redisPrefix;

  /** PING as admin over TLS; false before `up` made the passwords. */
  const answers = async (): Promise<boolean> => {
    if (!existsSync(sp.redisPasswordFile('admin'))) return false;
    const client = createRedisClient(redisUrlWithPassword(sp, 'admin', port), {
      maxRetriesPerRequest: 0,
      connectTimeoutMs: 2_000,
    });
    try {
      return (await client.pipeline([command('ping')]))[0] === 'PONG';
    } catch {
      return false;
    } finally {
      await client.close();
    }
  };

  const state = async (): Promise<ServiceState> => {
    const pid = readPid(pidFile);
    if (isOurProcess(pid, confFile)) return { kind: 'ours', pid, reachable: await answers() };
    if (await tcpReachable(SECURE_HOST, port))
      return { kind: 'external', reachable: await answers(), address: `${SECURE_HOST}:${port}` };
    return { kind: 'down' };
  };

  /** Each user's ACL as now configured, on the running server (a changed prefix or command list applies at once). */
  const applyAcls = async (log: (l: string) => void): Promise<void> => {
    const admin = createRedisClient(redisUrlWithPassword(sp, 'admin', port), { maxRetriesPerRequest: 1 });
    try {
      const passwords = redisPasswords(sp);
      await admin.pipeline([
        command('acl', 'setuser', 'default', 'reset', 'off'),
        ...REDIS_USERS.filter((u) => u !== 'admin').map((u) =>
          command('acl', 'setuser', ...redisSetUserArgs(u, passwords[u], prefix)),
        ),
      ]);
    } finally {
      await admin.close();
    }
    log(`redis-secure: ACL users ${REDIS_USERS.join(', ')} (keys ${prefix}*), default user off`);
  };

  return {
    name: 'redis-secure',
    logFile,
    state,
    async up(log) {
      const s = await state();
      if (s.kind === 'external')
        throw new TagstreamError(
          'STACK_START_FAILED',
          `something else listens on ${SECURE_HOST}:${port}, where redis-secure would run: stop it`,
        );
      let started = false;
      // A password file removed (a rotation, docs/security.md) gets a new password, set by applyAcls below.
      ensureDataSecrets(sp);
      if (s.kind === 'down') {
        requireTool('redis-server', 'install it (apt-get install redis-server) for the secure stack');
        ensureServerCertificate(sp, log);
        mkdirSync(sp.redisDir, { recursive: true, mode: 0o700 });
        writeSecret(join(sp.redisDir, 'users.acl'), redisAclFile(redisPasswords(sp), prefix));
        writeFileSync(confFile, redisServerConfig(sp, port), { mode: 0o600 });
        const pid = launchDetached('redis-server', [confFile], sp.redisDir, logFile);
        writePid(pidFile, pid);
        log(`redis-secure: started (pid ${pid}), TLS only on ${SECURE_HOST}:${port}`);
        started = true;
      }
      if (!(await waitFor(answers, config.stack.readyTimeoutMs, 200)))
        throw new TagstreamError(
          'STACK_START_FAILED',
          `redis-secure did not answer within ${config.stack.readyTimeoutMs} ms; see ${logFile}`,
        );
      await applyAcls(log);
      log('redis-secure: ready');
      return started;
    },
    down: (log) => stopPidFile('redis-secure', pidFile, confFile, 10_000, log),
  };
}

/** Why a stack's own call to a server failed, without anything the driver attached (arguments, statements). */
function reasonOf(e: unknown): string {
  if (isTagstreamError(e)) return e.code;
  const sqlMessage = (e as { sqlMessage?: unknown } | undefined)?.sqlMessage;
  if (typeof sqlMessage === 'string') return sqlMessage;
  return (e as { code?: unknown } | undefined)?.code === undefined
    ? 'error'
    : String((e as { code: unknown }).code);
}

const noStack = (): TagstreamError =>
  new TagstreamError('STACK_START_FAILED', 'no secure stack here: run `npm run stack -- up --secure` first');

/**
 * A new random password for a Redis user of the secure stack: set on the running server as admin (`ACL SETUSER`,
 * the user's rules from scratch as `up` sets them, the password as its SHA-256), then written to the user's file and
 * into the ACL file the server starts with. Connections already logged in stay; new ones need the new password
 * (clients read their passwordFile at start: restart them). admin too: the connection doing it is already logged in.
 */
export async function rotateRedisPassword(
  config: Config,
  paths: StackPaths,
  user: RedisUser,
  log: (l: string) => void,
  port: number = SECURE_DATA_PORTS.redis,
): Promise<void> {
  const sp = secureDataPaths(paths.stackDir);
  if (!existsSync(sp.redisPasswordFile(user)) || !existsSync(sp.redisPasswordFile('admin'))) throw noStack();
  const prefix = config.featureStore.redisPrefix;
  const password = randomBytes(24).toString('hex');
  const admin = createRedisClient(redisUrlWithPassword(sp, 'admin', port), {
    maxRetriesPerRequest: 0,
    connectTimeoutMs: 5_000,
  });
  try {
    await admin.pipeline([command('acl', 'setuser', ...redisSetUserArgs(user, password, prefix))]);
  } catch (e) {
    throw new TagstreamError(
      'STACK_START_FAILED',
      `could not change the password of Redis user ${user} (is redis-secure up? npm run stack -- status): ${reasonOf(e)}`,
    );
  } finally {
    await admin.close();
  }
  writeSecret(sp.redisPasswordFile(user), password);
  // The next start reads the ACL file: it must hold the new password too.
  const aclFile = join(sp.redisDir, 'users.acl');
  if (existsSync(aclFile)) writeSecret(aclFile, redisAclFile(redisPasswords(sp), prefix));
  log(
    `redis-secure: ${user} has a new password (in ${sp.redisPasswordFile(user)}); restart the clients that use it`,
  );
}

// MariaDB -------------------------------------------------------------------------------------------------------

/** How `user` reaches the secure MariaDB, as the config's mysql section (password by file, CA and host checked). */
export function secureMysqlConfig(
  paths: SecureDataPaths & SecurePaths,
  user: MariadbUser,
  database: string = SECURE_DATABASE,
  port: number = SECURE_DATA_PORTS.mariadb,
): { url: string; passwordFile: string; ssl: { mode: 'VERIFY_IDENTITY'; caFile: string } } {
  return {
    url: `mysql://${user}@${SECURE_HOST}:${port}/${database}`,
    passwordFile: paths.mariadbPasswordFile(user),
    ssl: { mode: 'VERIFY_IDENTITY', caFile: paths.caFile },
  };
}

/** root's URL over TLS with its password in it: the stack's own migrations and grants, and tests' clean-up. */
export function secureRootUrl(
  paths: SecureDataPaths & SecurePaths,
  database: string = SECURE_DATABASE,
  port: number = SECURE_DATA_PORTS.mariadb,
): string {
  const u = new URL(`mysql://${SECURE_HOST}:${port}/${database}`);
  u.username = 'root';
  u.password = readSecret(paths.mariadbPasswordFile('root'));
  return `${u.toString()}?ssl-mode=VERIFY_IDENTITY&ssl-ca=${encodeURIComponent(paths.caFile)}`;
}

/** mariadbd's temporary directory, beside its datadir (created before it starts). */
export const mariadbTmp = (paths: Pick<SecureDataPaths, 'mariadbDir'>): string =>
  join(paths.mariadbDir, 'tmp');

/** mariadbd's arguments: its own datadir, socket and port, TLS from the stack's CA, plaintext refused. */
export function mariadbArgs(paths: SecureDataPaths & SecurePaths, port: number): string[] {
  return [
    '--no-defaults',
    `--datadir=${paths.mariadbData}`,
    `--port=${port}`,
    `--bind-address=${SECURE_HOST}`,
    `--socket=${paths.mariadbSocket}`,
    `--pid-file=${join(paths.mariadbDir, 'mariadbd.pid')}`,
    // A tmpdir of its own: at start-up mariadbd deletes every `#sql*` file in its tmpdir, which in /tmp are the
    // temporary tables of the machine's own MariaDB (a query of it failed with EE_DELETE while this one started).
    `--tmpdir=${mariadbTmp(paths)}`,
    // mariadbd refuses to run as root unless told to; as anyone else, --user is ignored.
    `--user=${userInfo().username}`,
    '--skip-log-bin',
    '--skip-name-resolve',
    '--innodb-buffer-pool-size=128M',
    `--ssl-ca=${paths.caFile}`,
    `--ssl-cert=${paths.serverCert}`,
    `--ssl-key=${paths.serverKey}`,
    '--require-secure-transport=ON',
  ];
}

/** Root's first password, set through the socket (the only way in before it has one; sockets count as secure). */
async function bootstrapRoot(paths: SecureDataPaths & SecurePaths): Promise<void> {
  const socket = createSql(`mysql://root@localhost/?socketPath=${encodeURIComponent(paths.mariadbSocket)}`, {
    connectionLimit: 1,
  });
  const password = readSecret(paths.mariadbPasswordFile('root'));
  try {
    // mariadb-install-db made root@localhost, @127.0.0.1, @::1 and @<hostname>, without passwords: root keeps the
    // two that connections here come from, with a password; the others and any anonymous user go.
    for (const { user, host } of await socket.query<{ user: string; host: string }>(
      'SELECT User AS user, Host AS host FROM mysql.user',
    )) {
      const keep = user === 'root' && (host === 'localhost' || host === '127.0.0.1');
      if (user === 'mariadb.sys') continue;
      // Over TCP (127.0.0.1) only with TLS; through the socket (localhost), which is local, without.
      const tls = host === 'localhost' ? '' : ' REQUIRE SSL';
      if (keep) await socket.execute(`ALTER USER 'root'@'${host}' IDENTIFIED BY ?${tls}`, [password]);
      else if (user === '' || user === 'root') await socket.execute(`DROP USER '${user}'@'${host}'`);
    }
  } catch (e) {
    throw new TagstreamError(
      'STACK_START_FAILED',
      `mariadb-secure: could not set root's password: ${(e as Error).message}`,
    );
  } finally {
    await socket.end();
  }
}

/** The secure MariaDB as a stack service: `mariadb-secure`. */
export function secureMariadbService(
  config: Config,
  paths: StackPaths,
  port: number = SECURE_DATA_PORTS.mariadb,
): StackService {
  const sp = secureDataPaths(paths.stackDir);
  const pidFile = join(sp.mariadbDir, 'mariadbd.tagstream.pid');
  const logFile = join(sp.mariadbDir, 'mariadbd.log');
  const bootstrapped = join(sp.mariadbData, '.tagstream-root-password-set');
  const marker = `--datadir=${sp.mariadbData}`;

  /** root logs in over TLS; false before `up` set its password. */
  const answers = async (): Promise<boolean> => {
    if (!existsSync(bootstrapped)) return false;
    const sql = createSql(secureRootUrl(sp, '', port), { connectionLimit: 1 });
    try {
      await sql.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await sql.end().catch(() => undefined);
    }
  };

  const state = async (): Promise<ServiceState> => {
    const pid = readPid(pidFile);
    if (isOurProcess(pid, marker)) return { kind: 'ours', pid, reachable: await answers() };
    if (await tcpReachable(SECURE_HOST, port))
      return { kind: 'external', reachable: await answers(), address: `${SECURE_HOST}:${port}` };
    return { kind: 'down' };
  };

  return {
    name: 'mariadb-secure',
    logFile,
    state,
    async up(log) {
      const s = await state();
      if (s.kind === 'external')
        throw new TagstreamError(
          'STACK_START_FAILED',
          `something else listens on ${SECURE_HOST}:${port}, where mariadb-secure would run: stop it`,
        );
      let started = false;
      // A user's password file removed (a rotation) gets a new password, set by createUsers below; root's is set
      // once, when the data directory is made (docs/security.md says how to change it).
      if (existsSync(bootstrapped) && !existsSync(sp.mariadbPasswordFile('root')))
        throw new TagstreamError(
          'STACK_START_FAILED',
          `mariadb-secure: root's password file ${sp.mariadbPasswordFile('root')} is gone: put it back, or stop mariadb-secure and remove ${sp.mariadbDir} to start anew`,
        );
      ensureDataSecrets(sp);
      if (s.kind === 'down') {
        requireTool('mariadbd', 'install it (apt-get install mariadb-server) for the secure stack');
        ensureServerCertificate(sp, log);
        mkdirSync(sp.mariadbDir, { recursive: true, mode: 0o700 });
        if (!existsSync(join(sp.mariadbData, 'mysql'))) {
          log(`mariadb-secure: a new data directory in ${sp.mariadbData}`);
          rmSync(sp.mariadbData, { recursive: true, force: true });
          const init = spawnSync(
            'mariadb-install-db',
            [
              '--no-defaults',
              `--datadir=${sp.mariadbData}`,
              `--user=${userInfo().username}`,
              '--skip-test-db',
              '--auth-root-authentication-method=normal',
            ],
            { encoding: 'utf8' },
          );
          if (init.status !== 0)
            throw new TagstreamError(
              'STACK_START_FAILED',
              `mariadb-install-db failed: ${(init.stderr || init.stdout).slice(-400)}`,
            );
        }
        mkdirSync(mariadbTmp(sp), { recursive: true });
        const pid = launchDetached('mariadbd', mariadbArgs(sp, port), sp.mariadbDir, logFile);
        writePid(pidFile, pid);
        log(`mariadb-secure: started (pid ${pid}), TLS required on ${SECURE_HOST}:${port}`);
        started = true;
        const listening = await waitFor(
          async () => isOurProcess(pid, marker) && (await tcpReachable(SECURE_HOST, port)),
          config.stack.readyTimeoutMs,
          200,
        );
        if (!listening)
          throw new TagstreamError(
            'STACK_START_FAILED',
            `mariadb-secure did not listen on ${port} within ${config.stack.readyTimeoutMs} ms; see ${logFile}`,
          );
        if (!existsSync(bootstrapped)) {
          await bootstrapRoot(sp);
          writeFileSync(bootstrapped, new Date().toISOString());
        }
      }
      if (!(await waitFor(answers, config.stack.readyTimeoutMs, 300)))
        throw new TagstreamError(
          'STACK_START_FAILED',
          `mariadb-secure: root cannot log in over TLS; see ${logFile}`,
        );
      // The migrations as root, then the users and their grants (every `up`: a new table or grant applies).
      const applied = await migrate(secureRootUrl(sp, SECURE_DATABASE, port));
      await createUsers(
        secureRootUrl(sp, SECURE_DATABASE, port),
        SECURE_DATABASE,
        Object.fromEntries(DB_USERS.map((u) => [u, readSecret(sp.mariadbPasswordFile(u))])) as Record<
          DbUser,
          string
        >,
      );
      log(
        `mariadb-secure: database ${SECURE_DATABASE}${applied.length ? `, applied ${applied.join(', ')}` : ''}; users ${DB_USERS.join(', ')} (docs/security.md)`,
      );
      log('mariadb-secure: ready');
      return started;
    },
    down: (log) => stopPidFile('mariadb-secure', pidFile, marker, 30_000, log),
  };
}

/**
 * The statements that give `user` of the secure MariaDB a new password (`?`), keeping its TLS requirement: the
 * ALTER USER of src/io/mysql/users.ts for the least-privilege users; for root, the two accounts `up` keeps
 * (bootstrapRoot), the socket's first, so that a failure leaves the one the stack logs in with (127.0.0.1) as it was.
 */
export function mariadbPasswordStatements(user: MariadbUser): string[] {
  if (user === 'root')
    return [
      "ALTER USER 'root'@'localhost' IDENTIFIED BY ?",
      "ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY ? REQUIRE SSL",
    ];
  return userStatements(SECURE_DATABASE, user).filter((s) => s.startsWith('ALTER USER'));
}

/**
 * A new random password for a MariaDB user of the secure stack: set on the running server as root over TLS
 * (`ALTER USER … IDENTIFIED BY`), then written to the user's file. Sessions already open stay; new ones need the new
 * password (restart the processes that use it). root too: its session is open already.
 */
export async function rotateMariadbPassword(
  paths: StackPaths,
  user: MariadbUser,
  log: (l: string) => void,
  port: number = SECURE_DATA_PORTS.mariadb,
): Promise<void> {
  const sp = secureDataPaths(paths.stackDir);
  if (!existsSync(sp.mariadbPasswordFile(user)) || !existsSync(sp.mariadbPasswordFile('root')))
    throw noStack();
  const password = randomBytes(24).toString('hex');
  const sql = createSql(secureRootUrl(sp, '', port), { connectionLimit: 1 });
  const done: string[] = [];
  try {
    for (const statement of mariadbPasswordStatements(user)) {
      try {
        await sql.execute(statement, [password]);
      } catch (e) {
        // mysql2 attaches the statement with the password filled in to its errors: only the server's message here.
        throw new TagstreamError(
          'STACK_START_FAILED',
          `could not change the password of MariaDB user ${user} (is mariadb-secure up? npm run stack -- status): ${reasonOf(e)}` +
            (done.length
              ? `; ${done.join(', ')} already has the new password, which is not kept: set it again by hand (docs/security.md)`
              : ''),
        );
      }
      done.push(/'[^']*'@'[^']*'/.exec(statement)?.[0] ?? user);
    }
  } finally {
    await sql.end().catch(() => undefined);
  }
  writeSecret(sp.mariadbPasswordFile(user), password);
  log(
    `mariadb-secure: ${user} has a new password (in ${sp.mariadbPasswordFile(user)}); restart the clients that use it`,
  );
}

// Rotation --------------------------------------------------------------------------------------------------------

export type RotateTarget =
  | { readonly service: 'kafka'; readonly user: SecureUser }
  | { readonly service: 'redis'; readonly user: RedisUser }
  | { readonly service: 'mariadb'; readonly user: MariadbUser };

const ROTATABLE = {
  kafka: SECURE_USERS.filter((u) => u !== 'admin'),
  redis: REDIS_USERS,
  mariadb: MARIADB_USERS,
} as const;

/**
 * `stack rotate [kafka|redis|mariadb] <user>`: which user of which secure service (a user alone is a Kafka user, as
 * it has always been). Kafka's admin is also the broker's own login and is not rotated live (docs/security.md).
 */
export function parseRotateTarget(args: readonly string[]): RotateTarget {
  const [first = '', second] = args;
  const service = second === undefined ? 'kafka' : first;
  const user = second ?? first;
  const usage = Object.entries(ROTATABLE)
    .map(([s, users]) => `${s}: ${users.join(', ')}`)
    .join('; ');
  if (args.length > 2 || !(service in ROTATABLE))
    throw new TagstreamError('CONFIG_INVALID', `rotate [kafka|redis|mariadb] <user>: ${usage}`);
  const users: readonly string[] = ROTATABLE[service as keyof typeof ROTATABLE];
  if (!users.includes(user))
    throw new TagstreamError(
      'CONFIG_INVALID',
      service === 'kafka' && user === 'admin'
        ? "Kafka's admin is also the broker's own login (server.properties): see docs/security.md, rotating credentials"
        : `no ${service} user ${user}: one of ${users.join(', ')}`,
    );
  return { service, user } as RotateTarget;
}

// Profiles --------------------------------------------------------------------------------------------------------

/** YAML lines of the redis and mysql sections for a profile (passwords by file). */
function dataSections(
  paths: SecureDataPaths & SecurePaths,
  redisUser: RedisUser | undefined,
  mysqlUser: MariadbUser,
): string[] {
  const lines: string[] = [];
  if (redisUser) {
    const r = secureRedisConfig(paths, redisUser);
    lines.push(
      'redis:',
      `  url: ${r.url}`,
      `  passwordFile: ${r.passwordFile}`,
      '  tls:',
      `    caFile: ${r.tls.caFile}`,
    );
  }
  const m = secureMysqlConfig(paths, mysqlUser);
  lines.push(
    'mysql:',
    `  url: ${m.url}`,
    `  passwordFile: ${m.passwordFile}`,
    '  ssl:',
    `    mode: ${m.ssl.mode}`,
    `    caFile: ${m.ssl.caFile}`,
    '',
  );
  return lines;
}

/**
 * The profiles of the whole secure stack (TAGSTREAM_CONFIG=<file>): tagstream.yaml (the pipeline: Kafka, Redis and
 * MariaDB as tagstream), trainer.yaml (training and `models promote`: MariaDB as trainer), api.yaml (`npm run api --
 * --no-sink`: Redis and MariaDB read-only as api); Kafka as tagstream in all three (the schema registry stays the
 * plain one). reader.yaml and producer.yaml (Kafka only) are kafka-secure's.
 */
export function secureDataProfiles(
  paths: SecureDataPaths & SecurePaths,
  kafkaProfile: (user: 'tagstream') => string,
): Record<string, string> {
  const kafka = kafkaProfile('tagstream')
    .replace(/^# .*\n/, '')
    .trimEnd();
  const head = (role: string, what: string) =>
    `# tagstream on the secure local stack as ${role}: ${what} (written by \`npm run stack -- up --secure\`).`;
  return {
    'tagstream.yaml': [
      head('tagstream', 'the pipeline, collectors'),
      kafka,
      ...dataSections(paths, 'tagstream', 'tagstream'),
    ].join('\n'),
    'trainer.yaml': [
      head('trainer', '`npm run train`, `npm run models -- promote`'),
      kafka,
      ...dataSections(paths, undefined, 'trainer'),
    ].join('\n'),
    'api.yaml': [
      head('api', '`npm run api -- --no-sink`, read-only'),
      kafka,
      ...dataSections(paths, 'api', 'api'),
    ].join('\n'),
  };
}

/** Writes secureDataProfiles into .stack/secure/. */
export function writeSecureDataProfiles(
  paths: SecureDataPaths & SecurePaths,
  kafkaProfile: (user: 'tagstream') => string,
): string[] {
  const written: string[] = [];
  for (const [name, text] of Object.entries(secureDataProfiles(paths, kafkaProfile))) {
    writeFileSync(join(paths.dir, name), text);
    written.push(join(paths.dir, name));
  }
  return written;
}

/** The lines `stack up --secure` prints about Redis and MariaDB. */
export function secureDataInstructions(paths: SecureDataPaths & SecurePaths): string {
  const r = secureRedisConfig(paths, 'tagstream');
  const m = secureMysqlConfig(paths, 'tagstream');
  return [
    `secure Redis: TLS only at ${SECURE_HOST}:${SECURE_DATA_PORTS.redis}, ACL users ${REDIS_USERS.join(', ')}, default user off; ` +
      `secure MariaDB: TLS required at ${SECURE_HOST}:${SECURE_DATA_PORTS.mariadb}, users ${MARIADB_USERS.join(', ')} ` +
      `(passwords in ${paths.secretsDir}, redis-<user>.password and mariadb-<user>.password)`,
    'their settings for the pipeline (with the Kafka ones above):',
    `  export REDIS_URL=${r.url} REDIS_PASSWORD_FILE=${r.passwordFile} REDIS_TLS_CA_FILE=${r.tls.caFile}`,
    `  export MYSQL_URL=${m.url} MYSQL_PASSWORD_FILE=${m.passwordFile} MYSQL_SSL_MODE=${m.ssl.mode} MYSQL_SSL_CA_FILE=${m.ssl.caFile}`,
    `or the profiles in ${paths.dir}: tagstream.yaml (pipeline), trainer.yaml (training), api.yaml (API, read-only)`,
  ].join('\n');
}

// The subset of Redis that tagstream uses, behind our own interface: pipelines (one round trip each), Lua scripts
// sent as EVALSHA inside them, ioredis errors mapped onto our codes, and counters to prove round trips in tests.
// The URL says everything about the connection: `rediss://` for TLS, `user:password@` for an ACL user, and
// `?tls-ca=<PEM file>` for a private CA (config/load.ts merges redis.password and redis.tls.caFile into it).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import { TagstreamError } from '../../errors.ts';
import { redactUrl } from '../../redact.ts';
import { TLS_CERT_CODES } from '../net/tls.ts';

export type RedisArg = string | number | Buffer;
export type RedisReply = string | number | Buffer | null | RedisReply[];

/** A Lua script with its SHA1, sent as EVALSHA (loaded on first use per connection). */
export interface RedisScript {
  readonly lua: string;
  readonly sha1: string;
}

/** One command of a pipeline: a plain command or a script call. */
export type RedisCommand =
  | { readonly kind: 'command'; readonly name: string; readonly args: readonly RedisArg[] }
  | {
      readonly kind: 'script';
      readonly script: RedisScript;
      readonly keys: readonly string[];
      readonly args: readonly RedisArg[];
    };

export function command(name: string, ...args: RedisArg[]): RedisCommand {
  return { kind: 'command', name, args };
}

export function scriptCall(
  script: RedisScript,
  keys: readonly string[],
  args: readonly RedisArg[],
): RedisCommand {
  return { kind: 'script', script, keys, args };
}

export function defineScript(lua: string): RedisScript {
  return { lua, sha1: createHash('sha1').update(lua).digest('hex') };
}

/** Counters since the client was created. */
export interface RedisStats {
  /** Requests flushed and awaited: one per `pipeline()` call (two when a script had to be reloaded). */
  readonly roundTrips: number;
  /** Commands sent, including SCRIPT LOADs. */
  readonly commands: number;
  /** write() calls on the TCP socket, counted at the socket: a pipeline is one write, whatever its length. */
  readonly socketWrites: number;
}

export interface RedisClient {
  /**
   * Sends all commands in one write and awaits all replies: one round trip. Replies come back in order; the first
   * error reply (after all replies arrived) is thrown as a TagstreamError.
   */
  pipeline(commands: readonly RedisCommand[]): Promise<RedisReply[]>;
  stats(): RedisStats;
  close(): Promise<void>;
}

export interface RedisClientOptions {
  /** CLIENT SETNAME on connect, so the connection can be found in CLIENT LIST and MONITOR. */
  readonly connectionName?: string;
  readonly connectTimeoutMs?: number;
  /** Reconnect attempts a command waits through before it fails with REDIS_UNAVAILABLE. */
  readonly maxRetriesPerRequest?: number;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'ETIMEDOUT',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** Messages ioredis uses when a command could not be sent because the connection is down. */
const CONNECTION_LOST = [/^Connection is closed/, /^Stream isn't writeable/, /max retries per request/i];

/** Set on the last connection error by createRedisClient when a plaintext client met a server that speaks TLS. */
export const SPEAKS_TLS = 'TAGSTREAM_REDIS_SPEAKS_TLS';

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : '';
}

/** The user a URL logs in as: its user name, or `default` (Redis's user for a bare password or none). */
function userOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username) || 'default';
  } catch {
    return 'default';
  }
}

/** What the failed command was, for a NOPERM message: its name and keys. */
export interface RedisErrorContext {
  readonly command?: string;
  readonly keys?: readonly string[];
}

/** A TLS failure (certificate, or the two sides not agreeing on TLS) as REDIS_TLS_FAILED; undefined otherwise. */
function tlsFailure(e: unknown, url: string, where: string): TagstreamError | undefined {
  const code = errorCode(e);
  const message = e instanceof Error ? e.message : '';
  if (code === SPEAKS_TLS)
    return new TagstreamError(
      'REDIS_TLS_FAILED',
      `Redis at ${where} speaks TLS and this client does not: use a rediss:// URL (REDIS_URL), with redis.tls.caFile for a private CA`,
      { cause: e },
    );
  if (TLS_CERT_CODES.has(code))
    return new TagstreamError(
      'REDIS_TLS_FAILED',
      `TLS to Redis at ${where} failed (${code}: ${message}): the server's certificate must be signed by a CA in redis.tls.caFile (tls-ca in REDIS_URL${url.includes('tls-ca=') ? '' : '; unset: the system CAs'}) and name the host`,
      { cause: e },
    );
  if (/wrong version number|packet length too long|ERR_SSL_/i.test(`${code} ${message}`))
    return new TagstreamError(
      'REDIS_TLS_FAILED',
      `Redis at ${where} does not speak TLS (${code || message}): use a redis:// URL, or enable TLS on the server (tls-port)`,
      { cause: e },
    );
  return undefined;
}

/**
 * Maps what ioredis throws onto our codes. `lastConnectionError` is the latest socket error the client saw: ioredis
 * rejects queued commands with a generic "Connection is closed." and the real reason (ECONNREFUSED, a TLS failure)
 * only reaches the 'error' event. Refused logins and missing ACL permissions name the user; never the password.
 */
export function mapRedisError(
  e: unknown,
  url: string,
  lastConnectionError?: unknown,
  context: RedisErrorContext = {},
): TagstreamError {
  if (e instanceof TagstreamError) return e;
  const where = redactUrl(url).replace(/[?&]tls-ca=[^&#]*/, '');
  const message = e instanceof Error ? e.message : String(e);
  const name = e instanceof Error ? e.name : '';
  const unavailable = (code: string): TagstreamError =>
    new TagstreamError(
      'REDIS_UNAVAILABLE',
      `Redis at ${where} is not reachable${code ? ` (${code})` : ''}: start Redis or set REDIS_URL`,
      { cause: e, retryable: true },
    );
  const tls = tlsFailure(e, url, where);
  if (tls) return tls;
  if (NETWORK_CODES.has(errorCode(e))) return unavailable(errorCode(e));
  if (name === 'MaxRetriesPerRequestError' || CONNECTION_LOST.some((re) => re.test(message))) {
    const behind = tlsFailure(lastConnectionError, url, where);
    if (behind) return behind;
    return unavailable(
      NETWORK_CODES.has(errorCode(lastConnectionError)) ? errorCode(lastConnectionError) : '',
    );
  }
  if (name === 'ReplyError') {
    const reply = message.split(' ', 1)[0] ?? '';
    const user = userOf(url);
    if (reply === 'NOAUTH' || reply === 'WRONGPASS')
      return new TagstreamError(
        'REDIS_AUTH_FAILED',
        reply === 'NOAUTH'
          ? `Redis at ${where} wants a login (NOAUTH) and this client sent none: put the user in REDIS_URL (rediss://<user>@host:port) and its password in redis.password or redis.passwordFile`
          : `Redis at ${where} refused the login of user ${user} (WRONGPASS: wrong password, or the user is off): check the user in REDIS_URL and redis.password / redis.passwordFile`,
        { cause: e, details: { user } },
      );
    // NOPERM for a command or a key; inside a script Redis 7.0 says "The user executing the script can't run ...".
    if (reply === 'NOPERM' || /user executing the script can't run/.test(message)) {
      const command = /run the '([^']+)' command/.exec(message)?.[1] ?? context.command ?? 'this command';
      const keys = /keys used as arguments/.test(message) && context.keys?.length;
      return new TagstreamError(
        'REDIS_NOT_AUTHORIZED',
        `Redis at ${where}: user ${user} may not ${
          keys ? `${command} the keys ${context.keys!.slice(0, 3).join(', ')}` : `run ${command}`
        } (${message.slice(0, 160)}): its ACL needs ${
          keys ? 'a key pattern (~<prefix>*) that matches them (featureStore.redisPrefix)' : `+${command}`
        }; docs/security.md lists what each user may do`,
        { cause: e, details: { user, command } },
      );
    }
    if (reply === 'LOADING' || reply === 'MASTERDOWN')
      return new TagstreamError(
        'REDIS_UNAVAILABLE',
        `Redis at ${where} is not ready (${reply}): retry later`,
        {
          cause: e,
          retryable: true,
        },
      );
    // A long script (BUSY), a resharding slot (TRYAGAIN) or maxmemory (OOM, freed as TTLs expire) pass.
    if (reply === 'BUSY' || reply === 'TRYAGAIN' || reply === 'OOM')
      return new TagstreamError('REDIS_ERROR', `Redis error reply: ${message}`, {
        cause: e,
        retryable: true,
      });
    return new TagstreamError('REDIS_ERROR', `Redis error reply: ${message}`, { cause: e });
  }
  return new TagstreamError('REDIS_ERROR', `Redis error: ${message}`, { cause: e });
}

/**
 * Splits the URL into what ioredis takes: the URL without `tls-ca` (ioredis would take any query option as its
 * own), and TLS options with that CA for a rediss:// URL. CONFIG_INVALID when the CA cannot be read, or is given
 * for a plaintext URL.
 */
export function redisConnection(url: string): { url: string; tls?: { ca?: Buffer } } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TagstreamError('CONFIG_INVALID', `redis.url: ${redactUrl(url)} is not a URL`);
  }
  const caFile = u.searchParams.get('tls-ca') ?? '';
  u.searchParams.delete('tls-ca');
  const plain = u.toString().replace(/\?$/, '');
  if (u.protocol !== 'rediss:') {
    if (caFile)
      throw new TagstreamError(
        'CONFIG_INVALID',
        `redis.tls.caFile (tls-ca) is set but redis.url is ${u.protocol}//: use rediss:// for TLS`,
      );
    return { url: plain };
  }
  if (!caFile) return { url: plain, tls: {} };
  try {
    return { url: plain, tls: { ca: readFileSync(caFile) } };
  } catch (e) {
    throw new TagstreamError(
      'CONFIG_INVALID',
      `redis.tls.caFile (tls-ca in REDIS_URL): cannot read ${caFile} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

/**
 * Whether host:port answers a TLS handshake: a plaintext client whose connection the server reset may be talking to
 * a TLS port (a TLS-only Redis drops what is not a handshake). No credential is sent.
 */
export function speaksTls(host: string, port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, timeout: timeoutMs }, () => {
      socket.destroy();
      resolve(true);
    });
    const no = (): void => {
      socket.destroy();
      resolve(false);
    };
    socket.once('error', no);
    socket.once('timeout', no);
  });
}

/** A command that failed because the connection is down (not a reply of the server). */
function lostConnection(e: unknown): boolean {
  const message = e instanceof Error ? e.message : String(e);
  return (
    (e instanceof Error && e.name === 'MaxRetriesPerRequestError') ||
    CONNECTION_LOST.some((re) => re.test(message)) ||
    NETWORK_CODES.has(errorCode(e))
  );
}

function isNoScript(e: unknown): boolean {
  return e instanceof Error && e.message.startsWith('NOSCRIPT');
}

/** The command name and keys of an argv, for error messages (a script call's keys; a plain command's first argument). */
function contextOf(argv: readonly [string, ...RedisArg[]] | undefined): RedisErrorContext {
  if (!argv) return {};
  const [name, ...args] = argv;
  if (name === 'evalsha') {
    const n = Number(args[1] ?? 0);
    return { command: 'evalsha', keys: args.slice(2, 2 + n).map(String) };
  }
  if (name === 'script') return { command: `script|${String(args[0] ?? '')}` };
  return { command: name, keys: args.length ? [String(args[0])] : [] };
}

function toArgv(c: RedisCommand): [string, ...RedisArg[]] {
  return c.kind === 'command'
    ? [c.name, ...c.args]
    : ['evalsha', c.script.sha1, c.keys.length, ...c.keys, ...c.args];
}

export function createRedisClient(url: string, options: RedisClientOptions = {}): RedisClient {
  const connection = redisConnection(url);
  const redis = new Redis(connection.url, {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    maxRetriesPerRequest: options.maxRetriesPerRequest ?? 2,
    // Keep reconnecting with a capped backoff: the store lives as long as the pipeline, Redis may come back.
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...(connection.tls ? { tls: connection.tls } : {}),
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
  } satisfies RedisOptions);
  let lastConnectionError: unknown;
  /** The TLS probe of a plaintext client whose connection was reset (see speaksTls), once, and what it found. */
  let probe: Promise<void> | undefined;
  let tlsMismatch: Error | undefined;
  /** The reason behind a failed command: a TLS mismatch outlasts the resets that follow it. */
  const connectionError = (): unknown => tlsMismatch ?? lastConnectionError;
  let roundTrips = 0;
  let commands = 0;
  let socketWrites = 0;
  /** Scripts known to be in this connection's server's cache; a new connection may reach a restarted server. */
  const loaded = new Set<string>();
  const hooked = new WeakSet<object>();

  /** For a plaintext client whose connection the server reset: does it speak TLS? Once per client. */
  const probeTls = (): Promise<void> => {
    if (connection.tls) return Promise.resolve();
    const { host, port } = redis.options;
    return (probe ??= speaksTls(host ?? '127.0.0.1', port ?? 6379).then((yes) => {
      if (yes) tlsMismatch = Object.assign(new Error('the server speaks TLS'), { code: SPEAKS_TLS });
    }));
  };
  redis.on('error', (e: unknown) => {
    lastConnectionError = e;
    if (errorCode(e) === 'ECONNRESET') probeTls().catch(() => undefined);
  });
  redis.on('connect', () => {
    loaded.clear();
    const socket = redis.stream as unknown as { write: (...a: unknown[]) => boolean } | undefined;
    if (!socket || hooked.has(socket)) return;
    hooked.add(socket);
    const write = socket.write.bind(socket);
    socket.write = (...a: unknown[]) => {
      socketWrites++;
      return write(...a);
    };
  });

  /** One round trip: every reply, errors included, in order. */
  async function send(argvs: readonly [string, ...RedisArg[]][]): Promise<[Error | null, unknown][]> {
    roundTrips++;
    commands += argvs.length;
    try {
      const results = await redis.pipeline(argvs.map((a) => [...a])).exec();
      if (results === null) throw new Error('Connection is closed.');
      // Commands that could not be sent come back as errors in the results: find out why first (see below).
      if (results.some(([err]) => err !== null && lostConnection(err))) await probeTls();
      return results;
    } catch (e) {
      // The reset that explains a lost connection may be reported after the command failed.
      if (lostConnection(e)) await probeTls();
      throw mapRedisError(e, url, connectionError(), contextOf(argvs[0]));
    }
  }

  /** The first error reply of `results`, thrown; `argvs[i]` is what result i answers. */
  function firstError(
    results: readonly [Error | null, unknown][],
    argvs: readonly (readonly [string, ...RedisArg[]])[],
  ): void {
    const i = results.findIndex(([err]) => err !== null);
    if (i >= 0) throw mapRedisError(results[i]![0], url, connectionError(), contextOf(argvs[i]));
  }

  return {
    async pipeline(cmds) {
      if (cmds.length === 0) return [];
      // Load unknown scripts in the same request, ahead of their calls: the server runs a pipeline in order.
      const toLoad = new Map<string, RedisScript>();
      for (const c of cmds)
        if (c.kind === 'script' && !loaded.has(c.script.sha1)) toLoad.set(c.script.sha1, c.script);
      const loads = [...toLoad.values()];
      const loadArgvs = loads.map((s): [string, ...RedisArg[]] => ['script', 'load', s.lua]);
      const argvs = cmds.map(toArgv);
      let results = await send([...loadArgvs, ...argvs]);
      firstError(results.slice(0, loads.length), loadArgvs);
      for (const s of loads) loaded.add(s.sha1);
      results = results.slice(loads.length);
      // Someone ran SCRIPT FLUSH (or the server restarted under us): reload and resend just those calls, once.
      const noScript = results.flatMap(([err], i) => (isNoScript(err) ? [i] : []));
      if (noScript.length > 0) {
        const scripts = new Map<string, RedisScript>();
        for (const i of noScript) {
          const c = cmds[i]!;
          if (c.kind === 'script') scripts.set(c.script.sha1, c.script);
        }
        const reloads = [...scripts.values()].map((s): [string, ...RedisArg[]] => ['script', 'load', s.lua]);
        const again = await send([...reloads, ...noScript.map((i) => argvs[i]!)]);
        firstError(again.slice(0, scripts.size), reloads);
        const resent = again.slice(scripts.size);
        noScript.forEach((i, j) => {
          results[i] = resent[j]!;
        });
      }
      firstError(results, argvs);
      return results.map(([, reply]) => reply as RedisReply);
    },
    stats: () => ({ roundTrips, commands, socketWrites }),
    async close() {
      if (redis.status === 'ready') {
        try {
          await redis.quit();
          return;
        } catch {
          // fall through: the connection is going away anyway
        }
      }
      redis.disconnect();
    },
  };
}

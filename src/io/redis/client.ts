// The subset of Redis that tagstream uses, behind our own interface: pipelines (one round trip each), Lua scripts
// sent as EVALSHA inside them, ioredis errors mapped onto our codes, and counters to prove round trips in tests.
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { TagstreamError } from '../../errors.ts';
import { redactUrl } from '../../redact.ts';

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

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : '';
}

/**
 * Maps what ioredis throws onto our codes. `lastConnectionError` is the latest socket error the client saw: ioredis
 * rejects queued commands with a generic "Connection is closed." and the real reason (ECONNREFUSED) only reaches the
 * 'error' event.
 */
export function mapRedisError(e: unknown, url: string, lastConnectionError?: unknown): TagstreamError {
  if (e instanceof TagstreamError) return e;
  const where = redactUrl(url);
  const message = e instanceof Error ? e.message : String(e);
  const name = e instanceof Error ? e.name : '';
  const unavailable = (code: string): TagstreamError =>
    new TagstreamError(
      'REDIS_UNAVAILABLE',
      `Redis at ${where} is not reachable${code ? ` (${code})` : ''}: start Redis or set REDIS_URL`,
      { cause: e, retryable: true },
    );
  if (NETWORK_CODES.has(errorCode(e))) return unavailable(errorCode(e));
  if (name === 'MaxRetriesPerRequestError' || CONNECTION_LOST.some((re) => re.test(message)))
    return unavailable(
      NETWORK_CODES.has(errorCode(lastConnectionError)) ? errorCode(lastConnectionError) : '',
    );
  if (name === 'ReplyError') {
    const reply = message.split(' ', 1)[0] ?? '';
    if (reply === 'NOAUTH' || reply === 'WRONGPASS')
      return new TagstreamError(
        'REDIS_UNAVAILABLE',
        `Redis at ${where} refused the connection (${reply}): check the credentials in REDIS_URL`,
        { cause: e },
      );
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

function isNoScript(e: unknown): boolean {
  return e instanceof Error && e.message.startsWith('NOSCRIPT');
}

function toArgv(c: RedisCommand): [string, ...RedisArg[]] {
  return c.kind === 'command'
    ? [c.name, ...c.args]
    : ['evalsha', c.script.sha1, c.keys.length, ...c.keys, ...c.args];
}

export function createRedisClient(url: string, options: RedisClientOptions = {}): RedisClient {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    maxRetriesPerRequest: options.maxRetriesPerRequest ?? 2,
    // Keep reconnecting with a capped backoff: the store lives as long as the pipeline, Redis may come back.
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
  });
  let lastConnectionError: unknown;
  let roundTrips = 0;
  let commands = 0;
  let socketWrites = 0;
  /** Scripts known to be in this connection's server's cache; a new connection may reach a restarted server. */
  const loaded = new Set<string>();
  const hooked = new WeakSet<object>();

  redis.on('error', (e: unknown) => {
    lastConnectionError = e;
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
      return results;
    } catch (e) {
      throw mapRedisError(e, url, lastConnectionError);
    }
  }

  function firstError(results: readonly [Error | null, unknown][]): void {
    const failed = results.find(([err]) => err !== null);
    if (failed) throw mapRedisError(failed[0], url, lastConnectionError);
  }

  return {
    async pipeline(cmds) {
      if (cmds.length === 0) return [];
      // Load unknown scripts in the same request, ahead of their calls: the server runs a pipeline in order.
      const toLoad = new Map<string, RedisScript>();
      for (const c of cmds)
        if (c.kind === 'script' && !loaded.has(c.script.sha1)) toLoad.set(c.script.sha1, c.script);
      const loads = [...toLoad.values()];
      let results = await send([
        ...loads.map((s): [string, ...RedisArg[]] => ['script', 'load', s.lua]),
        ...cmds.map(toArgv),
      ]);
      firstError(results.slice(0, loads.length));
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
        const again = await send([
          ...[...scripts.values()].map((s): [string, ...RedisArg[]] => ['script', 'load', s.lua]),
          ...noScript.map((i) => toArgv(cmds[i]!)),
        ]);
        firstError(again.slice(0, scripts.size));
        const resent = again.slice(scripts.size);
        noScript.forEach((i, j) => {
          results[i] = resent[j]!;
        });
      }
      firstError(results);
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

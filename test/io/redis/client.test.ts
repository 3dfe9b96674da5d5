// ioredis errors mapped onto our codes (one test per mapping), the command helpers, and a refused connection end to
// end (a port nobody listens on; no Redis needed).
import { createHash } from 'node:crypto';
import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { TagstreamError } from '../../../src/errors.ts';
import {
  command,
  createRedisClient,
  defineScript,
  mapRedisError,
  scriptCall,
} from '../../../src/io/redis/client.ts';
import { rejectionOf } from '../../helpers/errors.ts';

const URL_WITH_PASSWORD = 'redis://default:s3cret@cache.local:6379/0';

function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:6379`), { code });
}

function reply(message: string): Error {
  return new (ReplyError as new (m: string) => Error)(message);
}

function maxRetriesError(): Error {
  // ioredis's MaxRetriesPerRequestError is not exported; the mapping keys on its name.
  const e = new Error('Reached the max retries per request limit (which is 2).');
  e.name = 'MaxRetriesPerRequestError';
  return e;
}

describe('mapRedisError', () => {
  it.each(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH'])(
    'socket error %s is REDIS_UNAVAILABLE, retryable, with the hint',
    (code) => {
      const cause = socketError(code);
      const e = mapRedisError(cause, URL_WITH_PASSWORD);
      expect(e.code).toBe('REDIS_UNAVAILABLE');
      expect(e.retryable).toBe(true);
      expect(e.cause).toBe(cause);
      expect(e.message).toContain(`(${code})`);
      expect(e.message).toContain('start Redis or set REDIS_URL');
    },
  );

  it('"Connection is closed." is REDIS_UNAVAILABLE, retryable, naming the last socket error', () => {
    const e = mapRedisError(
      new Error('Connection is closed.'),
      URL_WITH_PASSWORD,
      socketError('ECONNREFUSED'),
    );
    expect(e.code).toBe('REDIS_UNAVAILABLE');
    expect(e.retryable).toBe(true);
    expect(e.message).toContain('(ECONNREFUSED)');
    expect(e.message).toContain('start Redis or set REDIS_URL');
  });

  it('MaxRetriesPerRequestError (commands queued while reconnecting) is REDIS_UNAVAILABLE, retryable', () => {
    const e = mapRedisError(maxRetriesError(), URL_WITH_PASSWORD);
    expect(e.code).toBe('REDIS_UNAVAILABLE');
    expect(e.retryable).toBe(true);
    expect(e.message).toContain('start Redis or set REDIS_URL');
  });

  it('"Stream isn\'t writeable" is REDIS_UNAVAILABLE, retryable', () => {
    const e = mapRedisError(
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      URL_WITH_PASSWORD,
    );
    expect(e.code).toBe('REDIS_UNAVAILABLE');
    expect(e.retryable).toBe(true);
  });

  it.each(['NOAUTH Authentication required.', 'WRONGPASS invalid username-password pair'])(
    'reply %s is REDIS_AUTH_FAILED, not retryable, pointing at the credentials',
    (message) => {
      const e = mapRedisError(reply(message), URL_WITH_PASSWORD);
      expect(e.code).toBe('REDIS_AUTH_FAILED');
      expect(e.retryable).toBe(false);
      expect(e.message).toMatch(/REDIS_URL.*redis\.password/);
    },
  );

  it.each(['LOADING Redis is loading the dataset in memory', 'MASTERDOWN Link with MASTER is down'])(
    'reply %s is REDIS_UNAVAILABLE, retryable',
    (message) => {
      const e = mapRedisError(reply(message), URL_WITH_PASSWORD);
      expect(e.code).toBe('REDIS_UNAVAILABLE');
      expect(e.retryable).toBe(true);
    },
  );

  it.each([
    'BUSY Redis is busy running a script',
    'TRYAGAIN Multiple keys request during rehashing of slot',
    "OOM command not allowed when used memory > 'maxmemory'.",
  ])('reply %s is REDIS_ERROR, retryable', (message) => {
    const e = mapRedisError(reply(message), URL_WITH_PASSWORD);
    expect(e.code).toBe('REDIS_ERROR');
    expect(e.retryable).toBe(true);
    expect(e.message).toContain(message);
  });

  it.each([
    'WRONGTYPE Operation against a key holding the wrong kind of value',
    "ERR unknown command 'hgetx'",
    'NOSCRIPT No matching script. Please use EVAL.',
  ])('reply %s is REDIS_ERROR, not retryable', (message) => {
    const cause = reply(message);
    const e = mapRedisError(cause, URL_WITH_PASSWORD);
    expect(e.code).toBe('REDIS_ERROR');
    expect(e.retryable).toBe(false);
    expect(e.cause).toBe(cause);
    expect(e.message).toContain(message);
  });

  it('anything else is REDIS_ERROR, not retryable', () => {
    const e = mapRedisError(new TypeError('boom'), URL_WITH_PASSWORD);
    expect(e.code).toBe('REDIS_ERROR');
    expect(e.retryable).toBe(false);
  });

  it('keeps our own errors as they are', () => {
    const ours = new TagstreamError('REDIS_UNAVAILABLE', 'already mapped', { retryable: true });
    expect(mapRedisError(ours, URL_WITH_PASSWORD)).toBe(ours);
  });

  it('never puts the password in the message', () => {
    const e = mapRedisError(socketError('ECONNREFUSED'), URL_WITH_PASSWORD);
    expect(e.message).toContain('redis://default:***@cache.local:6379/0');
    expect(e.message).not.toContain('s3cret');
  });
});

describe('commands and scripts', () => {
  it('defineScript carries the SHA1 that EVALSHA needs', () => {
    const s = defineScript('return 1');
    expect(s.sha1).toBe(createHash('sha1').update('return 1').digest('hex'));
  });

  it('command and scriptCall build tagged commands', () => {
    const s = defineScript('return KEYS[1]');
    expect(command('hmget', 'k', 'a', 'b')).toEqual({
      kind: 'command',
      name: 'hmget',
      args: ['k', 'a', 'b'],
    });
    expect(scriptCall(s, ['k'], ['1'])).toEqual({ kind: 'script', script: s, keys: ['k'], args: ['1'] });
  });
});

describe('createRedisClient', () => {
  it('a refused connection is REDIS_UNAVAILABLE with the hint, and close() does not hang', async () => {
    // Port 1 on loopback: nothing listens there, the kernel refuses at once.
    const redis = createRedisClient('redis://127.0.0.1:1', { maxRetriesPerRequest: 0 });
    try {
      const e = await rejectionOf(redis.pipeline([command('ping')]));
      expect(e.code).toBe('REDIS_UNAVAILABLE');
      expect(e.retryable).toBe(true);
      expect(e.message).toContain('(ECONNREFUSED)');
      expect(e.message).toContain('start Redis or set REDIS_URL');
    } finally {
      await redis.close();
    }
  });

  it('an empty pipeline sends nothing', async () => {
    const redis = createRedisClient('redis://127.0.0.1:1');
    expect(await redis.pipeline([])).toEqual([]);
    expect(redis.stats()).toEqual({ roundTrips: 0, commands: 0, socketWrites: 0 });
    await redis.close();
  });
});

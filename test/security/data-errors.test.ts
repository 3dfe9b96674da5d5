// The security refusals of Redis, MariaDB and the schema registry mapped onto our codes, one test per mapping: each
// names the user and what to change, is not retryable, and never carries the password. No services needed.
import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { mapMysqlError } from '../../src/io/mysql/pool.ts';
import { SPEAKS_TLS, mapRedisError } from '../../src/io/redis/client.ts';
import { mapRegistryError } from '../../src/io/registry/registry.ts';

const SECRET = 'Pa55-data-secret';
const MYSQL_TLS = `mysql://tagstream:${SECRET}@127.0.0.1:3316/tagstream?ssl-mode=VERIFY_IDENTITY&ssl-ca=/stack/ca.pem`;
const MYSQL_PLAIN = `mysql://tagstream:${SECRET}@127.0.0.1:3316/tagstream`;
const REDIS = `rediss://tagstream:${SECRET}@127.0.0.1:6390?tls-ca=/stack/ca.pem`;
const REGISTRY = `https://key:${SECRET}@registry.local/apis/ccompat/v7?tls-ca=/stack/ca.pem`;

const driverError = (message: string, props: { code?: string; errno?: number }): Error =>
  Object.assign(new Error(message), props);
const reply = (message: string): Error => new (ReplyError as new (m: string) => Error)(message);

function noSecret(e: Error): void {
  expect(e.message).not.toContain(SECRET);
  expect(JSON.stringify((e as { details?: unknown }).details ?? {})).not.toContain(SECRET);
}

describe('MySQL/MariaDB refusals', () => {
  const denied = (message: string, errno: number, code: string) => driverError(message, { errno, code });

  it('1045 over TLS: MYSQL_AUTH_FAILED naming the user and the password keys', () => {
    const e = mapMysqlError(
      denied(
        "Access denied for user 'tagstream'@'127.0.0.1' (using password: YES)",
        1045,
        'ER_ACCESS_DENIED_ERROR',
      ),
      MYSQL_TLS,
    );
    expect(e.code).toBe('MYSQL_AUTH_FAILED');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('refused the login of user tagstream: check');
    expect(e.message).toContain('mysql.passwordFile');
    noSecret(e);
  });

  it('1045 over plaintext: MYSQL_AUTH_FAILED saying the server may require TLS (MariaDB answers both so)', () => {
    const e = mapMysqlError(
      denied(
        "Access denied for user 'tagstream'@'127.0.0.1' (using password: YES)",
        1045,
        'ER_ACCESS_DENIED_ERROR',
      ),
      MYSQL_PLAIN,
    );
    expect(e.code).toBe('MYSQL_AUTH_FAILED');
    expect(e.message).toContain('over an unencrypted connection');
    expect(e.message).toContain('mysql.ssl.mode VERIFY_IDENTITY');
    noSecret(e);
  });

  it('3159 (MySQL 8 under require_secure_transport): MYSQL_TLS_FAILED', () => {
    const e = mapMysqlError(
      denied('Connections using insecure transport are prohibited', 3159, 'ER_SECURE_TRANSPORT_REQUIRED'),
      MYSQL_PLAIN,
    );
    expect(e.code).toBe('MYSQL_TLS_FAILED');
    expect(e.message).toContain('requires TLS');
  });

  it('1142 (MariaDB wording): MYSQL_NOT_AUTHORIZED naming the user, the table and the GRANT', () => {
    const e = mapMysqlError(
      denied(
        "INSERT command denied to user 'api'@'127.0.0.1' for table `tagstream`.`ml_models`",
        1142,
        'ER_TABLEACCESS_DENIED_ERROR',
      ),
      MYSQL_TLS.replace('tagstream:', 'api:'),
    );
    expect(e.code).toBe('MYSQL_NOT_AUTHORIZED');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('user api may not INSERT on tagstream.ml_models');
    expect(e.message).toContain("GRANT INSERT ON `tagstream`.`ml_models` TO 'api'@'%'");
    expect(e.details).toMatchObject({ user: 'api', errno: 1142 });
    noSecret(e);
  });

  it("1142 (MySQL wording, no database): the URL's database", () => {
    const e = mapMysqlError(
      denied(
        "UPDATE command denied to user 'api'@'localhost' for table 'ml_models'",
        1142,
        'ER_TABLEACCESS_DENIED_ERROR',
      ),
      MYSQL_TLS,
    );
    expect(e.message).toContain('user api may not UPDATE on tagstream.ml_models');
  });

  it('1044: MYSQL_NOT_AUTHORIZED naming the database', () => {
    const e = mapMysqlError(
      denied("Access denied for user 'tagstream'@'%' to database 'mysql'", 1044, 'ER_DBACCESS_DENIED_ERROR'),
      MYSQL_TLS,
    );
    expect(e.code).toBe('MYSQL_NOT_AUTHORIZED');
    expect(e.message).toContain('user tagstream may not use database mysql');
  });

  it('1143: MYSQL_NOT_AUTHORIZED naming the column', () => {
    const e = mapMysqlError(
      denied(
        "SELECT command denied to user 'api'@'%' for column 'onnx' in table 'ml_models'",
        1143,
        'ER_COLUMNACCESS_DENIED_ERROR',
      ),
      MYSQL_TLS,
    );
    expect(e.code).toBe('MYSQL_NOT_AUTHORIZED');
    expect(e.message).toContain('SELECT on column onnx of ml_models');
  });

  it('an untrusted server certificate: MYSQL_TLS_FAILED naming mysql.ssl.caFile', () => {
    const e = mapMysqlError(
      driverError('self-signed certificate in certificate chain', { code: 'HANDSHAKE_SSL_ERROR' }),
      MYSQL_TLS,
    );
    expect(e.code).toBe('MYSQL_TLS_FAILED');
    expect(e.message).toContain('mysql.ssl.caFile (/stack/ca.pem)');
    expect(e.message).toContain('name the host');
    noSecret(e);
  });

  it('a server without TLS: MYSQL_TLS_FAILED', () => {
    const e = mapMysqlError(
      driverError('Server does not support secure connection', { code: 'HANDSHAKE_NO_SSL_SUPPORT' }),
      MYSQL_TLS,
    );
    expect(e.code).toBe('MYSQL_TLS_FAILED');
    expect(e.message).toContain('does not offer TLS');
  });
});

describe('Redis refusals', () => {
  it('NOAUTH: REDIS_AUTH_FAILED saying no login was sent', () => {
    const e = mapRedisError(reply('NOAUTH Authentication required.'), REDIS.replace(/\/\/[^@]*@/, '//'));
    expect(e.code).toBe('REDIS_AUTH_FAILED');
    expect(e.message).toContain('this client sent none');
  });

  it('WRONGPASS: REDIS_AUTH_FAILED naming the user', () => {
    const e = mapRedisError(reply('WRONGPASS invalid username-password pair or user is disabled.'), REDIS);
    expect(e.code).toBe('REDIS_AUTH_FAILED');
    expect(e.message).toContain('refused the login of user tagstream');
    noSecret(e);
  });

  it('NOPERM for a command: REDIS_NOT_AUTHORIZED naming the user and the ACL rule', () => {
    const e = mapRedisError(
      reply("NOPERM this user has no permissions to run the 'flushall' command"),
      REDIS,
    );
    expect(e.code).toBe('REDIS_NOT_AUTHORIZED');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('user tagstream may not run flushall');
    expect(e.message).toContain('+flushall');
    noSecret(e);
  });

  it('NOPERM for a key: REDIS_NOT_AUTHORIZED naming the keys and the prefix', () => {
    const e = mapRedisError(
      reply('NOPERM this user has no permissions to access one of the keys used as arguments'),
      REDIS,
      undefined,
      { command: 'hset', keys: ['other:feat:1'] },
    );
    expect(e.code).toBe('REDIS_NOT_AUTHORIZED');
    expect(e.message).toContain('may not hset the keys other:feat:1');
    expect(e.message).toContain('featureStore.redisPrefix');
  });

  it("inside a script (Redis 7.0's wording): REDIS_NOT_AUTHORIZED", () => {
    const e = mapRedisError(
      reply(
        "ERR The user executing the script can't run this command or subcommand script: abc, on @user_script:1.",
      ),
      REDIS,
      undefined,
      { command: 'evalsha', keys: ['ts:pred:counts'] },
    );
    expect(e.code).toBe('REDIS_NOT_AUTHORIZED');
  });

  it('an untrusted certificate behind a lost connection: REDIS_TLS_FAILED naming redis.tls.caFile', () => {
    const cert = Object.assign(new Error('self-signed certificate in certificate chain'), {
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
    const e = mapRedisError(new Error('Connection is closed.'), REDIS, cert);
    expect(e.code).toBe('REDIS_TLS_FAILED');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('redis.tls.caFile');
    noSecret(e);
  });

  it('a plaintext client at a TLS port (the probe found TLS): REDIS_TLS_FAILED saying rediss://', () => {
    const e = mapRedisError(
      Object.assign(new Error('Reached the max retries per request limit'), {
        name: 'MaxRetriesPerRequestError',
      }),
      'redis://127.0.0.1:6390',
      Object.assign(new Error('the server speaks TLS'), { code: SPEAKS_TLS }),
    );
    expect(e.code).toBe('REDIS_TLS_FAILED');
    expect(e.message).toContain('use a rediss:// URL');
  });
});

describe('schema registry refusals', () => {
  it('401 with a user: REGISTRY_AUTH_FAILED naming it and the keys', () => {
    const e = mapRegistryError({ status: 401, message: 'Unauthorized' }, REGISTRY, 'subject s-value');
    expect(e.code).toBe('REGISTRY_AUTH_FAILED');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('refused the login of key');
    expect(e.message).toContain('https://key:***@registry.local/apis/ccompat/v7 ');
    noSecret(e);
  });

  it('401 without a user: REGISTRY_AUTH_FAILED saying to set one', () => {
    const e = mapRegistryError({ status: 401 }, 'https://registry.local', 'schema id 1');
    expect(e.message).toContain('without a login');
    expect(e.message).toContain('set schemaRegistry.username');
  });

  it('403: REGISTRY_AUTH_FAILED (the roles)', () => {
    const e = mapRegistryError({ status: 403, message: 'Forbidden' }, REGISTRY, 'subject s-value');
    expect(e.code).toBe('REGISTRY_AUTH_FAILED');
    expect(e.message).toContain("registry's roles");
  });

  it.each([
    [{ code: 'SELF_SIGNED_CERT_IN_CHAIN', message: 'self-signed certificate in certificate chain' }],
    [{ status: 400, message: 'request to https://x failed, reason: unable to verify the first certificate' }],
  ])('a TLS failure %j: REGISTRY_TLS_FAILED naming schemaRegistry.tls.caFile', (err) => {
    const e = mapRegistryError(err, REGISTRY, 'schema id 1');
    expect(e.code).toBe('REGISTRY_TLS_FAILED');
    expect(e.message).toContain('schemaRegistry.tls.caFile');
    noSecret(e);
  });
});

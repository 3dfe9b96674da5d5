// mysql2 errors mapped onto our codes (one test per mapping), and the URL helpers; no database needed.
import { describe, expect, it } from 'vitest';
import { mapMysqlError, redactUrl, splitDatabase } from '../../../src/io/mysql/pool.ts';

const URL_WITH_PASSWORD = 'mysql://tagstream:s3cret@db.local:3306/tagstream';

/** A mysql2-shaped error: an Error with the driver's code and errno. */
function driverError(message: string, props: { code?: string; errno?: number }): Error {
  return Object.assign(new Error(message), props);
}

describe('mapMysqlError', () => {
  it.each(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'PROTOCOL_CONNECTION_LOST', 'ECONNRESET'])(
    '%s is MYSQL_UNAVAILABLE, retryable, and points at MYSQL_URL',
    (code) => {
      const cause = driverError(`connect ${code} 127.0.0.1:3306`, { code });
      const e = mapMysqlError(cause, URL_WITH_PASSWORD);
      expect(e.code).toBe('MYSQL_UNAVAILABLE');
      expect(e.retryable).toBe(true);
      expect(e.cause).toBe(cause);
      expect(e.message).toContain(`(${code})`);
      expect(e.message).toContain('MYSQL_URL');
    },
  );

  it('never puts the password in the message', () => {
    const e = mapMysqlError(driverError('connect ECONNREFUSED', { code: 'ECONNREFUSED' }), URL_WITH_PASSWORD);
    expect(e.message).toContain('mysql://tagstream:***@db.local:3306/tagstream');
    expect(e.message).not.toContain('s3cret');
  });

  it('errno 1045 (access denied) is MYSQL_AUTH_FAILED naming the user, not retryable', () => {
    const e = mapMysqlError(
      driverError("Access denied for user 'tagstream'@'localhost'", {
        code: 'ER_ACCESS_DENIED_ERROR',
        errno: 1045,
      }),
      URL_WITH_PASSWORD,
    );
    expect(e.code).toBe('MYSQL_AUTH_FAILED');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('refused the login of user tagstream');
    expect(e.message).toContain('MYSQL_URL');
    expect(e.message).not.toContain('s3cret');
  });

  it.each([
    [1213, 'ER_LOCK_DEADLOCK'],
    [1205, 'ER_LOCK_WAIT_TIMEOUT'],
  ])('errno %i (%s) is a retryable MYSQL_ERROR', (errno, code) => {
    const e = mapMysqlError(driverError('Deadlock found', { code, errno }), URL_WITH_PASSWORD);
    expect(e.code).toBe('MYSQL_ERROR');
    expect(e.retryable).toBe(true);
  });

  it.each([
    [1048, 'ER_BAD_NULL_ERROR'],
    [1264, 'ER_WARN_DATA_OUT_OF_RANGE'],
    [1292, 'ER_TRUNCATED_WRONG_VALUE'],
    [1366, 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD'],
    [1406, 'ER_DATA_TOO_LONG'],
    [3819, 'ER_CHECK_CONSTRAINT_VIOLATED'],
    [4025, 'ER_CONSTRAINT_FAILED'],
  ])('errno %i (%s) is SINK_REJECTED: a record error about the row, never retried', (errno, code) => {
    const e = mapMysqlError(driverError('row refused', { code, errno }), URL_WITH_PASSWORD);
    expect(e.code).toBe('SINK_REJECTED');
    expect(e.isRecordError).toBe(true);
    expect(e.retryable).toBe(false);
    expect(e.message).toContain(code);
  });

  it('any other error is a non-retryable MYSQL_ERROR naming the driver code', () => {
    const cause = driverError("Table 'tagstream.nope' doesn't exist", {
      code: 'ER_NO_SUCH_TABLE',
      errno: 1146,
    });
    const e = mapMysqlError(cause, URL_WITH_PASSWORD);
    expect(e.code).toBe('MYSQL_ERROR');
    expect(e.retryable).toBe(false);
    expect(e.cause).toBe(cause);
    expect(e.message).toBe("MySQL error ER_NO_SUCH_TABLE: Table 'tagstream.nope' doesn't exist");
  });

  it('falls back to the errno when there is no code', () => {
    expect(mapMysqlError(driverError('boom', { errno: 1064 }), URL_WITH_PASSWORD).message).toBe(
      'MySQL error 1064: boom',
    );
  });
});

describe('splitDatabase', () => {
  it('separates the server URL from the database', () => {
    expect(splitDatabase('mysql://root@127.0.0.1:3306/tagstream')).toEqual({
      serverUrl: 'mysql://root@127.0.0.1:3306/',
      database: 'tagstream',
    });
  });

  it('keeps credentials and query parameters on the server URL', () => {
    expect(splitDatabase('mysql://u:p@db:3307/features?ssl=true')).toEqual({
      serverUrl: 'mysql://u:p@db:3307/?ssl=true',
      database: 'features',
    });
  });

  it('decodes a percent-encoded database name', () => {
    expect(splitDatabase('mysql://root@db/tag%2Dstream').database).toBe('tag-stream');
  });

  it('gives an empty name when the URL has no database', () => {
    expect(splitDatabase('mysql://root@db:3306').database).toBe('');
  });
});

describe('redactUrl', () => {
  it('hides the password and keeps the user', () => {
    expect(redactUrl(URL_WITH_PASSWORD)).toBe('mysql://tagstream:***@db.local:3306/tagstream');
  });

  it('leaves a URL without a password alone', () => {
    expect(redactUrl('mysql://root@127.0.0.1:3306/tagstream')).toBe('mysql://root@127.0.0.1:3306/tagstream');
    expect(redactUrl('mysql://127.0.0.1:3306/tagstream')).toBe('mysql://127.0.0.1:3306/tagstream');
  });

  it('hides a password containing / and :', () => {
    expect(redactUrl('mysql://u:a/b:c@h/db')).toBe('mysql://u:***@h/db');
  });

  // WHATWG URL parsing (and so mysql2) takes the LAST @ as the end of the userinfo, so `p@ss` is a usable
  // password; the redaction must not leave any of it in the logs.
  it('hides the whole password when it contains an unencoded @', () => {
    const url = 'mysql://root:p@ssw0rd@127.0.0.1:3306/tagstream';
    expect(new URL(url).password).toBe('p%40ssw0rd');
    expect(redactUrl(url)).toBe('mysql://root:***@127.0.0.1:3306/tagstream');
  });
});

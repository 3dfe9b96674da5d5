// The subset of mysql2 that tagstream uses, behind our own interface, with driver errors mapped to our codes.
import mysql from 'mysql2/promise';
import { TagstreamError } from '../../errors.ts';
import { redactUrl } from '../../redact.ts';

export { redactUrl };

export interface Sql {
  query<T = unknown>(sql: string, params?: unknown[]): Promise<T[]>;
  execute(sql: string, params?: unknown[]): Promise<{ affectedRows: number }>;
  end(): Promise<void>;
  /**
   * Runs `fn` on one pooled connection between BEGIN and COMMIT; ROLLBACK when it throws (the error is rethrown).
   * `tx` runs its statements on that connection; it cannot end the pool or nest another transaction.
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
}

/** MySQL errno / driver codes that mean "the server is not there": retrying later can help. */
const UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'ETIMEDOUT',
  'PROTOCOL_CONNECTION_LOST',
  'ECONNRESET',
]);

export function mapMysqlError(e: unknown, url: string): TagstreamError {
  const code = (e as { code?: string } | undefined)?.code ?? '';
  const errno = (e as { errno?: number } | undefined)?.errno;
  const where = redactUrl(url);
  if (UNAVAILABLE.has(code))
    return new TagstreamError(
      'MYSQL_UNAVAILABLE',
      `MySQL/MariaDB at ${where} is not reachable (${code}): start it, or set MYSQL_URL to a running server`,
      { cause: e, retryable: true },
    );
  // 1045 access denied, 1049 unknown database: configuration problems, not transient.
  if (errno === 1045)
    return new TagstreamError(
      'MYSQL_UNAVAILABLE',
      `MySQL at ${where} refused the credentials: check MYSQL_URL`,
      {
        cause: e,
      },
    );
  if (errno === 1213 || errno === 1205)
    return new TagstreamError('MYSQL_ERROR', `MySQL deadlock or lock wait timeout`, {
      cause: e,
      retryable: true,
    });
  if (errno !== undefined && CONTENT_ERRNOS.has(errno))
    return new TagstreamError('SINK_REJECTED', `MySQL refused a row: ${code} ${(e as Error).message}`, {
      cause: e,
      details: { errno },
    });
  return new TagstreamError('MYSQL_ERROR', `MySQL error ${code || errno}: ${(e as Error).message}`, {
    cause: e,
  });
}

/**
 * Server errors about the content of a row: 1048 column cannot be null, 1264 out of range, 1292 truncated wrong
 * value, 1366 incorrect value, 1406 data too long, 3819 / 4025 CHECK constraint failed. Writing the same row again
 * fails again: the row is a record error (dead-lettered by a sink node), not a dependency failure.
 */
const CONTENT_ERRNOS = new Set([1048, 1264, 1292, 1366, 1406, 3819, 4025]);

/** Splits a mysql:// URL into the server URL and the database name. */
export function splitDatabase(url: string): { serverUrl: string; database: string } {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  u.pathname = '/';
  return { serverUrl: u.toString(), database };
}

export function createSql(url: string, options: { connectionLimit?: number } = {}): Sql {
  const pool = mysql.createPool({
    uri: url,
    connectionLimit: options.connectionLimit ?? 4,
    multipleStatements: false,
    dateStrings: false,
    timezone: 'Z',
    supportBigNumbers: true,
  });
  const wrap = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (e) {
      throw mapMysqlError(e, url);
    }
  };
  const on = (conn: Pick<mysql.Pool, 'query'>) => ({
    query: <T>(sql: string, params: unknown[] = []) =>
      wrap(async () => (await conn.query(sql, params))[0] as unknown as T[]),
    execute: (sql: string, params: unknown[] = []) =>
      wrap(async () => {
        const [res] = await conn.query(sql, params);
        return { affectedRows: (res as { affectedRows?: number }).affectedRows ?? 0 };
      }),
  });
  const self: Sql = {
    ...on(pool),
    end: () => pool.end(),
    async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
      const conn = await wrap(() => pool.getConnection());
      const tx: Sql = {
        ...on(conn),
        end: () => Promise.reject(new TagstreamError('INTERNAL', 'cannot end the pool inside a transaction')),
        transaction: () =>
          Promise.reject(new TagstreamError('INTERNAL', 'nested transactions are not supported')),
      };
      let result: T;
      try {
        await wrap(() => conn.beginTransaction());
        result = await fn(tx);
        await wrap(() => conn.commit());
      } catch (e) {
        // If ROLLBACK fails the connection is gone; the server rolls the open transaction back itself, and the
        // connection is destroyed rather than returned to the pool.
        const rolledBack = await conn.rollback().then(
          () => true,
          () => false,
        );
        if (rolledBack) conn.release();
        else conn.destroy();
        throw e;
      }
      conn.release();
      return result;
    },
  };
  return self;
}

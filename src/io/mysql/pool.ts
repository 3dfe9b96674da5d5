// The subset of mysql2 that tagstream uses, behind our own interface, with driver errors mapped to our codes. TLS
// comes with the URL as MySQL-style options (`?ssl-mode=VERIFY_IDENTITY&ssl-ca=/path/ca.pem`), so every caller of
// createSql(url) gets it from the one config value (config/load.ts merges mysql.ssl.* and mysql.password into it).
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { TagstreamError } from '../../errors.ts';
import { redactUrl } from '../../redact.ts';
import { tlsCertCodes } from '../net/tls.ts';

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

/** MySQL's TLS modes (the `mysql --ssl-mode` names); PREFERRED (TLS when offered) is not supported by mysql2. */
export const SSL_MODES = ['DISABLED', 'REQUIRED', 'VERIFY_CA', 'VERIFY_IDENTITY'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The URL options createSql reads and strips: `ssl-mode` and `ssl-ca` (a PEM file). */
export interface MysqlTls {
  readonly mode: SslMode;
  readonly caFile: string;
}

/** Whether a connection of this URL is encrypted, for error messages. */
function tlsOf(url: string): MysqlTls | undefined {
  try {
    return parseMysqlUrl(url).tls;
  } catch {
    return undefined;
  }
}

/** The user of a mysql:// URL (decoded), '' when there is none. */
function userOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username);
  } catch {
    return '';
  }
}

function databaseOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || '<database>';
  } catch {
    return '<database>';
  }
}

const TLS_CERT_CODES = tlsCertCodes('HANDSHAKE_SSL_ERROR');

/**
 * Driver errors onto our codes. Security refusals (docs/security.md) name the user, the server and what to change;
 * never the password (the URL is redacted) and never retryable.
 */
export function mapMysqlError(e: unknown, url: string): TagstreamError {
  const code = (e as { code?: string } | undefined)?.code ?? '';
  const errno = (e as { errno?: number } | undefined)?.errno;
  const message = (e as Error | undefined)?.message ?? String(e);
  // Without its options (ssl-mode, ssl-ca: the settings, not the server).
  const where = redactUrl(url).replace(/\?.*$/, '');
  if (UNAVAILABLE.has(code))
    return new TagstreamError(
      'MYSQL_UNAVAILABLE',
      `MySQL/MariaDB at ${where} is not reachable (${code}): start it, or set MYSQL_URL to a running server`,
      { cause: e, retryable: true },
    );
  const user = userOf(url);
  const tls = tlsOf(url);
  const encrypted = tls !== undefined && tls.mode !== 'DISABLED';
  // 1045: a wrong user or password. MariaDB answers a plaintext login to a server with require_secure_transport=ON
  // (or to a user created REQUIRE SSL) with 1045 too, so an unencrypted connection says both.
  if (errno === 1045)
    return new TagstreamError(
      'MYSQL_AUTH_FAILED',
      `MySQL/MariaDB at ${where} refused the login of user ${user || '(none)'}${
        encrypted
          ? ': check the user in MYSQL_URL and the password (in the URL, mysql.password or mysql.passwordFile)'
          : ' over an unencrypted connection: either the password is wrong (check MYSQL_URL, mysql.password or ' +
            'mysql.passwordFile), or the server requires TLS (MariaDB answers both with 1045): set mysql.ssl.mode ' +
            'VERIFY_IDENTITY and mysql.ssl.caFile (or ?ssl-mode=VERIFY_IDENTITY&ssl-ca=<file> in MYSQL_URL)'
      }`,
      { cause: e, details: { user, errno } },
    );
  // MySQL 8's own answer to a plaintext client under require_secure_transport (ER_SECURE_TRANSPORT_REQUIRED).
  if (errno === 3159)
    return new TagstreamError(
      'MYSQL_TLS_FAILED',
      `MySQL at ${where} requires TLS and this connection is not encrypted: set mysql.ssl.mode VERIFY_IDENTITY and mysql.ssl.caFile (or ?ssl-mode=VERIFY_IDENTITY&ssl-ca=<file> in MYSQL_URL)`,
      { cause: e, details: { user, errno } },
    );
  if (code === 'HANDSHAKE_NO_SSL_SUPPORT')
    return new TagstreamError(
      'MYSQL_TLS_FAILED',
      `MySQL/MariaDB at ${where} does not offer TLS, and mysql.ssl.mode is ${tls?.mode ?? 'set'}: enable TLS on the server (ssl_cert, ssl_key), or set mysql.ssl.mode DISABLED on a trusted network`,
      { cause: e },
    );
  if (TLS_CERT_CODES.has(code))
    return new TagstreamError(
      'MYSQL_TLS_FAILED',
      `TLS to MySQL/MariaDB at ${where} failed (${message}): the server's certificate must be signed by a CA in mysql.ssl.caFile${
        tls?.caFile ? ` (${tls.caFile})` : ' (unset: the system CAs)'
      }${tls?.mode === 'VERIFY_IDENTITY' ? ' and name the host of MYSQL_URL' : ''}`,
      { cause: e, details: { user } },
    );
  // 1044: no right to a database; 1142 / 1143: to a table or column; 1227: a global privilege (SUPER, PROCESS...).
  if (errno === 1044 || errno === 1142 || errno === 1143 || errno === 1227)
    return notAuthorized(e, url, where, user, errno, message);
  if (errno === 1213 || errno === 1205)
    return new TagstreamError('MYSQL_ERROR', `MySQL deadlock or lock wait timeout`, {
      cause: e,
      retryable: true,
    });
  if (errno !== undefined && CONTENT_ERRNOS.has(errno))
    return new TagstreamError('SINK_REJECTED', `MySQL refused a row: ${code} ${message}`, {
      cause: e,
      details: { errno },
    });
  return new TagstreamError('MYSQL_ERROR', `MySQL error ${code || errno}: ${message}`, {
    cause: e,
  });
}

/**
 * A missing grant, from the server's message: "INSERT command denied to user 'api'@'localhost' for table
 * `tagstream`.`ml_models`", "Access denied for user 'api'@'%' to database 'mysql'". Names the user, what it tried
 * and the GRANT that would allow it (src/io/mysql/users.ts lists what each of our users holds).
 */
function notAuthorized(
  e: unknown,
  url: string,
  where: string,
  urlUser: string,
  errno: number,
  message: string,
): TagstreamError {
  const account = /user '([^']*)'@'([^']*)'/.exec(message);
  const user = account?.[1] ?? urlUser;
  // MariaDB: for table `db`.`t`; MySQL: for table 't' (its database is the connection's).
  const table = /(\w+) command denied to user .* for table (?:`([^`]+)`\.)?[`']([^`']+)[`']/.exec(message);
  const column = /(\w+) command denied to user .* for column '([^']+)' in table '([^']+)'/.exec(message);
  const database = /to database '([^']+)'/.exec(message);
  let what: string;
  let grant: string;
  if (table) {
    const [, privilege, db = databaseOf(url), name] = table;
    what = `${privilege} on ${db}.${name}`;
    grant = `GRANT ${privilege} ON \`${db}\`.\`${name}\` TO '${user}'@'%'`;
  } else if (column) {
    const [, privilege, col, name] = column;
    what = `${privilege} on column ${col} of ${name}`;
    grant = `GRANT ${privilege} (${col}) ON <database>.\`${name}\` TO '${user}'@'%'`;
  } else if (database) {
    what = `use database ${database[1]}`;
    grant = `GRANT <privileges> ON \`${database[1]}\`.* TO '${user}'@'%'`;
  } else {
    what = 'this operation';
    grant = `the privilege the server names: ${message}`;
  }
  return new TagstreamError(
    'MYSQL_NOT_AUTHORIZED',
    `MySQL/MariaDB at ${where}: user ${user} may not ${what} (errno ${errno}); it needs ${grant}, or run this as a user that holds it (docs/security.md lists what each user may do)`,
    { cause: e, details: { user, errno } },
  );
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

/**
 * Splits the TLS options off a mysql:// URL: `ssl-mode` (DISABLED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY) and `ssl-ca`
 * (PEM file; alone it means VERIFY_CA, as for the mysql client). `uri` is the URL without them, for mysql2 (which
 * would take any query option as its own).
 */
export function parseMysqlUrl(url: string): { uri: string; tls: MysqlTls | undefined } {
  const u = new URL(url);
  const modeText = u.searchParams.get('ssl-mode');
  const caFile = u.searchParams.get('ssl-ca') ?? '';
  u.searchParams.delete('ssl-mode');
  u.searchParams.delete('ssl-ca');
  const uri = u.toString();
  if (modeText === null && !caFile) return { uri, tls: undefined };
  const mode = (modeText ?? 'VERIFY_CA').toUpperCase();
  if (!(SSL_MODES as readonly string[]).includes(mode))
    throw new TagstreamError(
      'CONFIG_INVALID',
      `mysql.ssl.mode (ssl-mode in MYSQL_URL): ${modeText} is not one of ${SSL_MODES.join(', ')}`,
    );
  return { uri, tls: { mode: mode as SslMode, caFile } };
}

/** mysql2's ssl options for a mode; reads the CA file (CONFIG_INVALID naming it when it cannot). */
export function sslOptions(tls: MysqlTls | undefined): mysql.SslOptions | undefined {
  if (tls === undefined || tls.mode === 'DISABLED') return undefined;
  // REQUIRED encrypts without checking who answers (MySQL's meaning); VERIFY_CA checks the chain against the CA (or
  // the system's CAs), VERIFY_IDENTITY also the host name. mysql2 checks a name, not an IP address: for a host given
  // as an IP it compares the certificate against "localhost" (the local stacks' certificates name both).
  if (tls.mode === 'REQUIRED') return { rejectUnauthorized: false };
  let ca: Buffer | undefined;
  if (tls.caFile) {
    try {
      ca = readFileSync(tls.caFile);
    } catch (e) {
      throw new TagstreamError(
        'CONFIG_INVALID',
        `mysql.ssl.caFile (ssl-ca in MYSQL_URL): cannot read ${tls.caFile} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  return {
    ...(ca ? { ca } : {}),
    rejectUnauthorized: true,
    verifyIdentity: tls.mode === 'VERIFY_IDENTITY',
  };
}

/** `url` with another database (the path), its user, password and options kept. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

export function createSql(url: string, options: { connectionLimit?: number } = {}): Sql {
  const { uri, tls } = parseMysqlUrl(url);
  const ssl = sslOptions(tls);
  const pool = mysql.createPool({
    uri,
    ...(ssl ? { ssl } : {}),
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

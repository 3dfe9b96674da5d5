// Applies schemas/sql/NNN_*.sql in order, once each, recording them in schema_migrations (creates the database first).
// Instances started together take turns: the migrations run under a named MariaDB lock (GET_LOCK), so the second
// finds the first's work recorded instead of applying it again (ER_DUP_ENTRY on schema_migrations before).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { TagstreamError } from '../../errors.ts';
import { packagePath } from '../../paths.ts';
import { createSql, splitDatabase } from './pool.ts';

export const MIGRATIONS_DIR = packagePath('schemas', 'sql');

export interface Migration {
  readonly name: string;
  readonly sql: string;
  readonly sha256: string;
}

export function listMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d+_.*\.sql$/.test(f))
    .sort()
    .map((name) => {
      const sql = readFileSync(`${dir}/${name}`, 'utf8');
      return { name, sql, sha256: createHash('sha256').update(sql).digest('hex') };
    });
}

/** Splits a migration into statements: `;` at a line end ends one; `--` comment lines are dropped. */
export function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) =>
      s
        .split('\n')
        .filter((line) => !line.trim().startsWith('--'))
        .join('\n')
        .trim(),
    )
    .filter((s) => s.length > 0);
}

/** How long an instance waits for another one's migrations, by default (seconds). */
export const MIGRATION_LOCK_WAIT_S = 120;

/** The named lock migrations of a database run under (GET_LOCK names are at most 64 characters). */
export const migrationLockName = (database: string): string => `tagstream.migrate.${database}`.slice(0, 64);

/**
 * Creates the database if needed and applies pending migrations under the database's migration lock; returns the
 * names applied now. Waits up to `lockWaitS` for another instance's migrations (a lock dies with its connection, so a
 * crashed instance never leaves it taken).
 */
export async function migrate(
  url: string,
  dir: string = MIGRATIONS_DIR,
  opts: { lockWaitS?: number } = {},
): Promise<string[]> {
  const { serverUrl, database } = splitDatabase(url);
  // One connection: the lock belongs to it, and every statement below runs on it.
  const db = createSql(url, { connectionLimit: 1 });
  const lock = migrationLockName(database);
  const wait = opts.lockWaitS ?? MIGRATION_LOCK_WAIT_S;
  try {
    // The database is created only when it is missing: a least-privilege user (docs/security.md), which may not
    // CREATE it, starts against a migrated database as root does.
    const [got] = await db
      .query<{ ok: number | null }>('SELECT GET_LOCK(?, ?) AS ok', [lock, wait])
      .catch(async (e: unknown) => {
        if (errnoOf(e) !== 1049) throw e;
        const server = createSql(serverUrl, { connectionLimit: 1 });
        try {
          await server.execute(`CREATE DATABASE IF NOT EXISTS \`${database.replaceAll('`', '')}\``);
        } finally {
          await server.end();
        }
        return db.query<{ ok: number | null }>('SELECT GET_LOCK(?, ?) AS ok', [lock, wait]);
      });
    if (got?.ok !== 1)
      throw new TagstreamError(
        'MYSQL_ERROR',
        `another instance has held the migration lock of ${database} for over ${wait} s (${lock}): let its start finish, or find the session holding it with SELECT IS_USED_LOCK('${lock}') and end it, then start again`,
        { details: { lock, waitedS: wait } },
      );
  } catch (e) {
    await db.end().catch(() => undefined);
    throw e;
  }
  try {
    const recorded = await db
      .query<{ name: string }>('SELECT name FROM schema_migrations')
      .catch(async (e: unknown) => {
        if (errnoOf(e) !== 1146) throw e;
        await db.execute(
          `CREATE TABLE IF NOT EXISTS schema_migrations (
             name VARCHAR(255) PRIMARY KEY,
             sha256 CHAR(64) NOT NULL,
             applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))`,
        );
        return [];
      });
    const done = new Set(recorded.map((r) => r.name));
    const applied: string[] = [];
    for (const m of listMigrations(dir)) {
      if (done.has(m.name)) continue;
      try {
        for (const statement of splitStatements(m.sql)) await db.execute(statement);
        await db.execute('INSERT INTO schema_migrations (name, sha256) VALUES (?, ?)', [m.name, m.sha256]);
      } catch (e) {
        throw notMigrator(e, m.name);
      }
      applied.push(m.name);
    }
    return applied;
  } catch (e) {
    throw notMigrator(e, 'the migrations');
  } finally {
    await db.query('SELECT RELEASE_LOCK(?)', [lock]).catch(() => undefined);
    await db.end();
  }
}

/** The server's errno behind a mapped error. */
function errnoOf(e: unknown): number | undefined {
  const cause = e instanceof TagstreamError ? e.cause : e;
  return (cause as { errno?: number } | undefined)?.errno;
}

/** A user without the rights to migrate (the pipeline's, the API's): say that migrations run as another user. */
function notMigrator(e: unknown, what: string): unknown {
  if (!(e instanceof TagstreamError) || e.code !== 'MYSQL_NOT_AUTHORIZED' || e.details['migration']) return e;
  return new TagstreamError(
    'MYSQL_NOT_AUTHORIZED',
    `${what} cannot be applied: ${e.message}. Migrations need a user that may create and alter the tables (root ` +
      'on the secure stack, where `npm run stack -- up --secure` applies them); the pipeline, training and API ' +
      'users only read and write rows',
    { cause: e, details: { ...e.details, migration: what } },
  );
}

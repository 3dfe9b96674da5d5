// Migrations against the real MariaDB: instances started together apply each migration once (they take turns
// under a named lock), and an instance that cannot get the lock in time says which lock and what to do.
import { afterAll, describe, expect, it } from 'vitest';
import { isTagstreamError } from '../../../src/errors.ts';
import { listMigrations, migrate, migrationLockName } from '../../../src/io/mysql/migrate.ts';
import { createSql, splitDatabase } from '../../../src/io/mysql/pool.ts';
import { dropTestDatabase, testConfig, testDatabaseUrl } from '../../helpers/stack.ts';

const config = testConfig();
const made: string[] = [];
const freshUrl = (): string => {
  const url = testDatabaseUrl(config);
  made.push(url);
  return url;
};

afterAll(async () => {
  const server = createSql(splitDatabase(config.mysql.url).serverUrl, { connectionLimit: 1 });
  for (const url of made) await dropTestDatabase(server, url).catch(() => undefined);
  await server.end();
});

describe('migrate (MariaDB)', () => {
  it('applies each migration once when four instances start together on a fresh database', async () => {
    const url = freshUrl();
    const results = await Promise.all([1, 2, 3, 4].map(() => migrate(url)));
    const names = listMigrations().map((m) => m.name);
    // Exactly one instance applied them (the first to take the lock); the others found them recorded.
    expect(results.flat().sort()).toEqual([...names].sort());
    expect(results.filter((r) => r.length > 0)).toHaveLength(1);
    const db = createSql(url, { connectionLimit: 1 });
    try {
      const rows = await db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name');
      expect(rows.map((r) => r.name)).toEqual(names);
    } finally {
      await db.end();
    }
    // A later start has nothing to do.
    expect(await migrate(url)).toEqual([]);
  });

  it('fails with a coded error naming the lock when another session holds it too long', async () => {
    const url = freshUrl();
    const { database, serverUrl } = splitDatabase(url);
    const holder = createSql(serverUrl, { connectionLimit: 1 });
    try {
      const [got] = await holder.query<{ ok: number }>('SELECT GET_LOCK(?, 10) AS ok', [
        migrationLockName(database),
      ]);
      expect(got?.ok).toBe(1);
      const err = await migrate(url, undefined, { lockWaitS: 1 }).catch((e: unknown) => e);
      expect(isTagstreamError(err) && err.code).toBe('MYSQL_ERROR');
      expect((err as Error).message).toContain(migrationLockName(database));
      expect((err as Error).message).toContain('IS_USED_LOCK');
    } finally {
      await holder.end(); // the lock goes with its session
    }
    // Released with the holder's session: the next start migrates.
    expect(await migrate(url)).toEqual(listMigrations().map((m) => m.name));
  });
});

// Applies schemas/sql/NNN_*.sql in order, once each, recording them in schema_migrations (creates the database first).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createSql, splitDatabase } from './pool.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../schemas/sql/', import.meta.url));

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

/** Creates the database if needed and applies pending migrations; returns the names applied now. */
export async function migrate(url: string, dir: string = MIGRATIONS_DIR): Promise<string[]> {
  const { serverUrl, database } = splitDatabase(url);
  const server = createSql(serverUrl, { connectionLimit: 1 });
  try {
    await server.execute(`CREATE DATABASE IF NOT EXISTS \`${database.replaceAll('`', '')}\``);
  } finally {
    await server.end();
  }
  const db = createSql(url, { connectionLimit: 1 });
  try {
    await db.execute(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         name VARCHAR(255) PRIMARY KEY,
         sha256 CHAR(64) NOT NULL,
         applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))`,
    );
    const done = new Set(
      (await db.query<{ name: string }>('SELECT name FROM schema_migrations')).map((r) => r.name),
    );
    const applied: string[] = [];
    for (const m of listMigrations(dir)) {
      if (done.has(m.name)) continue;
      for (const statement of splitStatements(m.sql)) await db.execute(statement);
      await db.execute('INSERT INTO schema_migrations (name, sha256) VALUES (?, ?)', [m.name, m.sha256]);
      applied.push(m.name);
    }
    return applied;
  } finally {
    await db.end();
  }
}

// The migration runner's pure parts: how a file is split into statements, and which files are found in which order.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { describe, expect, it, type TestContext } from 'vitest';
import { MIGRATIONS_DIR, listMigrations, splitStatements } from '../../../src/io/mysql/migrate.ts';

/** A temporary migrations folder, removed when the test ends. */
function tempDir(ctx: TestContext, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tagstream-migrate-'));
  ctx.onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('splitStatements', () => {
  it('splits on ; at a line end and drops -- comment lines', () => {
    const sql = [
      '-- Core tables.',
      '-- Re-runnable; every statement is idempotent.',
      '',
      'CREATE TABLE IF NOT EXISTS a (',
      '  id INT NOT NULL, -- the key; never null',
      '  PRIMARY KEY (id)',
      ');',
      '',
      '  -- indented comment',
      'INSERT INTO a (id) VALUES (1);   ',
      'CREATE INDEX ix ON a (id);',
      '-- trailing comment',
      '',
    ].join('\n');
    expect(splitStatements(sql)).toEqual([
      'CREATE TABLE IF NOT EXISTS a (\n  id INT NOT NULL, -- the key; never null\n  PRIMARY KEY (id)\n)',
      'INSERT INTO a (id) VALUES (1)',
      'CREATE INDEX ix ON a (id)',
    ]);
  });

  it('keeps a ; that is not at a line end inside the statement', () => {
    expect(splitStatements("INSERT INTO t VALUES ('a;b');\nSELECT 1;")).toEqual([
      "INSERT INTO t VALUES ('a;b')",
      'SELECT 1',
    ]);
  });

  it('handles CRLF line ends and a last statement without ;', () => {
    expect(splitStatements('SELECT 1;\r\n-- c\r\nSELECT 2')).toEqual(['SELECT 1', 'SELECT 2']);
  });

  it('returns nothing for a file of comments and blank lines', () => {
    expect(splitStatements('-- only a comment;\n\n   \n')).toEqual([]);
  });
});

describe('listMigrations', () => {
  it('finds the real schemas/sql files, in order, each with statements and its sha256', () => {
    const ms = listMigrations();
    expect(ms.length).toBeGreaterThan(0);
    const names = ms.map((m) => m.name);
    expect(names).toEqual([...names].sort());
    expect(names[0]).toBe('001_core.sql');
    for (const m of ms) {
      expect(m.name).toMatch(/^\d+_.*\.sql$/);
      expect(m.sha256).toBe(createHash('sha256').update(m.sql).digest('hex'));
      const statements = splitStatements(m.sql);
      expect(statements.length).toBeGreaterThan(0);
      for (const s of statements) expect(s).toMatch(/^(CREATE|ALTER|INSERT|DROP)\b/i);
    }
    expect(MIGRATIONS_DIR.endsWith('/schemas/sql')).toBe(true);
  });

  it('ignores files that are not NNN_*.sql and sorts by name', (ctx) => {
    const dir = tempDir(ctx, {
      '010_later.sql': 'SELECT 10;',
      '002_second.sql': 'SELECT 2;',
      '001_first.sql': 'SELECT 1;',
      'README.md': '# not a migration',
      'draft.sql': 'SELECT 0;',
      '003_notes.sql.bak': 'SELECT 3;',
    });
    expect(listMigrations(dir).map((m) => [m.name, m.sql])).toEqual([
      ['001_first.sql', 'SELECT 1;'],
      ['002_second.sql', 'SELECT 2;'],
      ['010_later.sql', 'SELECT 10;'],
    ]);
  });
});

// Checks schemas/sql/*.sql without a database: files are numbered in order, split cleanly on `;\n` as the
// migration runner does, contain only re-runnable DDL, and define the seed tables with the keys the pipeline relies on.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const SQL_DIR = new URL('../../schemas/sql/', import.meta.url);
const FILE_NAME = /^(\d{3})_[a-z0-9_]+\.sql$/;

const files = readdirSync(SQL_DIR)
  .filter((f) => f.endsWith('.sql'))
  .sort();
const texts = new Map(files.map((f) => [f, readFileSync(new URL(f, SQL_DIR), 'utf8')]));

/** Removes `-- ...` comments, leaving quoted strings (which may contain `--`) alone. */
function stripComments(sql: string): string {
  let out = '';
  let quote: string | null = null;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (quote !== null) {
      out += c;
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"' || c === '`') {
      quote = c;
      out += c;
    } else if (c === '-' && sql[i + 1] === '-' && /\s/.test(sql[i + 2] ?? '\n')) {
      while (i < sql.length && sql[i] !== '\n') i++;
      out += '\n';
    } else {
      out += c;
    }
  }
  return out;
}

/** The runner's rule: statements end with `;` at the end of a line. */
function statements(sql: string): string[] {
  return sql.split(/;\r?\n/);
}

/** Splits on commas outside parentheses and quotes: the items of a CREATE TABLE body. */
function splitTopLevel(body: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let cur = '';
  for (const c of body) {
    if (quote !== null) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      items.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur.trim() !== '') items.push(cur.trim());
  return items;
}

interface Table {
  readonly file: string;
  /** Column name -> its definition, upper-cased and with single spaces, e.g. `DATETIME(3) NOT NULL`. */
  readonly columns: ReadonlyMap<string, string>;
  /** Key and constraint clauses, upper-cased, backticks removed, e.g. `UNIQUE KEY UQ_X (A, B)`. */
  readonly keys: readonly string[];
  readonly options: string;
}

const CREATE_TABLE = /^CREATE TABLE IF NOT EXISTS\s+`?(\w+)`?\s*\(([\s\S]*)\)([^)]*)$/i;
const KEY_CLAUSE = /^(PRIMARY KEY|UNIQUE|KEY|INDEX|CONSTRAINT|CHECK|FOREIGN KEY)\b/i;
const norm = (s: string) => s.replace(/`/g, '').replace(/\s+/g, ' ').trim().toUpperCase();

function parseTables(): Map<string, Table> {
  const tables = new Map<string, Table>();
  for (const [file, text] of texts) {
    for (const stmt of statements(stripComments(text))) {
      const m = CREATE_TABLE.exec(stmt.trim());
      if (m === null) continue;
      const [, name, body, options] = m;
      const columns = new Map<string, string>();
      const keys: string[] = [];
      for (const item of splitTopLevel(body!)) {
        if (KEY_CLAUSE.test(item)) keys.push(norm(item));
        else {
          const col = /^`?(\w+)`?\s+([\s\S]+)$/.exec(item);
          if (col === null) throw new Error(`${file}: not a column definition in ${name}: ${item}`);
          columns.set(col[1]!, norm(col[2]!));
        }
      }
      // A second CREATE TABLE IF NOT EXISTS would silently do nothing on a live database: change tables with ALTER.
      if (tables.has(name!))
        throw new Error(`${file}: table ${name} is already created in ${tables.get(name!)!.file}`);
      tables.set(name!, { file, columns, keys, options: norm(options!) });
    }
  }
  return tables;
}

describe('SQL migration files', () => {
  it('are numbered 001, 002, ... with no gaps or repeats, and nothing else lives in schemas/sql', () => {
    expect(files.length).toBeGreaterThan(0);
    expect(readdirSync(SQL_DIR).sort()).toEqual(files);
    files.forEach((f, i) => {
      const m = FILE_NAME.exec(f);
      expect(m, `${f} is named NNN_name.sql`).not.toBeNull();
      expect(Number(m![1])).toBe(i + 1);
    });
  });

  describe.each(files)('%s', (file) => {
    const text = texts.get(file)!;

    it('opens with a comment saying what it is for', () => {
      expect(text.split('\n')[0]).toMatch(/^-- \S/);
    });

    it('has no comment line ending in `;`, which the runner would take for a statement end', () => {
      const bad = text.split('\n').filter((l) => /--.*;\s*$/.test(l));
      expect(bad).toEqual([]);
    });

    it('splits on `;\\n` into non-empty statements, with nothing but whitespace after the last', () => {
      const parts = statements(text);
      expect(parts.length).toBeGreaterThan(1);
      // Comment-only text after the last `;` would reach the server as an empty query and fail.
      expect(parts.at(-1)!.trim()).toBe('');
      for (const p of parts.slice(0, -1)) expect(stripComments(p).trim()).not.toBe('');
    });

    it('contains only statements that are harmless to run again', () => {
      const allowed = [
        /^CREATE TABLE IF NOT EXISTS\s/i,
        // MariaDB forms; MySQL 8 has no IF NOT EXISTS for indexes, so declare indexes inside CREATE TABLE there.
        /^CREATE (UNIQUE )?INDEX IF NOT EXISTS\s/i,
        /^ALTER TABLE\s+`?\w+`?\s+ADD\s+(COLUMN|INDEX|KEY|UNIQUE KEY|UNIQUE INDEX)\s+IF NOT EXISTS\s/i,
      ];
      const stmts = statements(stripComments(text))
        .map((s) => s.trim())
        .filter((s) => s !== '');
      expect(stmts.length).toBeGreaterThan(0);
      for (const s of stmts) {
        expect(
          allowed.some((re) => re.test(s)),
          `not re-runnable: ${s.slice(0, 60)}`,
        ).toBe(true);
        expect(s, 'a statement holds no second statement').not.toMatch(/;/);
        expect(s).not.toMatch(/\b(DROP|TRUNCATE|DELETE|RENAME)\b/i);
      }
    });
  });
});

describe('SQL tables', () => {
  const tables = parseTables();

  function table(name: string): Table {
    const t = tables.get(name);
    expect(t, `table ${name}`).toBeDefined();
    return t!;
  }

  function column(t: Table, name: string): string {
    const c = t.columns.get(name);
    expect(c, `column ${name}`).toBeDefined();
    return c!;
  }

  it('leaves schema_migrations to the runner', () => {
    expect(tables.has('schema_migrations')).toBe(false);
  });

  it('uses InnoDB (transactions for idempotent upserts) and a binary utf8mb4 collation everywhere', () => {
    for (const [name, t] of tables) {
      expect(t.options, name).toContain('ENGINE=INNODB');
      expect(t.options, name).toContain('CHARSET=UTF8MB4');
      expect(t.options, name).toContain('COLLATE=UTF8MB4_BIN');
    }
  });

  it('id_item_master is keyed by tag_id with the seed columns', () => {
    const t = table('id_item_master');
    expect(t.keys).toContain('PRIMARY KEY (TAG_ID)');
    expect(column(t, 'tag_id')).toMatch(/^VARCHAR\(\d+\) NOT NULL/);
    expect(column(t, 'quality_grade')).toMatch(/^TINYINT\b/);
    for (const c of [
      'rental_class_num',
      'common_name',
      'store_id',
      'status',
      'date_created',
      'date_last_scanned',
      'turnover_ytd',
      'turnover_ltd',
      'repair_cost_ltd',
      'usage_count',
    ]) {
      column(t, c);
    }
    expect(column(t, 'date_last_scanned')).toMatch(/^DATETIME\(3\)/);
  });

  it('id_transactions stores each Kafka source position once and indexes an item history', () => {
    const t = table('id_transactions');
    expect(column(t, 'id')).toMatch(/^BIGINT\b.*\bNOT NULL AUTO_INCREMENT$/);
    expect(t.keys).toContain('PRIMARY KEY (ID)');
    expect(column(t, 'scan_date')).toBe('DATETIME(3) NOT NULL');
    expect(column(t, 'source_offset')).toMatch(/^BIGINT\b/);
    for (const c of [
      'tag_id',
      'rental_class_num',
      'scan_type',
      'reader_id',
      'store_id',
      'quality_grade',
      'notes',
      'source_topic',
      'source_partition',
    ]) {
      column(t, c);
    }
    expect(
      t.keys.some((k) => /^UNIQUE KEY \w+ \(SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET\)$/.test(k)),
    ).toBe(true);
    expect(t.keys.some((k) => /^KEY \w+ \(TAG_ID, SCAN_DATE\)$/.test(k))).toBe(true);
  });

  it('ml_feature_store upserts idempotently on (entity, feature, window, time) with a non-null window', () => {
    const t = table('ml_feature_store');
    expect(t.keys).toContain('PRIMARY KEY (ID)');
    expect(column(t, 'feature_value')).toMatch(/^DOUBLE NOT NULL/);
    expect(column(t, 'feature_timestamp')).toBe('DATETIME(3) NOT NULL');
    // NULLs never collide in a unique key, so the window must be NOT NULL for the upsert to find its row.
    expect(column(t, 'window_name')).toMatch(/^VARCHAR\(\d+\) NOT NULL DEFAULT ''$/);
    for (const c of [
      'feature_name',
      'target_entity',
      'entity_type',
      'data_source',
      'quality_score',
      'is_real_time',
      'created_at',
    ]) {
      column(t, c);
    }
    expect(
      t.keys.some((k) =>
        /^UNIQUE KEY \w+ \(TARGET_ENTITY, FEATURE_NAME, WINDOW_NAME, FEATURE_TIMESTAMP\)$/.test(k),
      ),
    ).toBe(true);
    expect(t.keys.some((k) => /^KEY \w+ \(FEATURE_NAME, FEATURE_TIMESTAMP\)$/.test(k))).toBe(true);
  });

  it('ml_model_performance has the seed columns plus params', () => {
    const t = table('ml_model_performance');
    expect(t.keys).toContain('PRIMARY KEY (ID)');
    for (const c of ['service_name', 'model_type', 'model_version', 'training_date']) column(t, c);
    expect(column(t, 'performance_metrics')).toMatch(/^(JSON|LONGTEXT)\b/);
    expect(column(t, 'params')).toMatch(/^(JSON|LONGTEXT)\b/);
    expect(column(t, 'accuracy_score')).toMatch(/^DOUBLE\b/);
    expect(column(t, 'is_active')).toMatch(/^BOOLEAN\b/);
  });
});

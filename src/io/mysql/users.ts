// The least-privilege MariaDB/MySQL users and what each may do (docs/security.md): the pipeline, training and the
// REST API read and write rows of their tables only; root (or another DBA account) alone runs the migrations.
// createUsers applies this to a server (the secure stack does, on every `up`); schemas/users.sql is the same for a
// DBA to run by hand, generated from here (`usersScript`; test/security/mysql-users.test.ts keeps them equal).
import { TagstreamError } from '../../errors.ts';
import { createSql } from './pool.ts';

export const DB_USERS = ['tagstream', 'trainer', 'api'] as const;
export type DbUser = (typeof DB_USERS)[number];

export type TablePrivilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';

const RW: TablePrivilege[] = ['SELECT', 'INSERT', 'UPDATE'];
const R: TablePrivilege[] = ['SELECT'];

/**
 * Per user, per table of the migrations (every table, for every user: [] is "nothing"), the privileges it holds.
 * - tagstream (the pipeline, the collectors): the history sink writes id_transactions and id_item_master (locking
 *   its partitions' rows of sink_partition_locks with SELECT ... FOR UPDATE, and upserting them with its progress),
 *   the feature store ml_feature_store (upserts: INSERT and UPDATE); serving reads the history, the history sink's
 *   progress and the model registry. Nothing is
 *   deleted, so no DELETE.
 * - trainer (`npm run train`, `npm run models -- promote`): reads the history and the feature log, registers,
 *   promotes and rolls back models (ml_models, SELECT ... FOR UPDATE) and logs ml_model_performance.
 * - api: reads.
 * Each reads schema_migrations: a process checks at start that the migrations are applied (src/io/mysql/migrate.ts).
 */
export const DB_GRANTS: Readonly<Record<DbUser, Readonly<Record<string, readonly TablePrivilege[]>>>> = {
  tagstream: {
    id_item_master: RW,
    id_transactions: RW,
    ml_feature_store: RW,
    sink_partition_locks: RW,
    ml_models: R,
    ml_model_performance: [],
    schema_migrations: R,
  },
  trainer: {
    id_item_master: R,
    id_transactions: R,
    ml_feature_store: R,
    sink_partition_locks: [],
    ml_models: RW,
    ml_model_performance: RW,
    schema_migrations: R,
  },
  api: {
    id_item_master: R,
    id_transactions: R,
    ml_feature_store: R,
    sink_partition_locks: [],
    ml_models: R,
    ml_model_performance: R,
    schema_migrations: R,
  },
};

const ident = (name: string): string => `\`${name.replaceAll('`', '``')}\``;
const account = (user: string, host: string): string => `'${user}'@'${host}'`;

export interface UserOptions {
  /** The host part of each account; '%' (any) by default: the server's bind address and firewall say who connects. */
  readonly host?: string;
  /** REQUIRE SSL on each account (a server without require_secure_transport still refuses them plaintext). */
  readonly requireTls?: boolean;
}

/**
 * The statements that create `user` (or set its password again) and grant it its privileges on `database`. The
 * password is the one `?` of the first two statements (escaped by the driver, never part of the text). Grants only
 * add: a privilege taken off DB_GRANTS must be revoked by hand (REVOKE ... ON db.table FROM user).
 */
export function userStatements(database: string, user: DbUser, options: UserOptions = {}): string[] {
  const who = account(user, options.host ?? '%');
  const tls = (options.requireTls ?? true) ? ' REQUIRE SSL' : '';
  return [
    `CREATE USER IF NOT EXISTS ${who} IDENTIFIED BY ?${tls}`,
    `ALTER USER ${who} IDENTIFIED BY ?${tls}`,
    ...Object.entries(DB_GRANTS[user])
      .filter(([, privileges]) => privileges.length > 0)
      .map(
        ([table, privileges]) =>
          `GRANT ${privileges.join(', ')} ON ${ident(database)}.${ident(table)} TO ${who}`,
      ),
  ];
}

/** schemas/users.sql: every user's statements for `database`, passwords as placeholders to fill in. */
export function usersScript(database = 'tagstream', options: UserOptions = {}): string {
  const lines = [
    '-- Least-privilege users of tagstream (docs/security.md). Generated from src/io/mysql/users.ts: edit that, then',
    '-- `npm run -s stack -- db-users > schemas/users.sql`. Not a migration (the migrations run as root, or',
    "-- another DBA account, and create no users). Run it as root after the migrations, each '<password of ...>'",
    '-- replaced (the secure stack does the same with random passwords: `npm run stack -- up --secure`).',
    '-- Re-running it sets the passwords again and adds missing grants; it revokes nothing.',
  ];
  for (const user of DB_USERS) {
    lines.push('', `-- ${user}`);
    for (const s of userStatements(database, user, options))
      lines.push(`${s.replace('?', `'<password of ${user}>'`)};`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Creates each user of `passwords` on the server of `rootUrl` (a user that may create users and grant: root), or
 * sets its password again, and grants it its privileges on `database`. Errors never carry the statement (mysql2
 * attaches the SQL with the password filled in to its errors).
 */
export async function createUsers(
  rootUrl: string,
  database: string,
  passwords: Readonly<Partial<Record<DbUser, string>>>,
  options: UserOptions = {},
): Promise<void> {
  const sql = createSql(rootUrl, { connectionLimit: 1 });
  try {
    for (const user of DB_USERS) {
      const password = passwords[user];
      if (password === undefined) continue;
      for (const statement of userStatements(database, user, options)) {
        try {
          await sql.execute(statement, statement.includes('?') ? [password] : []);
        } catch (e) {
          const cause = e instanceof TagstreamError ? e.cause : e;
          throw new TagstreamError(
            e instanceof TagstreamError ? e.code : 'MYSQL_ERROR',
            `could not create or grant MySQL user ${user} on ${database}: ${
              (cause as { sqlMessage?: string } | undefined)?.sqlMessage ??
              (e instanceof TagstreamError ? e.message : 'error')
            }`,
            { details: { user } },
          );
        }
      }
    }
  } finally {
    await sql.end();
  }
}

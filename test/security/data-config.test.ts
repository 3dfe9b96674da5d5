// The Redis, MariaDB and schema registry security keys: merged into the services' URLs at load (where every client
// reads them), secrets read from files, redacted when printed; the URL options each adapter reads and strips; the
// MariaDB users script and the Redis ACLs against the code. No services needed.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig, parseConfig, redactConfig } from '../../config/load.ts';
import {
  REDIS_PIPELINE_COMMANDS,
  REDIS_READ_COMMANDS,
  mariadbPasswordStatements,
  parseRotateTarget,
  redisAclFile,
  redisAclRules,
  redisSetUserArgs,
  secureDataPaths,
  secureDataProfiles,
} from '../../src/dev/stack/secure-data.ts';
import { secureProfile } from '../../src/dev/stack/secure.ts';
import { listMigrations } from '../../src/io/mysql/migrate.ts';
import { parseMysqlUrl, sslOptions, withDatabase } from '../../src/io/mysql/pool.ts';
import { DB_GRANTS, DB_USERS, userStatements, usersScript } from '../../src/io/mysql/users.ts';
import { redisConnection } from '../../src/io/redis/client.ts';
import { parseRegistryUrl } from '../../src/io/registry/registry.ts';
import { thrownBy } from '../helpers/errors.ts';
import { secretFile } from '../helpers/secrets.ts';

const SECRET = 'data-s3cret/@:9f';

describe('redis, mysql and schema registry security config', () => {
  it('leaves the URLs as they are when nothing is set', () => {
    const c = parseConfig({});
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(c.mysql.url).toBe('mysql://root@127.0.0.1:3306/tagstream');
    expect(c.schemaRegistry.url).toBe('http://127.0.0.1:8081/apis/ccompat/v7');
  });

  it('merges the *_FILE passwords, users and CAs of the variables into the URLs', (ctx) => {
    const file = secretFile(ctx, `${SECRET}\n`);
    const c = loadConfig({
      REDIS_URL: 'rediss://tagstream@127.0.0.1:6390',
      REDIS_PASSWORD_FILE: file,
      REDIS_TLS_CA_FILE: '/stack/tls/ca.pem',
      MYSQL_URL: 'mysql://tagstream@127.0.0.1:3316/tagstream',
      MYSQL_PASSWORD_FILE: file,
      MYSQL_SSL_MODE: 'VERIFY_IDENTITY',
      MYSQL_SSL_CA_FILE: '/stack/tls/ca.pem',
      SCHEMA_REGISTRY_URL: 'https://registry.local:8443/apis/ccompat/v7',
      SCHEMA_REGISTRY_USERNAME: 'key',
      SCHEMA_REGISTRY_PASSWORD_FILE: file,
      SCHEMA_REGISTRY_TLS_CA_FILE: '/stack/tls/ca.pem',
    });
    const encoded = encodeURIComponent(SECRET);
    expect(c.redis.url).toBe(`rediss://tagstream:${encoded}@127.0.0.1:6390?tls-ca=/stack/tls/ca.pem`);
    expect(c.mysql.url).toBe(
      `mysql://tagstream:${encoded}@127.0.0.1:3316/tagstream?ssl-mode=VERIFY_IDENTITY&ssl-ca=/stack/tls/ca.pem`,
    );
    expect(c.schemaRegistry.url).toBe(
      `https://key:${encoded}@registry.local:8443/apis/ccompat/v7?tls-ca=/stack/tls/ca.pem`,
    );
    // What the adapters make of them.
    expect(parseMysqlUrl(c.mysql.url)).toEqual({
      uri: `mysql://tagstream:${encoded}@127.0.0.1:3316/tagstream`,
      tls: { mode: 'VERIFY_IDENTITY', caFile: '/stack/tls/ca.pem' },
    });
    expect(parseRegistryUrl(c.schemaRegistry.url)).toEqual({
      base: 'https://registry.local:8443/apis/ccompat/v7',
      auth: { username: 'key', password: SECRET },
      caFile: '/stack/tls/ca.pem',
    });
    // A loaded config parsed again is the same (tests spread one).
    const again = parseConfig(c);
    expect([again.redis.url, again.mysql.url, again.schemaRegistry.url]).toEqual([
      c.redis.url,
      c.mysql.url,
      c.schemaRegistry.url,
    ]);
  });

  it('refuses a password set in the URL and as a key, differently; a CA for a plaintext URL', () => {
    const e = thrownBy(() =>
      parseConfig({
        mysql: { url: 'mysql://u:one@h/db', password: 'two' },
        redis: { url: 'redis://h:6379', tls: { caFile: '/ca.pem' } },
        schemaRegistry: { url: 'http://h:8081', tls: { caFile: '/ca.pem' } },
      }),
    );
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain('mysql.password: set the password in mysql.url or mysql.password');
    expect(e.message).toContain('redis.tls.caFile: set, but redis.url is redis://: use rediss://');
    expect(e.message).toContain('schemaRegistry.tls.caFile: set, but schemaRegistry.url is http://');
    expect(e.message).not.toContain('one');
  });

  it('an unreadable password file is CONFIG_INVALID naming the key and the file', () => {
    const e = thrownBy(() => parseConfig({ redis: { passwordFile: '/nonexistent/redis.password' } }));
    expect(e.message).toContain('redis.passwordFile: cannot read /nonexistent/redis.password (ENOENT)');
  });

  it('redacts every password when printed, in the URLs and the keys', (ctx) => {
    const file = secretFile(ctx, SECRET);
    const c = parseConfig({
      redis: { url: 'rediss://tagstream@h:6390', passwordFile: file },
      mysql: { url: 'mysql://tagstream@h:3316/tagstream', password: SECRET },
      schemaRegistry: { url: 'https://h:8443', username: 'key', passwordFile: file },
    });
    const printed = JSON.stringify(redactConfig(c));
    expect(printed).not.toContain(SECRET);
    expect(printed).not.toContain(encodeURIComponent(SECRET));
    expect(printed).toContain('rediss://tagstream:***@h:6390');
    expect(printed).toContain(file);
  });
});

describe('URL options the adapters read', () => {
  it('mysql: ssl-mode and ssl-ca are stripped; ssl-ca alone is VERIFY_CA; other options pass to mysql2', () => {
    expect(parseMysqlUrl('mysql://u@h/db?ssl-ca=/ca.pem&connectTimeout=5000')).toEqual({
      uri: 'mysql://u@h/db?connectTimeout=5000',
      tls: { mode: 'VERIFY_CA', caFile: '/ca.pem' },
    });
    expect(parseMysqlUrl('mysql://u@h/db').tls).toBeUndefined();
    expect(thrownBy(() => parseMysqlUrl('mysql://u@h/db?ssl-mode=PREFERRED')).code).toBe('CONFIG_INVALID');
  });

  it('mysql: what each mode asks of mysql2', () => {
    expect(sslOptions({ mode: 'DISABLED', caFile: '' })).toBeUndefined();
    expect(sslOptions({ mode: 'REQUIRED', caFile: '' })).toEqual({ rejectUnauthorized: false });
    expect(sslOptions({ mode: 'VERIFY_CA', caFile: '' })).toEqual({
      rejectUnauthorized: true,
      verifyIdentity: false,
    });
    expect(sslOptions({ mode: 'VERIFY_IDENTITY', caFile: '' })).toEqual({
      rejectUnauthorized: true,
      verifyIdentity: true,
    });
    const e = thrownBy(() => sslOptions({ mode: 'VERIFY_IDENTITY', caFile: '/nonexistent/ca.pem' }));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain('mysql.ssl.caFile');
  });

  it('mysql: withDatabase keeps the user, password and options', () => {
    expect(withDatabase('mysql://u:p@h:1/a?ssl-mode=REQUIRED', 'b')).toBe(
      'mysql://u:p@h:1/b?ssl-mode=REQUIRED',
    );
  });

  it('redis: tls-ca is stripped; rediss:// is TLS, with the CA read', (ctx) => {
    const ca = secretFile(ctx, '-----BEGIN CERTIFICATE-----\n');
    expect(redisConnection('redis://u:p@h:6379')).toEqual({ url: 'redis://u:p@h:6379' });
    expect(redisConnection('rediss://u:p@h:6390')).toEqual({ url: 'rediss://u:p@h:6390', tls: {} });
    const withCa = redisConnection(`rediss://u:p@h:6390?tls-ca=${ca}`);
    expect(withCa.url).toBe('rediss://u:p@h:6390');
    expect(withCa.tls?.ca?.toString()).toContain('BEGIN CERTIFICATE');
    expect(thrownBy(() => redisConnection('rediss://h:6390?tls-ca=/nonexistent.pem')).message).toContain(
      'redis.tls.caFile',
    );
  });
});

describe('MariaDB users (src/io/mysql/users.ts)', () => {
  it('every table of the migrations is decided for every user', () => {
    const created = listMigrations().flatMap((m) =>
      [...m.sql.matchAll(/CREATE TABLE IF NOT EXISTS (\w+)/g)].map((x) => x[1]!),
    );
    const tables = [...created, 'schema_migrations'].sort();
    for (const user of DB_USERS) expect(Object.keys(DB_GRANTS[user]).sort()).toEqual(tables);
  });

  it('the api user only reads; nobody deletes; only trainer writes the model registry', () => {
    for (const privileges of Object.values(DB_GRANTS.api))
      expect(privileges.every((p) => p === 'SELECT')).toBe(true);
    for (const user of DB_USERS)
      for (const privileges of Object.values(DB_GRANTS[user])) expect(privileges).not.toContain('DELETE');
    expect(DB_GRANTS.tagstream['ml_models']).toEqual(['SELECT']);
    expect(DB_GRANTS.trainer['ml_models']).toContain('INSERT');
  });

  it('statements: the password only as a placeholder, grants per table, TLS required', () => {
    const s = userStatements('shop', 'api');
    expect(s[0]).toBe("CREATE USER IF NOT EXISTS 'api'@'%' IDENTIFIED BY ? REQUIRE SSL");
    expect(s).toContain("GRANT SELECT ON `shop`.`ml_models` TO 'api'@'%'");
    expect(s.filter((x) => x.includes('?'))).toHaveLength(2);
  });

  it('schemas/users.sql is what usersScript() prints (`npm run -s stack -- db-users > schemas/users.sql`)', () => {
    expect(readFileSync(new URL('../../schemas/users.sql', import.meta.url), 'utf8')).toBe(usersScript());
  });
});

describe('Redis ACLs of the secure stack', () => {
  /** Every Redis command in src: plain `command('x', ...)` calls and `redis.call('X', ...)` in Lua scripts. */
  function commandsInCode(): Set<string> {
    const found = new Set<string>();
    const walk = (dir: URL): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(new URL(`${entry.name}/`, dir));
        else if (entry.name.endsWith('.ts') && !dir.pathname.includes('/src/dev/')) {
          const text = readFileSync(new URL(entry.name, dir), 'utf8');
          for (const m of text.matchAll(/redis\.call\('(\w+)'/g)) found.add(m[1]!.toLowerCase());
          // Our Redis command helper (src/io/redis/client.ts), not commander's `.command('up')`.
          if (text.includes("from '../io/redis/client.ts'") || text.includes("from './client.ts'"))
            for (const m of text.matchAll(/[^.\w]command\('(\w+)'/g)) found.add(m[1]!);
        }
      }
    };
    walk(new URL('../../src/', import.meta.url));
    return found;
  }

  it("the pipeline user may run every command the code sends, and the api user's are reads among them", () => {
    const code = commandsInCode();
    expect(code.size).toBeGreaterThan(10);
    const allowed = new Set<string>([...REDIS_PIPELINE_COMMANDS, 'ping']);
    expect([...code].filter((c) => !allowed.has(c))).toEqual([]);
    for (const c of REDIS_READ_COMMANDS) expect(REDIS_PIPELINE_COMMANDS).toContain(c);
  });

  it('keys under the feature store prefix only, no channels, nothing but the listed commands', () => {
    const rules = redisAclRules('tagstream', 'ts:');
    expect(rules.slice(0, 3)).toEqual(['~ts:*', 'resetchannels', '-@all']);
    expect(rules).toContain('+evalsha');
    expect(rules).toContain('+script|load');
    expect(rules).not.toContain('+flushall');
    expect(redisAclRules('api', 'ts:')).not.toContain('+hset');
  });

  it('passwords only as SHA-256, in ACL SETUSER and in the ACL file', () => {
    const args = redisSetUserArgs('tagstream', SECRET, 'ts:');
    expect(args.slice(0, 3)).toEqual(['tagstream', 'reset', 'on']);
    expect(args[3]).toMatch(/^#[0-9a-f]{64}$/);
    const file = redisAclFile({ admin: 'a-pass', tagstream: SECRET, api: 'b-pass' }, 'ts:');
    expect(file.split('\n')[0]).toBe('user default off resetchannels -@all');
    expect(file).not.toContain(SECRET);
  });

  it('the profiles point each role at its users, passwords by file', () => {
    const paths = secureDataPaths('/stack');
    const profiles = secureDataProfiles(paths, (user) => secureProfile(paths, user));
    const read = (name: string) => parseYaml(profiles[name]!) as Record<string, Record<string, unknown>>;
    const tagstream = read('tagstream.yaml');
    expect((tagstream['kafka']!['sasl'] as { username: string }).username).toBe('tagstream');
    expect(tagstream['redis']).toEqual({
      url: 'rediss://tagstream@127.0.0.1:6390',
      passwordFile: '/stack/secure/secrets/redis-tagstream.password',
      tls: { caFile: '/stack/secure/tls/ca.pem' },
    });
    expect(tagstream['mysql']).toEqual({
      url: 'mysql://tagstream@127.0.0.1:3316/tagstream',
      passwordFile: '/stack/secure/secrets/mariadb-tagstream.password',
      ssl: { mode: 'VERIFY_IDENTITY', caFile: '/stack/secure/tls/ca.pem' },
    });
    expect(read('api.yaml')['redis']!['url']).toBe('rediss://api@127.0.0.1:6390');
    expect(read('api.yaml')['mysql']!['url']).toBe('mysql://api@127.0.0.1:3316/tagstream');
    expect(read('trainer.yaml')['mysql']!['url']).toBe('mysql://trainer@127.0.0.1:3316/tagstream');
    expect(read('trainer.yaml')['redis']).toBeUndefined();
  });
});

describe('`stack rotate` (src/dev/stack/secure-data.ts)', () => {
  it('takes a Kafka user alone, or a service and its user', () => {
    expect(parseRotateTarget(['reader'])).toEqual({ service: 'kafka', user: 'reader' });
    expect(parseRotateTarget(['kafka', 'producer'])).toEqual({ service: 'kafka', user: 'producer' });
    expect(parseRotateTarget(['redis', 'api'])).toEqual({ service: 'redis', user: 'api' });
    expect(parseRotateTarget(['redis', 'admin'])).toEqual({ service: 'redis', user: 'admin' });
    expect(parseRotateTarget(['mariadb', 'trainer'])).toEqual({ service: 'mariadb', user: 'trainer' });
    expect(parseRotateTarget(['mariadb', 'root'])).toEqual({ service: 'mariadb', user: 'root' });
  });

  it("refuses an unknown service or user, naming the users; Kafka's admin (the broker's own login) too", () => {
    expect(thrownBy(() => parseRotateTarget(['redis', 'trainer'])).message).toContain(
      'no redis user trainer: one of admin, tagstream, api',
    );
    expect(thrownBy(() => parseRotateTarget(['postgres', 'api'])).message).toContain(
      'mariadb: root, tagstream, trainer, api',
    );
    expect(thrownBy(() => parseRotateTarget(['admin'])).message).toContain("broker's own login");
    expect(thrownBy(() => parseRotateTarget(['kafka', 'admin'])).code).toBe('CONFIG_INVALID');
  });

  it('MariaDB: ALTER USER with the password as a placeholder, keeping TLS required; both root accounts', () => {
    expect(mariadbPasswordStatements('api')).toEqual(["ALTER USER 'api'@'%' IDENTIFIED BY ? REQUIRE SSL"]);
    expect(mariadbPasswordStatements('root')).toEqual([
      "ALTER USER 'root'@'localhost' IDENTIFIED BY ?",
      "ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY ? REQUIRE SSL",
    ]);
  });
});

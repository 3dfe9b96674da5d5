// `npm run stack -- compose-setup` (the secure compose profile's setup container) against the local secure Kafka and
// MariaDB (started through the same stack code when they are not up, stopped again after), from a folder holding
// only the setup container's secrets under their compose names, as it reads them from /run/secrets: admin over
// SASL_SSL puts every principal's ACLs in place, root over TLS migrates and makes the users, who then log in.
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../config/load.ts';
import {
  COMPOSE_SERVICE_SECRETS,
  composeSecretFiles,
  composeSetup,
} from '../../../src/dev/stack/secure-compose.ts';
import { SECURE_DATABASE, SECURE_DATA_PORTS } from '../../../src/dev/stack/secure-data.ts';
import { secureAcls, secureBrokers, secureSecurity } from '../../../src/dev/stack/secure.ts';
import { listAcls } from '../../../src/io/kafka/acls.ts';
import { createSql } from '../../../src/io/mysql/pool.ts';
import { createLogger } from '../../../src/log.ts';
import { secureConfig, stackSecrets, upSecure, type SecureStack } from '../../security/secure-stack.ts';

const lines: string[] = [];
let stack: SecureStack;
let dir: string;

beforeAll(async () => {
  stack = await upSecure(['kafka', 'mariadb'], (l) => lines.push(l));
  console.log(
    `secure Kafka and MariaDB: ${stack.started.length ? `started ${stack.started.join(', ')}` : 'already up'} (${JSON.stringify(stack.timings)} ms)`,
  );
  dir = mkdtempSync(join(tmpdir(), `tagstream-compose-setup-${randomUUID().slice(0, 8)}-`));
  const files = composeSecretFiles(stack.paths);
  for (const name of COMPOSE_SERVICE_SECRETS['secure-setup']!) copyFileSync(files[name]!, join(dir, name));
}, 170_000);

afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  await stack?.stop();
});

describe('compose-setup', () => {
  it("applies every principal's ACLs as admin, the migrations and the users as root, from the setup's secrets alone", async () => {
    const config = loadConfig();
    const targets = {
      secretsDir: dir,
      kafka: secureBrokers()[0]!,
      mariadb: `127.0.0.1:${SECURE_DATA_PORTS.mariadb}`,
    };
    const said: string[] = [];
    await composeSetup(config, (l) => said.push(l), targets);
    // Twice: what `docker compose up` does on every start.
    await composeSetup(config, (l) => said.push(l), targets);
    lines.push(...said);
    const want = secureAcls(config.topics);
    expect(said.filter((l) => l === `kafka-secure: ${want.length} ACLs in place`)).toHaveLength(2);
    const have = await listAcls({
      brokers: secureBrokers(),
      clientId: 'tagstream-test',
      connectTimeoutMs: 10_000,
      log: createLogger('test', 'silent'),
      security: secureSecurity(stack.paths, 'admin'),
    });
    for (const binding of want) expect(have).toContainEqual(binding);
    // The pipeline user logs in over TLS on the migrated database.
    const sql = createSql(
      secureConfig(stack.paths, { mysql: 'tagstream', database: SECURE_DATABASE }).mysql.url,
      {
        connectionLimit: 1,
      },
    );
    try {
      const [row] = await sql.query<{ n: number }>('SELECT COUNT(*) AS n FROM schema_migrations');
      expect(row!.n).toBeGreaterThan(0);
    } finally {
      await sql.end();
    }
    for (const secret of stackSecrets(stack.paths))
      expect(lines.filter((l) => l.includes(secret))).toEqual([]);
  });
});

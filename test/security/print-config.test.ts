// `--print-config` of the product commands with Kafka secrets and API tokens set, by value and by file: the output
// shows the keys and the files, never a secret.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'tagstream-print-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PASSWORD = 'print-s3cret-0d41c7';
const FILE_PASSWORD = 'file-s3cret-5be2a9';
const KEY_PASSWORD = 'keypass-s3cret-18e';
const READ_TOKEN = 'read-t0ken-77f1';
const ADMIN_TOKEN = 'admin-t0ken-c9e3';

async function printConfig(command: string, env: Record<string, string>): Promise<string> {
  const { stdout, stderr } = await run(
    process.execPath,
    ['--import', 'tsx', `src/cli/${command}.ts`, '--print-config'],
    { env: { ...process.env, ...env }, timeout: 60_000 },
  );
  return stdout + stderr;
}

describe('--print-config', () => {
  // Each run starts a tsx process: seconds on a busy machine.
  it.each(['pipeline', 'api'])(
    '%s: no Kafka secret or API token, by value or by file',
    { timeout: 60_000 },
    async (command) => {
      const passwordFile = join(dir, 'kafka.password');
      writeFileSync(passwordFile, `${FILE_PASSWORD}\n`, { mode: 0o600 });
      const adminFile = join(dir, 'api.admin');
      writeFileSync(adminFile, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
      const byValue = await printConfig(command, {
        KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        KAFKA_SASL_USERNAME: 'tagstream',
        KAFKA_SASL_PASSWORD: PASSWORD,
        KAFKA_SSL_KEY_PASSWORD: KEY_PASSWORD,
        API_READ_TOKEN: READ_TOKEN,
        API_ADMIN_TOKEN_FILE: adminFile,
      });
      expect(byValue).toContain('"readToken": "***"');
      expect(byValue).toContain('"adminToken": "***"');
      expect(byValue).toContain('"username": "tagstream"');
      expect(byValue).toContain('"password": "***"');
      const byFile = await printConfig(command, {
        KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        KAFKA_SASL_USERNAME: 'tagstream',
        KAFKA_SASL_PASSWORD_FILE: passwordFile,
      });
      expect(byFile).toContain(passwordFile);
      for (const out of [byValue, byFile])
        for (const secret of [PASSWORD, FILE_PASSWORD, KEY_PASSWORD, READ_TOKEN, ADMIN_TOKEN])
          expect(out).not.toContain(secret);
    },
  );
});

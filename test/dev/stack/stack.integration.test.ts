// The stack manager on its own ports and folder: `up` twice (the second starts nothing), then `down` leaves none
// of our processes running. Uses the jars already in the cache, so it costs two JVM start-ups.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isOurProcess } from '../../../src/dev/stack/process.ts';
import { tcpReachable } from '../../../src/io/net/tcp.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'tagstream-stack-'));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  TAGSTREAM__stack__dir: dir,
  TAGSTREAM__kafka__brokers: '["127.0.0.1:19092"]',
  TAGSTREAM__schemaRegistry__url: 'http://127.0.0.1:18081/apis/ccompat/v7',
  TAGSTREAM__mysql__url: `mysql://root@127.0.0.1:3306/tagstream_stack_test`,
};
// These would make the stack treat Kafka and the registry as external.
delete env['KAFKA_BROKERS'];
delete env['SCHEMA_REGISTRY_URL'];
delete env['MYSQL_URL'];

const stack = async (...args: string[]): Promise<string> => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/dev/cli/stack.ts', ...args], {
    env,
    timeout: 150_000,
  });
  return stdout;
};
const pid = (name: string): number => Number(readFileSync(join(dir, name, `${name}.pid`), 'utf8'));

describe('npm run stack', () => {
  it('up starts Kafka and the registry, a second up is a no-op, down stops everything it started', async () => {
    const first = await stack('up');
    expect(first).toContain('started kafka, registry');
    const kafkaPid = pid('kafka');
    const registryPid = pid('registry');
    expect(isOurProcess(kafkaPid, 'kafka.Kafka')).toBe(true);
    expect(isOurProcess(registryPid, 'apicurio-registry-app')).toBe(true);

    const second = await stack('up');
    expect(second).toContain('stack already up; nothing started');
    expect(pid('kafka')).toBe(kafkaPid);

    const status = await stack('status');
    expect(status).toMatch(new RegExp(`kafka\\s+running \\(pid ${kafkaPid}, started by tagstream\\)`));
    expect(status).toMatch(/mysql\s+reachable/);

    const down = await stack('down');
    expect(down).toContain('stopped kafka, registry');
    expect(isOurProcess(kafkaPid, 'kafka.Kafka')).toBe(false);
    expect(isOurProcess(registryPid, 'apicurio-registry-app')).toBe(false);
    expect(await tcpReachable('127.0.0.1', 19092)).toBe(false);
    expect(await tcpReachable('127.0.0.1', 18081)).toBe(false);
    expect(await stack('down')).toContain('nothing of ours was running');
  }, 240_000);
});

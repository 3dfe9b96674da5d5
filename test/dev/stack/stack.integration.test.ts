// The stack manager on its own ports and folder: `up` twice (the second starts nothing), then `down` leaves none
// of our processes running; schemas registered before `down` come back after the next `up` with the same ids, so
// records written before decode with their original schemas. Uses the jars already in the cache (`npm test`'s own
// `stack up` fetched them), so it costs four JVM start-ups.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { isOurProcess } from '../../../src/dev/stack/process.ts';
import { tcpReachable } from '../../../src/io/net/tcp.ts';
import { AvroSerde, confluentRegistry } from '../../../src/io/registry/registry.ts';
import { loadSchema, type SchemaName } from '../../../src/schemas/catalog.ts';
import { sampleScan, sampleTransaction } from '../../helpers/ingest.ts';

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
const REGISTRY = 'http://127.0.0.1:18081/apis/ccompat/v7';

/** Records of several schemas, each encoded as the pipeline would, on a topic (subject) of its own. */
const SAMPLES: { topic: string; schema: SchemaName; value: unknown }[] = [
  { topic: 'scans', schema: 'rfidScan', value: sampleScan() },
  { topic: 'transactions', schema: 'posTransaction', value: sampleTransaction() },
  {
    topic: 'dlq',
    schema: 'deadLetter',
    value: {
      key: Buffer.from('k'),
      value: Buffer.from([0, 1, 2]),
      topic: 'scans',
      partition: 0,
      offset: 7,
      error_code: 'DECODE_MAGIC_BYTE',
      error_message: 'magic byte is 1',
      failed_at: 1_700_000_000_000,
      pipeline: 'ingest',
      pipeline_version: 'test',
      stage: 'decode',
    },
  },
];

// A failed assertion must not leave this stack's broker and registry running (a later run would find them).
afterAll(async () => {
  await stack('down').catch(() => undefined);
}, 60_000);

describe('npm run stack', () => {
  it('up starts Kafka and the registry, a second up is a no-op, down stops everything it started', async () => {
    const first = await stack('up');
    expect(first).toContain('started kafka, registry');
    const kafkaPid = pid('kafka');
    const registryPid = pid('registry');
    expect(isOurProcess(kafkaPid, 'kafka.Kafka')).toBe(true);
    expect(isOurProcess(registryPid, 'apicurio-registry-app')).toBe(true);

    // Schemas registered now, and records written with them.
    const writer = new AvroSerde(confluentRegistry(REGISTRY));
    const written: Buffer[] = [];
    for (const s of SAMPLES)
      written.push((await writer.encoderFor<unknown>(s.topic, loadSchema(s.schema)))(s.value));
    const ids = written.map((b) => b.readInt32BE(1));

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

    // After down/up the registry knows every schema under its old id: a fresh reader decodes what was written, and
    // registering a schema again gives the id it had.
    expect(await stack('up')).toContain('started kafka, registry');
    try {
      const reader = new AvroSerde(confluentRegistry(REGISTRY));
      for (const [i, s] of SAMPLES.entries()) expect(await reader.decode(written[i]!)).toEqual(s.value);
      for (const [i, s] of SAMPLES.entries()) {
        const again = (await reader.encoderFor<unknown>(s.topic, loadSchema(s.schema)))(s.value);
        expect(again.readInt32BE(1)).toBe(ids[i]);
      }
    } finally {
      await stack('down');
    }
  }, 420_000);
});

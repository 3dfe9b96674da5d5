// `npm run alerts -- tail` as a child process on the real broker and registry: alerts produced to a topic of the
// test's own come out as readable lines or JSON, filtered by severity and rule; a tail of new alerts only stops
// cleanly on Ctrl-C; a broker or registry that does not answer gives one clear line and exit code 1.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvroSerde, confluentRegistry } from '../../src/io/registry/registry.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import type { Alert } from '../../src/schemas/types.ts';
import { configEnv, requireStack, testConfig, testKafka } from '../helpers/stack.ts';

const config = testConfig({ topics: { alerts: `t-${randomUUID().slice(0, 8)}.alerts` } });
const topic = config.topics.alerts;
const T = Date.UTC(2026, 5, 4, 12, 0, 0);

const ALERTS: Alert[] = [
  {
    alert_id: randomUUID(),
    rule: 'maintenance',
    severity: 'warning',
    entity_id: 'TAG-0001',
    service: 'maintenance',
    message: 'repair likely before the next rental',
    value: 0.72,
    threshold: 0.6,
    raised_at: T,
    event_time: T - 60_000,
  },
  {
    alert_id: randomUUID(),
    rule: 'restock',
    severity: 'critical',
    entity_id: 'S2|CHAIR-FOLD',
    service: 'restock',
    message: 'short of chairs for Saturday',
    value: 140,
    threshold: 100,
    raised_at: T + 1_000,
    event_time: T - 30_000,
  },
];

let kafka: Kafka;
let admin: Admin;
let producer: Producer;
let encode: (a: Alert) => Buffer;

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI; `during` may act on it while it runs (e.g. send SIGINT). Killed after the timeout. */
function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
  during?: (child: ReturnType<typeof spawn>, out: () => { stdout: string; stderr: string }) => Promise<void>,
  timeoutMs = 60_000,
): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/alerts.ts', ...args], {
    env: { ...process.env, ...configEnv(config), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exited = new Promise<Run>((resolve) =>
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  void during?.(child, () => ({ stdout, stderr }));
  return exited;
}

const until = async (cond: () => boolean, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

beforeAll(async () => {
  await requireStack(config);
  kafka = testKafka(config);
  admin = kafka.admin();
  await admin.connect();
  // One partition: the alerts come back in the order they were produced.
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  encode = await new AvroSerde(confluentRegistry(config.schemaRegistry.url)).encoderFor<Alert>(
    topic,
    loadSchema('alert'),
  );
  producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic,
    acks: -1,
    messages: ALERTS.map((a) => ({ key: a.entity_id, value: encode(a) })),
  });
});

afterAll(async () => {
  await producer?.disconnect();
  await admin?.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin?.disconnect();
});

describe('npm run alerts -- tail', () => {
  it('prints one readable line per alert, from the beginning', async () => {
    const run = await runCli(['tail', '--from-beginning', '--max-messages', '2']);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toEqual([
      '2026-06-04 12:00:00Z  WARNING   maintenance  TAG-0001 [maintenance]  repair likely before the next rental' +
        '  (value 0.72, threshold 0.6)',
      '2026-06-04 12:00:01Z  CRITICAL  restock  S2|CHAIR-FOLD [restock]  short of chairs for Saturday' +
        '  (value 140, threshold 100)',
    ]);
    expect(run.stderr).toContain(`following ${topic} (from the beginning)`);
  });

  it('filters by severity and prints JSON', async () => {
    const run = await runCli([
      'tail',
      '--from-beginning',
      '--severity',
      'critical',
      '--json',
      '--max-messages',
      '1',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(
      run.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Alert),
    ).toEqual([ALERTS[1]]);
  });

  it('filters by rule', async () => {
    const run = await runCli([
      'tail',
      '--from-beginning',
      '--rule',
      'drift,maintenance',
      '--max-messages',
      '1',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('maintenance  TAG-0001');
    expect(run.stdout).not.toContain('restock');
  });

  it('follows new alerts only by default, and stops cleanly on Ctrl-C', async () => {
    const fresh: Alert = { ...ALERTS[0]!, alert_id: randomUUID(), entity_id: 'TAG-NEW', message: 'new one' };
    const run = await runCli(['tail'], {}, async (child, out) => {
      await until(() => out().stderr.includes('following'), 30_000, 'the tail to start');
      // The throwaway group starts at the end once it has joined: produce until the new alert shows up.
      const deadline = Date.now() + 30_000;
      while (!out().stdout.includes('TAG-NEW') && Date.now() < deadline) {
        await producer.send({ topic, acks: -1, messages: [{ key: fresh.entity_id, value: encode(fresh) }] });
        await new Promise((r) => setTimeout(r, 1_000));
      }
      child.kill('SIGINT');
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('TAG-NEW [maintenance]  new one');
    // New alerts only: the two produced before it started are not shown.
    expect(run.stdout).not.toContain('TAG-0001');
    expect(run.stdout).not.toContain('S2|CHAIR-FOLD');
  });

  it('says what to do when Kafka is down', async () => {
    const run = await runCli(['tail'], { KAFKA_BROKERS: '127.0.0.1:1' }, undefined, 30_000);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error [KAFKA_UNAVAILABLE]: Kafka at 127.0.0.1:1 is not reachable');
    expect(run.stderr).toContain('npm run stack -- up');
  });

  it('says what to do when the schema registry is down', async () => {
    const run = await runCli(
      ['tail'],
      { SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1/apis/ccompat/v7' },
      undefined,
      30_000,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'error [REGISTRY_UNAVAILABLE]: schema registry at http://127.0.0.1:1/apis/ccompat/v7',
    );
    expect(run.stderr).toContain('npm run stack -- up');
  });
});

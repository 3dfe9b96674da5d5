// The pipeline process: SIGTERM stops it cleanly within the bound; SIGKILL mid-stream and a restart lose and
// duplicate nothing (outputs and offsets commit in one transaction); `--role` runs only its part's consumer groups.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Admin, Kafka } from 'kafkajs';
import { servingConfig } from '../../src/app/serving.ts';
import { AvroSerde, confluentRegistry } from '../../src/io/registry/registry.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import type { RfidScan } from '../../src/schemas/types.ts';
import { ensureJobBundle, jobArgs } from '../../src/dev/bundle.ts';
import {
  configEnv,
  readTopic,
  requireStack,
  testConfig,
  testKafka,
  waitForCommitted,
} from '../helpers/stack.ts';

const config = testConfig();
const { scans, transactions, cleanPrefix } = config.topics;
const N = 30_000;
let kafka: Kafka;
let admin: Admin;
// Every child a test starts: a failed test must not leave one running into the next (same group).
const children = new Set<ChildProcess>();

function startCli(args: readonly string[] = []): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(process.execPath, jobArgs(args), {
    env: {
      ...process.env,
      ...configEnv(config),
      TAGSTREAM__pipeline__maxBatch: '500',
      TAGSTREAM__metrics__port: '0',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

const exited = (child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> =>
  new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

async function waitForOutput(get: () => string, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!get().includes(text)) {
    if (Date.now() > deadline) throw new Error(`no "${text}" in pipeline output:\n${get()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function committedCount(): Promise<number> {
  const [c] = await admin.fetchOffsets({ groupId: config.pipeline.groupId, topics: [scans] });
  return (c?.partitions ?? []).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

beforeAll(async () => {
  await ensureJobBundle();
  await requireStack(config);
  kafka = testKafka(config);
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [scans, transactions].map((topic) => ({ topic, numPartitions: 3 })),
    waitForLeaders: true,
  });
  const encode = await new AvroSerde(confluentRegistry(config.schemaRegistry.url)).encoderFor<RfidScan>(
    scans,
    loadSchema('rfidScan'),
  );
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const now = Date.now();
  for (let i = 0; i < N; i += 2000) {
    const messages = Array.from({ length: Math.min(2000, N - i) }, (_, j) => {
      const n = i + j;
      const value: RfidScan = {
        tag_id: `TAG-${n}`,
        rental_class_num: 'RC-1',
        scan_type: 'out',
        scan_date: now - n,
        reader_id: 'R1',
        store_id: 'S1',
        quality_grade: 4,
        notes: null,
      };
      return { key: `TAG-${n}`, value: encode(value) };
    });
    await producer.send({ topic: scans, messages });
  }
  await producer.disconnect();
}, 120_000);

afterEach(async () => {
  const left = [...children];
  for (const child of left) child.kill('SIGKILL');
  await Promise.all(left.map((c) => (c.exitCode === null && c.signalCode === null ? exited(c) : null)));
});

afterAll(async () => {
  await admin?.disconnect();
});

/** Runs `step`; if it throws, the error carries the tail of the pipeline's output, which says why. */
async function withOutput<T>(output: () => string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- pipeline output (tail) ---\n${output().slice(-6000)}`);
  }
}

describe('pipeline process', () => {
  it('survives SIGKILL mid-stream: after a restart every record is out exactly once', async () => {
    const first = startCli();
    const firstExit = exited(first.child);
    await waitForOutput(first.output, 'pipeline consuming', 60_000);
    // Kill once some, but not all, of the input is committed.
    const deadline = Date.now() + 60_000;
    while ((await committedCount()) < 2_000 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    first.child.kill('SIGKILL');
    const { signal } = await firstExit;
    expect(signal).toBe('SIGKILL');
    const atKill = await committedCount();
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(N);

    const second = startCli();
    const secondExit = exited(second.child);
    await withOutput(second.output, () => waitForCommitted(admin, config.pipeline.groupId, [scans], 180_000));
    second.child.kill('SIGTERM');
    const { code } = await secondExit;
    expect(code).toBe(0);
    expect(second.output()).toContain('pipeline stopped cleanly');

    const out = await readTopic(kafka, `${cleanPrefix}${scans}`, N);
    expect(out).toHaveLength(N);
    expect(new Set(out.map((r) => r.key?.toString())).size).toBe(N);
  }, 300_000);

  it('stops on SIGTERM within pipeline.shutdownTimeoutMs, committing what it processed', async () => {
    const run = startCli();
    const exit = exited(run.child);
    await waitForOutput(run.output, 'pipeline consuming', 60_000);
    const t0 = Date.now();
    run.child.kill('SIGTERM');
    const { code } = await exit;
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(config.pipeline.shutdownTimeoutMs);
    expect(run.output()).toContain('pipeline stopped cleanly');
  }, 120_000);

  it('--role streams runs only the streaming groups, --role serving only the serving group', async () => {
    const main = config.pipeline.groupId;
    const serving = servingConfig(config).pipeline.groupId;
    const members = async (group: string): Promise<number> =>
      (await admin.describeGroups([group])).groups[0]?.members.length ?? 0;
    const waitMembers = async (group: string, output: () => string): Promise<void> => {
      const deadline = Date.now() + 60_000;
      while ((await members(group)) === 0) {
        if (Date.now() > deadline) throw new Error(`no member in ${group}:\n${output().slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    for (const [role, mine, other] of [
      ['streams', main, serving],
      ['serving', serving, main],
    ] as const) {
      const run = startCli(['--role', role]);
      const exit = exited(run.child);
      await waitMembers(mine, run.output);
      expect(await members(other), `${other} while only --role ${role} runs`).toBe(0);
      run.child.kill('SIGTERM');
      expect((await exit).code).toBe(0);
    }
  }, 180_000);
});

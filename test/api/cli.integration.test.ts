// `npm run api` as a process: it consumes predictions into the cache and serves them with the token, and SIGTERM
// stops it cleanly (exit code 0) while it runs.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { predictionSinkTopics } from '../../src/app/prediction-sink.ts';
import { command, createRedisClient } from '../../src/io/redis/client.ts';
import { AvroSerde, confluentRegistry } from '../../src/io/registry/registry.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import type { Prediction } from '../../src/schemas/types.ts';
import { configEnv, requireStack, testConfig, testKafka } from '../helpers/stack.ts';
import { prediction } from './fakes.ts';

const config = testConfig();
const TOKEN = 'cli-test-token';
let kafka: Kafka;
let admin: Admin;

const exited = (child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> =>
  new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

beforeAll(async () => {
  await requireStack(config);
  kafka = testKafka(config);
  admin = kafka.admin();
  await admin.connect();
});

afterAll(async () => {
  await admin?.deleteTopics({ topics: predictionSinkTopics(config) }).catch(() => undefined);
  await admin?.deleteGroups([`${config.pipeline.groupId}-predictions`]).catch(() => undefined);
  await admin?.disconnect();
  const redis = createRedisClient(config.redis.url);
  await redis
    .pipeline([
      command(
        'eval',
        "for _, k in ipairs(redis.call('keys', ARGV[1])) do redis.call('del', k) end",
        0,
        `${config.featureStore.redisPrefix}*`,
      ),
    ])
    .catch(() => undefined);
  await redis.close();
});

describe('npm run api', () => {
  it('serves what the sink cached, and stops on SIGTERM with exit code 0', async () => {
    let out = '';
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/api.ts', '--port', '0'], {
      env: { ...process.env, ...configEnv(config), API_TOKEN: TOKEN, LOG_LEVEL: 'info', LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exit = exited(child);
    try {
      const deadline = Date.now() + 60_000;
      let url: string | undefined;
      while (url === undefined) {
        url = /REST API on (http:\/\/\S+)/.exec(out)?.[1];
        if (Date.now() > deadline) throw new Error(`the API did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // The CLI created the prediction topics; produce one prediction and read it back over HTTP.
      const topic = `${config.topics.predictionsPrefix}pricing`;
      const encode = await new AvroSerde(confluentRegistry(config.schemaRegistry.url)).encoderFor<Prediction>(
        topic,
        loadSchema('prediction'),
      );
      const producer = kafka.producer();
      await producer.connect();
      const p = prediction({ service: 'pricing', entity_id: 'S2|CHAIR', prediction: 1.1 });
      await producer.send({ topic, messages: [{ key: p.entity_id, value: encode(p) }] });
      await producer.disconnect();
      const headers = { authorization: `Bearer ${TOKEN}` };
      let body: Record<string, unknown> | undefined;
      while (body === undefined) {
        const res = await fetch(`${url}/v1/predictions/pricing/${encodeURIComponent('S2|CHAIR')}`, {
          headers,
        });
        if (res.status === 200) body = (await res.json()) as Record<string, unknown>;
        else if (Date.now() > deadline) throw new Error(`no prediction served:\n${out}`);
        else await new Promise((r) => setTimeout(r, 200));
      }
      expect(body['prediction']).toBe(1.1);
      expect((await fetch(`${url}/v1/predictions/pricing/x`)).status).toBe(401);
      child.kill('SIGTERM');
      const { code } = await Promise.race([
        exit,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit:\n${out}`)), 20_000)),
      ]);
      expect(code, out).toBe(0);
      expect(out).toContain('"msg":"stopped"');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

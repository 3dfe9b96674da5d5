// Configuration: schema defaults, YAML file, environment overrides, errors that name the path, and redaction.
import { thrownBy } from '../helpers/errors.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { formatPath, loadConfig, parseConfig, rawConfig, redactConfig } from '../../config/load.ts';
import type { TagstreamError } from '../../src/errors.ts';

const configError = (raw: unknown): TagstreamError => thrownBy(() => parseConfig(raw));

/** A YAML file in a temporary folder, removed when the test ends. */
function yamlFile(ctx: TestContext, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tagstream-config-'));
  ctx.onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'tagstream.yaml');
  writeFileSync(file, text);
  return file;
}

describe('defaults', () => {
  it('an empty config is complete', () => {
    const c = parseConfig({});
    expect(c.kafka).toEqual({
      brokers: ['127.0.0.1:9092'],
      clientId: 'tagstream',
      partitions: 3,
      replicationFactor: 1,
      connectTimeoutMs: 10_000,
      topicRetentionMs: -1,
      client: 'kafkajs',
      security: { protocol: 'PLAINTEXT' },
      sasl: { mechanism: 'SCRAM-SHA-512', username: '', password: '', passwordFile: '' },
      ssl: { caFile: '', certFile: '', keyFile: '', keyPassword: '', keyPasswordFile: '' },
    });
    expect(c.schemaRegistry.url).toBe('http://127.0.0.1:8081/apis/ccompat/v7');
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(c.mysql.url).toBe('mysql://root@127.0.0.1:3306/tagstream');
    expect(c.topics.scans).toBe('rfid.scans');
    expect(c.topics.dlqPrefix).toBe('dlq.');
    expect(c.topics.cleanPrefix).toBe('clean.');
    expect(c.pipeline.processingGuarantee).toBe('exactly_once');
    expect(c.pipeline.maxBatch).toBe(2_000);
    expect(c.validation).toEqual({
      futureMarginMs: 300_000,
      maxAgeDays: 1095,
      storeIds: ['S1', 'S2', 'S3'],
      totalTolerance: 0.01,
    });
    expect(c.metrics).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(c.log.level).toBe('info');
  });

  it('an empty environment gives the defaults', () => {
    expect(loadConfig({})).toEqual(parseConfig({}));
  });

  it('a partly given section keeps the other defaults', () => {
    const c = parseConfig({ kafka: { partitions: 12 } });
    expect(c.kafka.partitions).toBe(12);
    expect(c.kafka.brokers).toEqual(['127.0.0.1:9092']);
  });
});

describe('environment overrides', () => {
  it('KAFKA_BROKERS is split on commas and trimmed', () => {
    const c = loadConfig({ KAFKA_BROKERS: 'k1:9092, k2:9093,,' });
    expect(c.kafka.brokers).toEqual(['k1:9092', 'k2:9093']);
  });

  it('SCHEMA_REGISTRY_URL, REDIS_URL, MYSQL_URL and LOG_LEVEL point at running services', () => {
    const c = loadConfig({
      SCHEMA_REGISTRY_URL: 'http://registry:8081',
      REDIS_URL: 'redis://cache:6380/2',
      MYSQL_URL: 'mysql://app:pw@db:3306/shop',
      LOG_LEVEL: 'debug',
    });
    expect(c.schemaRegistry.url).toBe('http://registry:8081');
    expect(c.redis.url).toBe('redis://cache:6380/2');
    expect(c.mysql.url).toBe('mysql://app:pw@db:3306/shop');
    expect(c.log.level).toBe('debug');
  });

  it('an empty shortcut variable is ignored', () => {
    expect(loadConfig({ KAFKA_BROKERS: '', MYSQL_URL: '' }).kafka.brokers).toEqual(['127.0.0.1:9092']);
  });

  it('TAGSTREAM__pipeline__maxBatch=500 is parsed as a number', () => {
    const raw = rawConfig({ TAGSTREAM__pipeline__maxBatch: '500' });
    expect(raw).toEqual({ pipeline: { maxBatch: 500 } });
    expect(parseConfig(raw).pipeline.maxBatch).toBe(500);
  });

  it('generic overrides take JSON arrays and plain strings', () => {
    const c = loadConfig({
      TAGSTREAM__validation__storeIds: '["S7","S8"]',
      TAGSTREAM__pipeline__groupId: 'ingest-blue',
      TAGSTREAM__pipeline__processingGuarantee: 'at_least_once',
    });
    expect(c.validation.storeIds).toEqual(['S7', 'S8']);
    expect(c.pipeline.groupId).toBe('ingest-blue');
    expect(c.pipeline.processingGuarantee).toBe('at_least_once');
  });

  it('the shortcut wins over the generic variable, and the environment over the file', () => {
    const raw = rawConfig(
      {
        TAGSTREAM__kafka__brokers: '["generic:1"]',
        KAFKA_BROKERS: 'shortcut:2',
        TAGSTREAM__pipeline__maxBatch: '7',
      },
      'kafka:\n  brokers: ["file:3"]\npipeline:\n  maxBatch: 9\n  groupId: from-file\n',
    );
    const c = parseConfig(raw);
    expect(c.kafka.brokers).toEqual(['shortcut:2']);
    expect(c.pipeline.maxBatch).toBe(7);
    expect(c.pipeline.groupId).toBe('from-file');
  });

  it('ignores variables without the TAGSTREAM__ prefix', () => {
    expect(rawConfig({ PATH: '/usr/bin', TAGSTREAMX__a: '1', HOME: undefined })).toEqual({});
  });
});

describe('YAML file', () => {
  it('is read from text', () => {
    const c = parseConfig(
      rawConfig(
        {},
        [
          'kafka:',
          '  brokers:',
          '    - broker-a:9092',
          '    - broker-b:9092',
          '  partitions: 6',
          'validation:',
          '  storeIds: []',
          '  futureMarginMs: 1000',
          'metrics:',
          '  port: 0',
        ].join('\n'),
      ),
    );
    expect(c.kafka.brokers).toEqual(['broker-a:9092', 'broker-b:9092']);
    expect(c.kafka.partitions).toBe(6);
    expect(c.validation.storeIds).toEqual([]);
    expect(c.validation.futureMarginMs).toBe(1000);
    expect(c.metrics.port).toBe(0);
  });

  it('an empty file is the defaults', () => {
    expect(rawConfig({}, '')).toEqual({});
    expect(rawConfig({}, '# only a comment\n')).toEqual({});
  });

  it('loadConfig reads the file named by TAGSTREAM_CONFIG', (ctx) => {
    const file = yamlFile(ctx, 'pipeline:\n  groupId: from-yaml\n  maxInFlight: 42\n');
    const c = loadConfig({ TAGSTREAM_CONFIG: file, REDIS_URL: 'redis://r:1' });
    expect(c.pipeline.groupId).toBe('from-yaml');
    expect(c.pipeline.maxInFlight).toBe(42);
    expect(c.redis.url).toBe('redis://r:1');
  });
});

describe('validation errors name the path', () => {
  it('kafka.brokers[0]: expected host:port', () => {
    const e = configError(rawConfig({ KAFKA_BROKERS: 'not-a-broker' }));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain('kafka.brokers[0]: expected host:port');
    expect(e.details['issues']).toEqual(['kafka.brokers[0]: expected host:port']);
  });

  it('a renamed key is refused with its new name, not dropped', () => {
    const e = configError(rawConfig({ TAGSTREAM__serving__historyWaitMs: '0' }));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.details['issues']).toEqual([
      'serving.historyWaitMs: renamed serving.sinkWaitMs (it covers the feature-store sink too)',
    ]);
    expect(parseConfig({ serving: { sinkWaitMs: 0 } }).serving.sinkWaitMs).toBe(0);
  });

  it('names the second broker when only it is wrong', () => {
    expect(configError({ kafka: { brokers: ['ok:9092', 'bad host:1'] } }).message).toContain(
      'kafka.brokers[1]: expected host:port',
    );
  });

  it('pipeline.maxBatch: a negative or non-numeric value', () => {
    const negative = configError(rawConfig({ TAGSTREAM__pipeline__maxBatch: '-5' }));
    expect(negative.details['issues']).toEqual([expect.stringMatching(/^pipeline\.maxBatch: /)]);
    const text = configError(rawConfig({ TAGSTREAM__pipeline__maxBatch: 'lots' }));
    expect(text.message).toMatch(/pipeline\.maxBatch: .*number/);
  });

  it('lists every failing key', () => {
    const e = configError({
      metrics: { port: 70_000 },
      log: { level: 'loud' },
      schemaRegistry: { url: 'nope' },
    });
    const issues = e.details['issues'] as string[];
    expect(issues).toHaveLength(3);
    expect(issues.map((l) => l.split(':')[0]).sort()).toEqual([
      'log.level',
      'metrics.port',
      'schemaRegistry.url',
    ]);
  });

  it('formatPath joins keys with dots and indexes with brackets', () => {
    expect(formatPath(['kafka', 'brokers', 0])).toBe('kafka.brokers[0]');
    expect(formatPath(['a', 1, 'b', 2])).toBe('a[1].b[2]');
    expect(formatPath([])).toBe('');
  });
});

describe('redactConfig', () => {
  it('hides the MySQL and Redis passwords and keeps everything else', () => {
    const c = loadConfig({
      MYSQL_URL: 'mysql://app:hunter2@db:3306/shop',
      REDIS_URL: 'redis://default:s3cret@cache:6379/0',
      API_TOKEN: 't0ken',
      API_READ_TOKEN: 'r3ad',
    });
    const r = redactConfig(c);
    expect(c.api.adminToken).toBe('t0ken'); // API_TOKEN, the older name, is the admin token
    expect(r.api.adminToken).toBe('***');
    expect(r.api.readToken).toBe('***');
    expect(r.mysql.url).toBe('mysql://app:***@db:3306/shop');
    expect(r.redis.url).toBe('redis://default:***@cache:6379/0');
    expect(JSON.stringify(r)).not.toMatch(/hunter2|s3cret|t0ken|r3ad/);
    expect(r.kafka).toEqual(c.kafka);
    expect(c.mysql.url).toBe('mysql://app:hunter2@db:3306/shop');
  });

  it('leaves URLs without a password alone', () => {
    const c = parseConfig({});
    expect(redactConfig(c)).toEqual(c);
  });

  // `redis://:password@host` (no user name) is the usual way to give Redis a password (ioredis, redis-cli -u).
  it('hides a Redis password given without a user name', () => {
    const r = redactConfig(loadConfig({ REDIS_URL: 'redis://:s3cret@cache:6379/0' }));
    expect(r.redis.url).not.toContain('s3cret');
  });
});

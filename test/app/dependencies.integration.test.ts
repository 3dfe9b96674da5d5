// A failed dependency stops the pipeline with a coded error that says what to do, instead of dead-lettering input.
import { describe, expect, it } from 'vitest';
import { parseConfig, rawConfig } from '../../config/load.ts';
import { ingestTopology } from '../../pipelines/ingest.ts';
import { startPipeline } from '../../src/app/pipeline.ts';
import { isTagstreamError, type TagstreamError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { testConfig } from '../helpers/stack.ts';

const log = createLogger('test', 'silent');

async function failure(p: Promise<unknown>): Promise<TagstreamError> {
  try {
    await p;
  } catch (e) {
    if (isTagstreamError(e)) return e;
    throw e;
  }
  throw new Error('expected the pipeline to fail to start');
}

describe('failed dependencies', () => {
  it('a schema registry that does not answer gives REGISTRY_UNAVAILABLE with a hint', async () => {
    const config = parseConfig({
      ...rawConfig(process.env),
      ...testConfig(),
      schemaRegistry: { url: 'http://127.0.0.1:1/apis/ccompat/v7' },
    });
    const e = await failure(startPipeline(config, ingestTopology(config), { log, serveMetrics: false }));
    expect(e.code).toBe('REGISTRY_UNAVAILABLE');
    expect(e.retryable).toBe(true);
    expect(e.message).toContain('npm run stack -- up');
    expect(e.message).toContain('SCHEMA_REGISTRY_URL');
  });

  it('a broker that does not answer gives KAFKA_UNAVAILABLE with a hint', async () => {
    const base = testConfig();
    const config = parseConfig({
      ...base,
      kafka: { ...base.kafka, brokers: ['127.0.0.1:1'], connectTimeoutMs: 500 },
    });
    const e = await failure(startPipeline(config, ingestTopology(config), { log, serveMetrics: false }));
    expect(e.code).toBe('KAFKA_UNAVAILABLE');
    expect(e.message).toContain('KAFKA_BROKERS');
  }, 120_000);
});

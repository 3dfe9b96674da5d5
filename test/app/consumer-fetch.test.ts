// How the pipeline's consumers fetch (src/app/pipeline.ts consumerFetch): the config's bounds, and a fetch wait of
// Kafka's fetch.max.wait.ms default (500 ms) rather than kafkajs's 5 s, which a stopping consumer waited out.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import { consumerFetch } from '../../src/app/pipeline.ts';

describe('consumerFetch', () => {
  it("waits at most Kafka's default 500 ms for a record, with kafkajs's byte bounds", () => {
    expect(consumerFetch(parseConfig({}))).toEqual({
      maxBytes: 10_485_760,
      maxBytesPerPartition: 1_048_576,
      maxWaitMs: 500,
    });
  });

  it('takes each bound from the config', () => {
    const config = parseConfig({
      pipeline: { fetchMaxBytes: 2_097_152, fetchMaxBytesPerPartition: 262_144, fetchMaxWaitMs: 100 },
    });
    expect(consumerFetch(config)).toEqual({
      maxBytes: 2_097_152,
      maxBytesPerPartition: 262_144,
      maxWaitMs: 100,
    });
  });
});

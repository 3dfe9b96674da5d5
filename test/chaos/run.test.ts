// The chaos suite's per-run config (src/dev/chaos/run.ts): each run on its own database of the chaos services.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import { runConfig, type ChaosOptions } from '../../src/dev/chaos/run.ts';

const options: ChaosOptions = {
  seed: 1,
  stores: 2,
  days: 3,
  instances: 2,
  joins: 1,
  kills: 1,
  durationS: 10,
  outageS: 2,
  partitions: 6,
  keep: false,
};

describe('runConfig', () => {
  it("puts each run on a database of its own, keeping the URL's user, password and TLS options", () => {
    const services = parseConfig({
      mysql: { url: 'mysql://chaos:pw@127.0.0.1:3399/tagstream?ssl-mode=REQUIRED' },
    });
    const ref = runConfig(services, 'r1', 'ref', options, 'redis://127.0.0.1:6399');
    expect(ref.mysql.url).toBe('mysql://chaos:pw@127.0.0.1:3399/tagstream_chaos_ref?ssl-mode=REQUIRED');
    expect(runConfig(services, 'r1', 'run', options, 'redis://127.0.0.1:6399').mysql.url).toBe(
      'mysql://chaos:pw@127.0.0.1:3399/tagstream_chaos_run?ssl-mode=REQUIRED',
    );
    expect(ref.kafka.partitions).toBe(6);
  });
});

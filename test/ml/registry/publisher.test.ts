// Promotion = registry change + announcement: a failed announcement leaves the change in place and says how to
// re-announce it.
import { describe, expect, it } from 'vitest';
import type { ModelVersion } from '../../../src/schemas/types.ts';
import {
  promoteAndPublish,
  rollbackAndPublish,
  type ModelVersionPublisher,
} from '../../../src/ml/registry/publisher.ts';
import type { ModelRegistry } from '../../../src/ml/registry/registry.ts';
import { rejectionOf } from '../../helpers/errors.ts';

const record: ModelVersion = {
  service: 'demand',
  version: 'demand-20260615070809-0123abcd',
  algorithm: 'linear',
  status: 'production',
  sha256: '0'.repeat(64),
  feature_names: ['a'],
  metrics_json: '{}',
  promoted_at: 5,
};

function fakes(fail: boolean) {
  const calls: string[] = [];
  const registry = {
    promote: async (s: string, v: string) => {
      calls.push(`promote ${s} ${v}`);
      return record;
    },
    rollback: async (s: string) => {
      calls.push(`rollback ${s}`);
      return record;
    },
  } as unknown as ModelRegistry;
  const publisher: ModelVersionPublisher = {
    topic: 'models.versions',
    publish: async (r) => {
      calls.push(`publish ${r.version}`);
      if (fail) throw new Error('broker gone');
    },
    close: async () => undefined,
  };
  return { calls, registry, publisher };
}

describe('promoteAndPublish / rollbackAndPublish', () => {
  it('promote, then announce the record the registry returned', async () => {
    const { calls, registry, publisher } = fakes(false);
    expect(await promoteAndPublish(registry, publisher, 'demand', record.version)).toBe(record);
    expect(await rollbackAndPublish(registry, publisher, 'demand')).toBe(record);
    expect(calls).toEqual([
      `promote demand ${record.version}`,
      `publish ${record.version}`,
      'rollback demand',
      `publish ${record.version}`,
    ]);
  });

  it('a failed announcement is MODEL_PUBLISH_FAILED (retryable) naming the command that re-announces it', async () => {
    for (const run of [
      (f: ReturnType<typeof fakes>) => promoteAndPublish(f.registry, f.publisher, 'demand', record.version),
      (f: ReturnType<typeof fakes>) => rollbackAndPublish(f.registry, f.publisher, 'demand'),
    ]) {
      const f = fakes(true);
      const e = await rejectionOf(run(f));
      expect(e.code).toBe('MODEL_PUBLISH_FAILED');
      expect(e.retryable).toBe(true);
      expect(e.message).toContain(`npm run models -- promote demand ${record.version}`);
      expect(e.message).toContain('broker gone');
      expect((e.cause as Error).message).toBe('broker gone');
      // The database change happened first and is not undone.
      expect(f.calls[0]).toMatch(/^(promote|rollback) demand/);
    }
  });
});

// The job's bundle (src/dev/bundle.ts): what `npm run pipeline` runs. The integration tests that start the job in a
// process of their own (exactly-once, the pipeline CLI) run it end to end; here, its shape.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JOB_BUNDLE, bundleJob, jobArgs } from '../../src/dev/bundle.ts';

describe('bundleJob', () => {
  it('writes dist/pipeline.mjs with its source map beside it, naming the TypeScript sources', async () => {
    const path = await bundleJob();
    expect(path).toBe(JOB_BUNDLE);
    const code = readFileSync(path, 'utf8');
    expect(code.trimEnd().endsWith('//# sourceMappingURL=pipeline.mjs.map')).toBe(true);
    const map = JSON.parse(readFileSync(`${path}.map`, 'utf8')) as { sources: string[] };
    expect(map.sources.some((s) => s.endsWith('src/cli/pipeline.ts'))).toBe(true);
    expect(map.sources.some((s) => s.endsWith('src/runtime/processor.ts'))).toBe(true);
    // Packages stay in node_modules: imported, not inlined.
    expect(code).toMatch(/from "kafkajs"/);
    expect(map.sources.some((s) => s.includes('node_modules'))).toBe(false);
    // Builds side by side leave whole files and no partial ones.
    await Promise.all([bundleJob(), bundleJob()]);
    expect(readFileSync(path, 'utf8')).toBe(code);
    expect(existsSync(`${path}.${process.pid}.tmp`)).toBe(false);
  });

  it('starts the bundle with source maps, node flags first and the job arguments last', () => {
    expect(jobArgs(['--api'], ['--max-old-space-size=256'])).toEqual([
      '--max-old-space-size=256',
      '--enable-source-maps',
      JOB_BUNDLE,
      '--api',
    ]);
  });
});

// `npm run build`: the job's bundle, dist/pipeline.mjs (src/dev/bundle.ts). `npm run pipeline` runs it first.
import { Command } from 'commander';
import { bundleJob } from '../bundle.ts';

new Command('build')
  .description(
    'Bundle the streaming job (src/cli/pipeline.ts) into dist/pipeline.mjs, which `npm run pipeline` runs',
  )
  .parse();
const started = performance.now();
const path = await bundleJob();
process.stderr.write(`built ${path} in ${Math.round(performance.now() - started)} ms\n`);

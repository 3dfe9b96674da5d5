// The job as one ES module: `npm run pipeline` (and everything that starts the job in a process of its own: the
// bench, the chaos suite, the tests that kill or stop it) runs dist/pipeline.mjs with plain node rather than the
// TypeScript sources under tsx. Measured on the quick bench (docs/benchmarks.md, session 18): 5-9% less job CPU
// and a smaller resident set. tsx compiles with esbuild's keepNames, which names every function created at run time
// (__name per closure, per record), and transforms each module at start-up. Packages stay outside the bundle (they
// load from node_modules as before); files beside the code are found from the package root (src/paths.ts).
// Each file is written under a name of its own, then renamed into place: processes that build at once (tests
// starting instances side by side) never load a half-written file.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { build } from 'esbuild';
import { packagePath } from '../paths.ts';

/** The job's entry point and where its bundle goes. */
export const JOB_ENTRY = packagePath('src', 'cli', 'pipeline.ts');
export const JOB_BUNDLE = packagePath('dist', 'pipeline.mjs');

/** Builds the job's bundle (about half a second) and returns its path. */
export async function bundleJob(): Promise<string> {
  const { outputFiles } = await build({
    entryPoints: [JOB_ENTRY],
    outfile: JOB_BUNDLE,
    write: false,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  mkdirSync(dirname(JOB_BUNDLE), { recursive: true });
  // The source map first: a process that loads the new bundle finds its map already in place.
  const files = [...outputFiles].sort(
    (a, b) => Number(b.path.endsWith('.map')) - Number(a.path.endsWith('.map')),
  );
  for (const f of files) {
    const partial = `${f.path}.${process.pid}.tmp`;
    writeFileSync(partial, f.contents);
    renameSync(partial, f.path);
  }
  return JOB_BUNDLE;
}

let built: Promise<string> | undefined;

/** Builds the bundle once per calling process (later calls wait for the same build). */
export function ensureJobBundle(): Promise<string> {
  return (built ??= bundleJob());
}

/**
 * Node's arguments that start the job in a process of its own, as `npm run pipeline -- <args>` does: the bundle
 * (ensureJobBundle first), with `nodeFlags` before it (--max-old-space-size, --cpu-prof).
 */
export function jobArgs(args: readonly string[] = [], nodeFlags: readonly string[] = []): string[] {
  return [...nodeFlags, '--enable-source-maps', JOB_BUNDLE, ...args];
}

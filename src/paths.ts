// Files that ship beside the code (schemas/avro, schemas/sql), found from the package root: the directory holding
// tagstream's package.json, looked up from this module. The same answer whether the module runs from its source
// file (src/paths.ts, under tsx or vitest) or inlined into the job's bundle (dist/pipeline.mjs, src/dev/bundle.ts).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The package's root directory. */
export function packageRoot(): string {
  if (root !== undefined) return root;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'tagstream'
    )
      return (root = dir);
    if (dirname(dir) === dir) throw new Error(`no tagstream package.json above ${start}`);
  }
}

/** A path inside the package, from its root ('schemas', 'sql'). */
export const packagePath = (...parts: string[]): string => join(packageRoot(), ...parts);

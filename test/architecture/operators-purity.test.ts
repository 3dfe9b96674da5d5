// Operators are pure (CONVENTIONS.md points 1 and 9): nothing under operators/ reaches, through any chain of imports,
// a network or database client, the file system, or the layers above it (adapters, the feature store, training and
// serving, the composition root). The runtime hands an operator its state and its clock; I/O stays in async stages.
import { describe, expect, it } from 'vitest';
import { listSourceFiles, transitiveImports, type Target } from './import-graph.ts';

/** Packages (by name or exact specifier) that do I/O. */
const FORBIDDEN_PACKAGES = [
  'kafkajs',
  'mysql2',
  'ioredis',
  'node:fs',
  'node:fs/promises',
  'fs',
  'node:net',
  'net',
];
/** Layers above the operators. */
const FORBIDDEN_FOLDERS = ['src/io/', 'src/store/', 'src/ml/', 'src/serving/', 'src/app/'];

function forbidden(t: Target): boolean {
  if (t.kind === 'package')
    return FORBIDDEN_PACKAGES.includes(t.specifier) || FORBIDDEN_PACKAGES.includes(t.name);
  return FORBIDDEN_FOLDERS.some((f) => t.path.startsWith(f));
}

const files = listSourceFiles(['operators']);

describe('operators are free of I/O', () => {
  it('finds the operators', () => {
    expect(files).toContain('operators/item-features.ts');
  });

  it.each(files)('%s reaches no I/O and no layer above it', (file) => {
    const chains = [...transitiveImports(file).values()]
      .filter(({ target }) => forbidden(target))
      .map(({ chain }) => chain.join(' → '));
    expect(chains).toEqual([]);
  });
});

// The feature vocabulary is the bottom layer (CONVENTIONS.md point 9): src/features imports nothing but itself, the
// record types, the error module and pure libraries, so every layer above can name features without loading I/O.
import { describe, expect, it } from 'vitest';
import { listSourceFiles, transitiveImports } from './import-graph.ts';

/** What src/features may reach: its own files, the record types and the error module, and luxon. */
const ALLOWED_FILES = (path: string): boolean =>
  path.startsWith('src/features/') || path === 'src/schemas/types.ts' || path === 'src/errors.ts';
const ALLOWED_PACKAGES = ['luxon'];

const files = listSourceFiles(['src/features']);

describe('the feature vocabulary is pure', () => {
  it('finds the vocabulary', () => {
    expect(files).toContain('src/features/keys.ts');
  });

  it.each(files)(
    '%s reaches only the vocabulary, the record types, the errors and pure libraries',
    (file) => {
      const chains = [...transitiveImports(file).values()]
        .filter(({ target }) =>
          target.kind === 'file' ? !ALLOWED_FILES(target.path) : !ALLOWED_PACKAGES.includes(target.name),
        )
        .map(({ chain }) => chain.join(' → '));
      expect(chains).toEqual([]);
    },
  );
});

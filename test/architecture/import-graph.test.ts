// The import-graph helper of the architecture tests, on a small tree written for each test: resolution (as written,
// `.js` for `.ts`, no extension, index files), packages as leaves, the chain to each reached module, and folders.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  folderCycles,
  folderGraph,
  folderOf,
  importsOf,
  listSourceFiles,
  packageName,
  transitiveImports,
} from './import-graph.ts';

let root = '';
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  root = '';
});

/** Writes files (path → source) into a fresh temporary root, removed after the test. */
function tree(files: Record<string, string>): string {
  root = mkdtempSync(join(tmpdir(), 'import-graph-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('import graph', () => {
  it('resolves relative imports and keeps packages as leaves, with the chain to each', () => {
    const r = tree({
      'operators/a.ts': "import { b } from './lib';\nimport type { X } from '../src/schemas/types.ts';\n",
      'operators/lib/index.ts': "export { c } from '../../src/store/c.js';\n",
      'src/store/c.ts': "import mysql from 'mysql2/promise';\nexport const c = await import('./d');\n",
      'src/store/d.ts': "import { readFileSync } from 'node:fs';\n",
      'src/schemas/types.ts': 'export interface X {}\n',
      'operators/types.d.ts': "import 'kafkajs';\n",
    });
    expect(listSourceFiles(['operators', 'src'], r)).toEqual([
      'operators/a.ts',
      'operators/lib/index.ts',
      'src/schemas/types.ts',
      'src/store/c.ts',
      'src/store/d.ts',
    ]);
    expect(importsOf('src/store/c.ts', r)).toEqual([
      {
        specifier: 'mysql2/promise',
        target: { kind: 'package', specifier: 'mysql2/promise', name: 'mysql2' },
      },
      { specifier: './d', target: { kind: 'file', path: 'src/store/d.ts' } },
    ]);
    const reached = transitiveImports('operators/a.ts', r);
    expect(Object.fromEntries([...reached].map(([k, v]) => [k, v.chain.join(' → ')]))).toEqual({
      'operators/lib/index.ts': 'operators/a.ts → operators/lib/index.ts',
      'src/schemas/types.ts': 'operators/a.ts → src/schemas/types.ts',
      'src/store/c.ts': 'operators/a.ts → operators/lib/index.ts → src/store/c.ts',
      'mysql2/promise': 'operators/a.ts → operators/lib/index.ts → src/store/c.ts → mysql2/promise',
      'src/store/d.ts': 'operators/a.ts → operators/lib/index.ts → src/store/c.ts → src/store/d.ts',
      'node:fs': 'operators/a.ts → operators/lib/index.ts → src/store/c.ts → src/store/d.ts → node:fs',
    });
  });

  it('fails on a relative import that resolves to nothing', () => {
    const r = tree({ 'operators/a.ts': "import './missing.ts';\n" });
    expect(() => importsOf('operators/a.ts', r)).toThrow(
      "operators/a.ts: cannot resolve import './missing.ts'",
    );
  });

  it('names packages and folders', () => {
    expect(packageName('mysql2/promise')).toBe('mysql2');
    expect(packageName('@kafkajs/confluent-schema-registry')).toBe('@kafkajs/confluent-schema-registry');
    expect(packageName('node:fs/promises')).toBe('node:fs');
    expect(folderOf('src/io/kafka/client.ts')).toBe('src/io');
    expect(folderOf('src/errors.ts')).toBe('src/errors.ts');
    expect(folderOf('operators/lib/heap.ts')).toBe('operators');
    expect(folderOf('vitest.config.ts')).toBe('vitest.config.ts');
  });

  it('builds the folder graph and finds its cycles', () => {
    const r = tree({
      'src/features/keys.ts': 'export const k = 1;\n',
      'operators/a.ts': "import '../src/features/keys.ts';\nimport './b.ts';\n",
      'operators/b.ts': "import '../src/errors.ts';\n",
      'src/errors.ts': "import '../operators/a.ts';\n",
      'src/serving/s.ts': "import '../../operators/a.ts';\nimport 'ioredis';\n",
    });
    const graph = folderGraph(['operators', 'src'], r);
    expect(Object.fromEntries([...graph].map(([from, edges]) => [from, edges.map((e) => e.to)]))).toEqual({
      operators: ['src/errors.ts', 'src/features'],
      'src/errors.ts': ['operators'],
      'src/serving': ['operators'],
    });
    expect(graph.get('src/serving')![0]!.imports).toEqual([
      { file: 'src/serving/s.ts', imported: 'operators/a.ts' },
    ]);
    expect(folderCycles(graph)).toEqual([['operators', 'src/errors.ts']]);
  });
});

// Every configuration key is documented: each leaf of the config schema appears in the key table of
// docs/configuration.md (a row naming its section, the leaf, and each level between, or `<name>` for the
// per-collector keys).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';

function leaves(value: unknown, path: string[] = []): string[][] {
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  // stores.timeZones is a map of store ids, not keys of ours.
  if (!isObject || path.join('.') === 'stores.timeZones') return [path];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => leaves(v, [...path, k]));
}

const page = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
// The "## Keys" section, up to the next heading of its level or the end of the page.
const keysStart = page.indexOf('\n## Keys\n');
const keysEnd = page.indexOf('\n## ', keysStart + 1);
const section = keysStart < 0 ? '' : page.slice(keysStart, keysEnd < 0 ? undefined : keysEnd);
const firstCells = section
  .split('\n')
  .filter((l) => l.startsWith('| `'))
  .map((l) => l.split(' | ')[0]!);

const words = (cell: string): Set<string> => new Set(cell.split(/[^A-Za-z0-9<>]+/).filter(Boolean));

describe('docs/configuration.md key table', () => {
  it('has a key table', () => {
    expect(firstCells.length).toBeGreaterThan(0);
  });

  it('documents every configuration key', () => {
    const missing = leaves(parseConfig({})).filter((path) => {
      const [top, ...rest] = path;
      return !firstCells.some((cell) => {
        if (!cell.includes(`\`${top}.`)) return false;
        const w = words(cell);
        return rest.every(
          (seg) => w.has(seg) || (top === 'collectors' && w.has('<name>') && seg !== rest.at(-1)),
        );
      });
    });
    expect(missing.map((p) => p.join('.'))).toEqual([]);
  });
});

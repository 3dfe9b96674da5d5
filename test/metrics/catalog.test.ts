// The metric catalogue against the Prometheus naming conventions and against the metric table of docs/metrics.md,
// so the table can not drift from what /metrics serves.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../src/metrics/catalog.ts';

const specs = Object.values(METRICS);

/** Rows of the table under "## The metric catalogue" in docs/metrics.md: name, type, labels. */
function docsTable(): Array<{ name: string; type: string; labels: string[] }> {
  const page = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  const section = page.split(/^## /m).find((s) => s.startsWith('The metric catalogue')) ?? '';
  return section
    .split('\n')
    .filter((l) => /^\|\s*`tagstream_/.test(l))
    .map((l) => {
      const [name = '', type = '', labels = ''] = l
        .split('|')
        .slice(1)
        .map((c) => c.trim());
      return {
        name: name.replace(/`/g, ''),
        type,
        labels: labels === '' ? [] : labels.split(',').map((x) => x.trim().replace(/`/g, '')),
      };
    });
}

describe('the metric catalogue', () => {
  it('follows the naming conventions', () => {
    for (const s of specs) {
      expect(s.name, s.name).toMatch(/^tagstream_[a-z][a-z0-9_]*$/);
      expect(s.name.endsWith('_total'), s.name).toBe(s.type === 'counter');
      expect(s.name, s.name).not.toMatch(/_(ms|milliseconds|minutes|hours|kb|mb|percent)(_|$)/);
      if (s.type === 'histogram') expect(s.buckets?.length, s.name).toBeGreaterThan(0);
      for (const l of s.labels) expect(l, s.name).toMatch(/^[a-z][a-z0-9_]*$/);
      // No label that would hold an entity id: series per tag or class would grow without bound.
      expect(
        s.labels.filter((l) => /^(entity(_id)?|tag(_id)?|item(_id)?|key|id|\w+_id)$/.test(l)),
        s.name,
      ).toEqual([]);
    }
    expect(new Set(specs.map((s) => s.name)).size).toBe(specs.length);
  });

  it('is the metric table of docs/metrics.md, row for row', () => {
    const rows = docsTable();
    expect(rows.map((r) => r.name).sort()).toEqual(specs.map((s) => s.name).sort());
    for (const s of specs) {
      const row = rows.find((r) => r.name === s.name);
      expect(row?.type, s.name).toBe(s.type);
      expect(row?.labels, s.name).toEqual([...s.labels]);
    }
  });
});

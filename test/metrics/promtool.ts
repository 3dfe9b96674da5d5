// Runs Prometheus' own linter, `promtool check metrics`, on an exposition text. promtool is a test dependency:
// .ci/run installs it (.ci/install-promtool); when it is missing the tests that need it fail and say how to get it.
import { spawnSync } from 'node:child_process';

export const PROMTOOL = process.env['PROMTOOL'] ?? 'promtool';

export const INSTALL_HINT =
  'promtool (Prometheus’ metrics linter) is not installed: run `bash .ci/install-promtool` as root ' +
  '(extracts /usr/local/bin/promtool from Debian’s prometheus package; .ci/run does it), or ' +
  '`apt-get install -y --no-install-recommends prometheus`, or set PROMTOOL to its path';

/** promtool's version line; throws with the install hint when it cannot be run. */
export function promtoolVersion(): string {
  const res = spawnSync(PROMTOOL, ['--version'], { encoding: 'utf8' });
  if (res.error || res.status !== 0) throw new Error(`${INSTALL_HINT} (${res.error?.message ?? res.stderr})`);
  return (res.stdout || res.stderr).split('\n')[0] ?? '';
}

/** `promtool check metrics` on the text: exit status and what it printed (lint problems, parse errors). */
export function checkMetrics(exposition: string): { status: number | null; output: string } {
  promtoolVersion();
  const res = spawnSync(PROMTOOL, ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  return { status: res.status, output: `${res.stdout}${res.stderr}`.trim() };
}

/** Metric families with at least one sample line, by family name (histogram suffixes folded in). */
export function sampledFamilies(exposition: string): Set<string> {
  const types = new Map<string, string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  const families = new Set<string>();
  for (const line of exposition.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? '';
    const base = name.replace(/_(bucket|sum|count)$/, '');
    families.add(base !== name && types.get(base) === 'histogram' ? base : name);
  }
  return families;
}

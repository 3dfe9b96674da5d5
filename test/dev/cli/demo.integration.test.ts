// `npm run demo -- --quick` end to end on the real stack: it streams a history through the pipeline, trains and
// promotes models, streams a live day, and ends with predictions for all six services and at least one alert; the
// terminal shows people's lines only (no JSON log line) in a normal run.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { requireStack, testConfig } from '../../helpers/stack.ts';

describe('npm run demo -- --quick', () => {
  it('ends with predictions for every service and at least one alert', async () => {
    await requireStack(testConfig());
    let out = '';
    // A normal run: the demo's own log settings, not the test runner's.
    const { LOG_LEVEL: _level, LOG_FORMAT: _format, LOG_FILE: _file, ...env } = process.env;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/dev/cli/demo.ts', '--quick'], {
      env: { ...env, TAGSTREAM__metrics__port: '0', TAGSTREAM__api__port: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, out).toBe(0);
    const summary = out.slice(out.indexOf('[7/7] summary'));
    for (const service of ['demand', 'maintenance', 'quality', 'pricing', 'restock', 'pack']) {
      const n = Number(new RegExp(`predictions\\.${service}\\s+(\\d+)`).exec(summary)?.[1] ?? 0);
      expect(n, `${service} predictions in:\n${summary}`).toBeGreaterThan(0);
    }
    const alerts = Number(/alerts\s+(\d+)/.exec(summary)?.[1] ?? 0);
    expect(alerts, summary).toBeGreaterThan(0);
    // Every step ran, in order.
    for (let step = 1; step <= 7; step++) expect(out).toContain(`[${step}/7]`);
    // People's lines only: no JSON log entry reached the terminal (they are in the log file it names).
    const json = out.split('\n').filter((line) => /^\s*\{.*\}\s*$/.test(line));
    expect(json, json.slice(0, 5).join('\n')).toEqual([]);
    expect(out).toMatch(/full log: .*\.stack\/logs\/demo-.*\.log/);
  }, 420_000);
});

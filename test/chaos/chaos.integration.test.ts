// `npm run chaos -- --quick` as a child process: the reference run and the run under faults (kill -9, instances
// joining and leaving, broker and registry restarts, Redis and MariaDB down, garbage into every consumed topic) give
// the same outputs. The suite runs on services of its own (free ports, a folder under .stack/chaos), so the shared
// stack and the machine's databases are never touched; a SIGTERM (timeout, failure) makes it stop what it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';

let child: ChildProcess | undefined;

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM'); // the suite stops its instances and services, then exits
    await gone;
  }
});

describe('npm run chaos -- --quick', () => {
  it('loses, duplicates and changes nothing under the scheduled faults', async () => {
    const lines: string[] = [];
    child = spawn(process.execPath, ['--import', 'tsx', 'src/dev/cli/chaos.ts', '--quick'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => lines.push(...s.split('\n')));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    const code = await new Promise<number | null>((r) => child!.once('exit', r));
    const output = lines.filter((l) => l.trim() !== '');
    const last = output[output.length - 1] ?? '';
    const scheduled = Number(/(\d+) faults over/.exec(output.join('\n'))?.[1] ?? NaN);
    const m =
      /^chaos: (\d+) faults, (\d+) lost, (\d+) duplicated, (\d+) mismatched, peak rss (\d+) MiB$/.exec(last);
    expect(m, `last line: ${last}\n${output.slice(-40).join('\n')}\n${err.slice(-2000)}`).not.toBeNull();
    const [, faults, lost, duplicated, mismatched] = m!.map(Number);
    expect({ lost, duplicated, mismatched }, output.slice(-30).join('\n')).toEqual({
      lost: 0,
      duplicated: 0,
      mismatched: 0,
    });
    expect(scheduled).toBeGreaterThanOrEqual(10);
    expect(faults).toBeGreaterThanOrEqual(scheduled);
    expect(code).toBe(0);
  }, 600_000);
});

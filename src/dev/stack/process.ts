// Small helpers for the stack manager: pid files, liveness that checks the pid is still ours, waiting with a deadline.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

export function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
  return Number.isFinite(pid) && pid > 0 ? pid : undefined;
}

export function writePid(file: string, pid: number): void {
  writeFileSync(file, `${pid}\n`);
}

export function removePid(file: string): void {
  rmSync(file, { force: true });
}

/** The process's command line, or undefined when it is gone. */
export function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

/** Alive and still the process we started (its command line contains `marker`), so a recycled pid is never signalled. */
export function isOurProcess(pid: number | undefined, marker: string): pid is number {
  if (pid === undefined) return false;
  const cmd = cmdline(pid);
  if (cmd === undefined || !cmd.includes(marker)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat); // zombies are gone for our purposes
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true or the deadline passes; `describe` says what was awaited. */
export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 500,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await sleep(intervalMs);
  }
  return false;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopProcess(
  pid: number,
  marker: string,
  graceMs = 20_000,
): Promise<'stopped' | 'killed'> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'stopped';
  }
  if (await waitFor(async () => !isOurProcess(pid, marker), graceMs, 200)) return 'stopped';
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  await waitFor(async () => !isOurProcess(pid, marker), 5_000, 100);
  return 'killed';
}

/**
 * Stops the process `pidFile` names if it is ours (its command line holds `marker`), logs `<name>: stopped|killed
 * (pid N)` and clears the pid file; false when there was nothing of ours to stop.
 */
export async function stopPidFile(
  name: string,
  pidFile: string,
  marker: string,
  graceMs: number,
  log: (line: string) => void,
): Promise<boolean> {
  const pid = readPid(pidFile);
  if (!isOurProcess(pid, marker)) {
    removePid(pidFile);
    return false;
  }
  const how = await stopProcess(pid, marker, graceMs);
  removePid(pidFile);
  log(`${name}: ${how} (pid ${pid})`);
  return true;
}

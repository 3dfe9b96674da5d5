// up / down / status / logs over the stack's services; `up` reports which services this call started.
import { existsSync, readFileSync } from 'node:fs';
import type { Config } from '../../../config/schema.ts';
import { stackServices, type ServiceState, type StackService } from './services.ts';

export interface UpResult {
  readonly started: string[];
}

/** Brings every service up; the JVM services start side by side. Idempotent: a second call starts nothing. */
export async function stackUp(
  config: Config,
  log: (line: string) => void,
  services: StackService[] = stackServices(config),
): Promise<UpResult> {
  const jvm = services.filter((s) => s.logFile !== undefined);
  const rest = services.filter((s) => s.logFile === undefined);
  const results = await Promise.allSettled(jvm.map((s) => s.up(log)));
  const started = jvm
    .filter(
      (_, i) =>
        (results[i] as PromiseSettledResult<boolean>).status === 'fulfilled' &&
        (results[i] as PromiseFulfilledResult<boolean>).value,
    )
    .map((s) => s.name);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  for (const s of rest) if (await s.up(log)) started.push(s.name);
  return { started };
}

/** Stops what we started (all of it, or only `names`); external services are left alone. */
export async function stackDown(
  config: Config,
  log: (line: string) => void,
  names?: readonly string[],
  services: StackService[] = stackServices(config),
): Promise<string[]> {
  const stopped: string[] = [];
  for (const s of services) {
    if (names && !names.includes(s.name)) continue;
    if (await s.down(log)) stopped.push(s.name);
  }
  return stopped;
}

export function describeState(s: ServiceState): string {
  switch (s.kind) {
    case 'ours':
      return `running (pid ${s.pid}, started by tagstream)${s.reachable ? '' : ', NOT answering yet'}`;
    case 'external':
      return `${s.reachable ? 'reachable' : 'NOT reachable'} at ${s.address} (not managed by tagstream)`;
    case 'down':
      return 'stopped';
  }
}

export async function stackStatus(
  config: Config,
  services: StackService[] = stackServices(config),
): Promise<Array<{ name: string; state: ServiceState }>> {
  return Promise.all(services.map(async (s) => ({ name: s.name, state: await s.state() })));
}

export function tailLines(file: string, lines: number): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  const all = readFileSync(file, 'utf8').split('\n');
  return all.slice(Math.max(0, all.length - lines - 1)).join('\n');
}

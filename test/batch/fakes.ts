// Fakes for the collector unit tests: a timer driven by a FakeClock, an in-memory publisher and feature store that
// record what they were given, and a logger that keeps its lines.
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { CollectorDeps, CollectorProviders } from '../../src/batch/collectors.ts';
import type { Provider } from '../../src/batch/provider.ts';
import type { ExternalKind, ExternalPublisher, KeyedRecord } from '../../src/batch/publisher.ts';
import type { Timer } from '../../src/batch/schedule.ts';
import type { Logger } from '../../src/log.ts';
import { FakeClock } from '../../src/runtime/clock.ts';
import type { FeatureVector } from '../../src/schemas/types.ts';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [k: string]: unknown;
}

/** A pino logger whose lines land in `lines` (parsed). */
export function captureLog(): { log: Logger; lines: LogLine[]; messages: (minLevel?: number) => string[] } {
  const lines: LogLine[] = [];
  const log = pino(
    { level: 'debug' },
    {
      write(s: string) {
        lines.push(JSON.parse(s) as LogLine);
      },
    },
  );
  return {
    log,
    lines,
    messages: (minLevel = 0) => lines.filter((l) => l.level >= minLevel).map((l) => l.msg),
  };
}

/** Timers on a FakeClock: `advance` moves the clock, firing due callbacks in time order and letting promises settle. */
export class FakeTimer implements Timer {
  private tasks: Array<{ id: number; at: number; fn: () => void }> = [];
  private nextId = 1;
  /** Every delay ever requested, to check no single timer is too long. */
  readonly delays: number[] = [];

  constructor(readonly clock: FakeClock) {}

  set(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.delays.push(ms);
    this.tasks.push({ id, at: this.clock.now() + ms, fn });
    return id;
  }

  clear(handle: unknown): void {
    this.tasks = this.tasks.filter((t) => t.id !== handle);
  }

  get pending(): number {
    return this.tasks.length;
  }

  async advance(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    for (;;) {
      await flush();
      const due = this.tasks.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.tasks = this.tasks.filter((t) => t !== due);
      this.clock.set(Math.max(this.clock.now(), due.at));
      due.fn();
    }
    this.clock.set(end);
    await flush();
  }
}

/** Lets pending promise callbacks run (several turns, for chains of awaits). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

export class MemoryPublisher implements ExternalPublisher {
  readonly sent: Array<{ kind: ExternalKind; key: string; value: unknown }> = [];
  fail: Error | null = null;

  async publish<K extends ExternalKind>(kind: K, records: readonly KeyedRecord<unknown>[]): Promise<void> {
    if (this.fail) throw this.fail;
    for (const r of records) this.sent.push({ kind, key: r.key, value: r.value });
  }

  async close(): Promise<void> {}
}

/** Upserts on (entity, feature, window, timestamp), like the real store. */
export class MemoryStore {
  readonly rows = new Map<string, FeatureVector>();
  writes = 0;

  async write(features: readonly FeatureVector[]): Promise<void> {
    this.writes++;
    for (const f of features)
      this.rows.set(`${f.entity_id}|${f.feature_name}|${f.window ?? ''}|${f.timestamp}`, f);
  }

  value(entity: string, name: string, timestamp: number, window: string | null = null): number | undefined {
    return this.rows.get(`${entity}|${name}|${window ?? ''}|${timestamp}`)?.feature_value;
  }
}

export function staticProvider<T>(name: string, rows: readonly T[]): Provider<T> {
  return { name, fetch: async () => [...rows] };
}

export function failingProvider<T>(name: string, error: Error): Provider<T> {
  return {
    name,
    fetch: async () => {
      throw error;
    },
  };
}

export function fakeDeps(
  providers: Partial<CollectorProviders>,
  options: { lastGood?: number | null; storeIds?: string[]; now?: number } = {},
): CollectorDeps & { publisher: MemoryPublisher; store: MemoryStore; logs: ReturnType<typeof captureLog> } {
  const logs = captureLog();
  const empty = staticProvider<never>('empty', []);
  return {
    providers: {
      weather: providers.weather ?? empty,
      economic: providers.economic ?? empty,
      calendar: providers.calendar ?? empty,
      historical: providers.historical ?? empty,
    },
    publisher: new MemoryPublisher(),
    store: new MemoryStore(),
    lastGood: async () => options.lastGood ?? null,
    storeIds: options.storeIds ?? ['S1', 'S2', 'S3'],
    clock: new FakeClock(options.now ?? Date.UTC(2026, 5, 1, 6)),
    log: logs.log,
    logs,
  };
}

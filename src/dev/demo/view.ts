// The demo's terminal output: a progress bar for long steps and the live view (events/s, lag, predictions per service,
// latest alerts). On a TTY both redraw in place; otherwise (a log file, a test) they print a line every few seconds.
import type { KafkaAdmin } from '../../io/kafka/client.ts';
import { SERVICES } from '../../../pipelines/serving.ts';
import type { Registry } from 'prom-client';
import type { PredictionCache } from '../../serving/prediction-cache.ts';

export type Say = (line: string) => void;

/** Records a consumer group has still to read: end minus committed offset, summed over partitions. */

export async function groupLag(
  admin: KafkaAdmin,
  g: { group: string; topics: readonly string[]; internal: readonly string[] },
): Promise<number> {
  const all = [...g.topics, ...g.internal];
  if (all.length === 0) return 0;
  const committed = await admin.groupOffsets(g.group, all);
  let lag = 0;
  for (const topic of all) {
    const ends = await admin.topicOffsets(topic).catch(() => []);
    for (const e of ends) {
      const c = committed.find((x) => x.topic === topic)?.partitions.find((p) => p.partition === e.partition);
      const from = c && Number(c.offset) >= 0 ? Number(c.offset) : Number(e.low);
      // Topics written in transactions end in commit markers; the runner commits past them once a partition is
      // quiet (KafkaRunner markersToCommit), so a caught-up group's lag is exactly 0.
      lag += Math.max(0, Number(e.high) - from);
    }
  }
  return lag;
}

/** A one-line progress bar. */
export class Bar {
  private lastPrint = 0;
  constructor(
    private readonly label: string,
    private readonly say: Say,
    private readonly tty: boolean,
  ) {}

  update(done: number, total: number, extra: string): void {
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const width = 30;
    const filled = Math.round(ratio * width);
    const line = `  ${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}%  ${extra}`;
    if (this.tty) process.stdout.write(`\r${line}\x1b[K`);
    else if (Date.now() - this.lastPrint >= 5_000) {
      this.say(line);
      this.lastPrint = Date.now();
    }
  }

  done(): void {
    if (this.tty) process.stdout.write('\n');
    else this.say(`  ${this.label}: done`);
  }
}

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
}

async function metricValues(p: { readonly metrics: Registry }, name: string): Promise<MetricValue[]> {
  const m = p.metrics.getSingleMetric(name);
  return m ? ((await m.get()).values as MetricValue[]) : [];
}

/** The live view over the prediction cache (what the API serves) and the pipeline's metrics. */
export class LiveView {
  private timer: NodeJS.Timeout | undefined;
  private lastCommitted: number | undefined;
  private lastAt = performance.now();
  private lines = 0;
  private lastPrint = 0;

  constructor(
    private readonly admin: KafkaAdmin,
    private readonly pipeline: { readonly metrics: Registry },
    private readonly cache: PredictionCache,
    private readonly group: { group: string; topics: string[]; internal: string[] },
    private readonly say: Say,
    private readonly tty: boolean,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.render(false).catch(() => undefined), 1_000);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async latestAlerts(n: number): Promise<string[]> {
    return (await this.cache.recentAlerts({ limit: n })).map(
      (a) =>
        `${new Date(a.event_time).toISOString().slice(5, 16).replace('T', ' ')} ${a.severity.padEnd(8)} ${a.rule.padEnd(18)} ${a.message}`,
    );
  }

  /** Predictions per service and alerts in the prediction cache (committed outputs only). */
  async counts(): Promise<{ predictions: Record<string, number>; alerts: number }> {
    const c = await this.cache.counts();
    return { predictions: { ...c.predictions }, alerts: c.alerts.total };
  }

  async render(force: boolean): Promise<void> {
    const committed = (await metricValues(this.pipeline, 'tagstream_records_committed_total'))
      .filter((v) => v.labels['pipeline'] === 'tagstream')
      .reduce((a, v) => a + v.value, 0);
    const now = performance.now();
    const rate =
      this.lastCommitted === undefined
        ? 0
        : ((committed - this.lastCommitted) * 1000) / Math.max(1, now - this.lastAt);
    this.lastCommitted = committed;
    this.lastAt = now;
    const lag = await groupLag(this.admin, this.group);
    const { predictions, alerts } = await this.counts();
    const block = [
      `  events/s ${rate.toFixed(0).padStart(6)}   lag ${String(lag).padStart(6)}   alerts ${alerts}`,
      `  predictions: ${SERVICES.map((s) => `${s} ${predictions[s] ?? 0}`).join('  ')}`,
      ...(await this.latestAlerts(3)).map((a) => `    ${a}`),
    ];
    if (this.tty) {
      if (this.lines > 0) process.stdout.write(`\x1b[${this.lines}A`);
      for (const l of block) process.stdout.write(`${l}\x1b[K\n`);
      this.lines = block.length;
    } else if (force || Date.now() - this.lastPrint >= 5_000) {
      for (const l of block.slice(0, 2)) this.say(l);
      this.lastPrint = Date.now();
    }
  }
}

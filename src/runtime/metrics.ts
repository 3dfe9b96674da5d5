// The metrics the runtime reports, as our own interface: the runtime never imports prom-client (see src/metrics/).
import type { StageContext } from './operator.ts';

export interface PipelineMetrics {
  recordsIn(topic: string, n: number): void;
  recordsOut(topic: string, n: number): void;
  deadLettered(source: string, stage: string, reason: string): void;
  stageFailed(stage: string, reason: string): void;
  batchCommitted(records: number, seconds: number): void;
  inFlight(n: number): void;
  pausedPartitions(n: number): void;
  // The gauges below are optional so that recording fakes in tests need not implement them.
  /**
   * Records between the group's position and the end of a source partition, after each committed chunk of a
   * batch (so it reaches 0 when the partition is caught up); null when the partition is no longer assigned here.
   */
  consumerLag?(topic: string, partition: number, records: number | null): void;
  /** Entries a state store holds on this instance (all its partitions together). */
  stateEntries?(store: string, entries: number): void;
  /**
   * A stage's event-time watermark on one partition, ms since the epoch; null when the partition's state was
   * dropped. The Prometheus side turns it into wall clock − watermark at scrape time.
   */
  watermark?(stage: string, partition: number, watermarkMs: number | null): void;
  /** A record a stage sent to its 'late' side output: the source topic, and the window it missed. */
  lateRecord?(topic: string, window: string): void;
}

export const noopMetrics: PipelineMetrics = {
  recordsIn: () => undefined,
  recordsOut: () => undefined,
  deadLettered: () => undefined,
  stageFailed: () => undefined,
  batchCommitted: () => undefined,
  inFlight: () => undefined,
  pausedPartitions: () => undefined,
  consumerLag: () => undefined,
  stateEntries: () => undefined,
  watermark: () => undefined,
  lateRecord: () => undefined,
};

/** Reports a stage's watermark (a window operator's) when the context can take it; a no-op otherwise. */
export function reportWatermark(ctx: StageContext, stage: string, watermarkMs: number): void {
  if (Number.isFinite(watermarkMs)) ctx.stageMetrics?.watermark(stage, ctx.partition, watermarkMs);
}

// The metrics the runtime reports, as our own interface: the runtime never imports prom-client (see src/metrics/).
export interface PipelineMetrics {
  recordsIn(topic: string, n: number): void;
  recordsOut(topic: string, n: number): void;
  deadLettered(source: string, stage: string, reason: string): void;
  stageFailed(stage: string, reason: string): void;
  batchCommitted(records: number, seconds: number): void;
  inFlight(n: number): void;
  pausedPartitions(n: number): void;
}

export const noopMetrics: PipelineMetrics = {
  recordsIn: () => undefined,
  recordsOut: () => undefined,
  deadLettered: () => undefined,
  stageFailed: () => undefined,
  batchCommitted: () => undefined,
  inFlight: () => undefined,
  pausedPartitions: () => undefined,
};

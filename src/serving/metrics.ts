// The metrics the serving flows report, as our own interface (the Prometheus implementation is in src/metrics/).
/** The sinks scoring waits for: the history sink (id_transactions) and the feature-store sink (online store). */
export type ServingSink = 'history' | 'feature-store';

export interface ServingMetrics {
  /** One inference call: the service, how many events it scored together, and how long it took. */
  inference(service: string, batchSize: number, seconds: number): void;
  /** One prediction published: seconds from the triggering event's time to now (event-to-prediction latency). */
  predicted(service: string, eventToPredictionSeconds: number): void;
  /** An event that got no prediction, and why (e.g. no_model, no_stock). */
  skipped(service: string, reason: string): void;
  /** The model version a service serves now (an info gauge: one series per service at 1). */
  modelVersion(service: string, version: string, algorithm: string): void;
  /** One feature-store read for serving: entities read and seconds. */
  featureRead(entities: number, seconds: number): void;
  /**
   * Feature values of an entity kind (item, class) read newer than the event scored: a feature the online store
   * keeps no versions of, or versions that did not reach back to the event (featureStore.versions).
   */
  featuresAhead(kind: string, values: number): void;
  /** Scoring waited this long for a sink, `history` or `feature-store` (src/serving/sink-progress.ts). */
  sinkWait(sink: ServingSink, seconds: number): void;
  /** Scoring stopped waiting on this many partitions: their sink made no progress. */
  sinkStale(sink: ServingSink, partitions: number): void;
  /**
   * The drift window of a service (src/serving/drift.ts): PSI per input column and `prediction` against its model's
   * training reference once the window is full (null while it fills), and the rows it holds.
   */
  drift(service: string, psi: Readonly<Record<string, number>> | null, rows: number): void;
}

export const noopServingMetrics: ServingMetrics = {
  inference: () => undefined,
  predicted: () => undefined,
  skipped: () => undefined,
  modelVersion: () => undefined,
  featureRead: () => undefined,
  featuresAhead: () => undefined,
  sinkWait: () => undefined,
  sinkStale: () => undefined,
  drift: () => undefined,
};

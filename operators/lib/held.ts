// Held updates (Kafka Streams' record cache, KIP-63): an operator holds a key's latest update until the end of the
// batch and sends it once. Alone, that makes the rows' granularity follow the batch size: a backlog read in large
// batches leaves a row per key every few hours of event time, a live stream one every few seconds, and a reader of
// the rows as of an event time (training's point-in-time frames, serving's as-of reads) sees values as stale as the
// batching was. A bucket of event time bounds that: a key's held update also goes out as soon as one of its events
// falls in another bucket than the held one, before that event changes the state (windows.heldBucketMs).

/** True when an update held at event time `heldAt` must go out before the state changes for an event at `at`. */
export const crossesBucket = (heldAt: number, at: number, bucketMs: number): boolean =>
  bucketMs > 0 && Math.floor(heldAt / bucketMs) !== Math.floor(at / bucketMs);

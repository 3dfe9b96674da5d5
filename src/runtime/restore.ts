// Restores operator state from changelog topics: reads the given partitions from the beginning to their end
// offset (read_committed, so aborted writes never come back) and hands each record to `apply`.
import { randomUUID } from 'node:crypto';
import type { KafkaAdmin, KafkaClient } from '../io/kafka/client.ts';
import { TagstreamError } from '../errors.ts';
import { withDeadline } from './deadline.ts';

export interface RestoreTarget {
  readonly topic: string;
  readonly partitions: readonly number[];
}

export async function restoreChangelogs(
  kafka: KafkaClient,
  admin: KafkaAdmin,
  targets: readonly RestoreTarget[],
  apply: (topic: string, partition: number, key: Buffer | null, value: Buffer | null) => void,
  timeoutMs: number,
): Promise<number> {
  // What "caught up" means: the end offset of each wanted partition now; our own producer has fenced any
  // transaction of a previous incarnation, so nothing below it is still open.
  const pending = new Map<string, bigint>();
  for (const t of targets) {
    const offsets = await admin.topicOffsets(t.topic);
    for (const p of t.partitions) {
      const o = offsets.find((x) => x.partition === p);
      if (o && BigInt(o.high) > BigInt(o.low)) pending.set(`${t.topic}:${p}`, BigInt(o.high));
    }
  }
  if (pending.size === 0) return 0;
  const wanted = new Set(pending.keys());
  let applied = 0;
  const consumer = kafka.consumer({ groupId: `tagstream-restore-${randomUUID()}`, readCommitted: true });
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const progress = (topic: string, partition: number, lastOffset: string): void => {
    const k = `${topic}:${partition}`;
    const end = pending.get(k);
    if (end !== undefined && BigInt(lastOffset) + 1n >= end) pending.delete(k);
    if (pending.size === 0) done();
  };
  // Batches of only transaction markers reach no handler, but still report their last offset here.
  consumer.onFetchEnd((e) => progress(e.topic, e.partition, e.lastOffset));
  try {
    await consumer.connect();
    await consumer.subscribe(
      targets.map((t) => t.topic),
      { fromBeginning: true },
    );
    await consumer.run({
      eachBatch: async (batch) => {
        if (!wanted.has(`${batch.topic}:${batch.partition}`)) return;
        for (const m of batch.records) {
          apply(batch.topic, batch.partition, m.key, m.value);
          applied++;
        }
      },
    });
    await withDeadline(
      finished,
      timeoutMs,
      () =>
        new TagstreamError(
          'KAFKA_ERROR',
          `state restore did not reach the end of ${[...pending.keys()].join(', ')} within ${timeoutMs} ms`,
          { retryable: true },
        ),
    );
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  return applied;
}

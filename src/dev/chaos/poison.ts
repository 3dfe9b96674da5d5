// The garbage fault: into every partition of every topic the job consumes, a record of garbage bytes, one with a
// schema id the registry does not have, one with a value over pipeline.maxRecordBytes and one with a key over
// pipeline.maxKeyBytes (as test/app/poison.integration.test.ts does in process). Each group that reads the topic must
// dead-letter each once and go on. Their keys start with POISON_PREFIX, so the comparison leaves them out.
import { randomBytes } from 'node:crypto';
import type { KafkaAdmin, KafkaProducer } from '../../io/kafka/client.ts';
import { encodeWire } from '../../io/registry/wire.ts';

export const POISON_PREFIX = 'chaos-poison-';

export const isPoisonKey = (key: Buffer | null | undefined): boolean =>
  key !== null &&
  key !== undefined &&
  key.subarray(0, POISON_PREFIX.length).toString('latin1') === POISON_PREFIX;

const BAD: { kind: string; key: (topic: string, p: number) => string; value: () => Buffer }[] = [
  { kind: 'garbage', key: (t, p) => `${POISON_PREFIX}${t}-${p}-garbage`, value: () => randomBytes(40) },
  {
    kind: 'unknown schema id',
    key: (t, p) => `${POISON_PREFIX}${t}-${p}-unknown`,
    value: () => encodeWire(987_654_321, Buffer.from([2, 65, 66])),
  },
  {
    kind: 'oversized value',
    key: (t, p) => `${POISON_PREFIX}${t}-${p}-large`,
    value: () => Buffer.alloc(70_000, 1),
  },
  {
    kind: 'oversized key',
    key: (t, p) => `${POISON_PREFIX}${t}-${p}-`.padEnd(300, 'k'),
    value: () => Buffer.from('x'),
  },
];

/**
 * Writes the bad records into those of `topics` that exist (an instance creates its topics as it starts, and the
 * fault may come while none has got that far: a topic not there yet gets nothing); returns how many went into each.
 */
export async function injectPoison(
  admin: KafkaAdmin,
  producer: KafkaProducer,
  topics: readonly string[],
): Promise<Map<string, number>> {
  const written = new Map<string, number>();
  const existing = new Set(await admin.listTopics());
  const present = topics.filter((t) => existing.has(t));
  const counts = await admin.partitionCounts(present);
  for (const topic of present) {
    const records = [];
    for (let p = 0; p < (counts.get(topic) ?? 0); p++)
      for (const b of BAD) records.push({ topic, partition: p, key: b.key(topic, p), value: b.value() });
    await producer.send(records);
    written.set(topic, records.length);
  }
  return written;
}

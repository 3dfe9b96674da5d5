// Sends simulated events to Kafka as the readers and the POS would: in arrival order, record timestamp = arrival time,
// Avro in the Confluent wire format (garbled reads as raw bytes), batched through an idempotent producer, paced to
// `max`, `realtime`, N times real time, or an even number of events per second. Pure parts (speed parsing, event ->
// message, the paced loop) are apart from the thin Kafka sink so they can be unit tested.
import type { Config } from '../../../config/schema.ts';
import { createKafka, ensureTopics, mapKafkaError } from '../../io/kafka/client.ts';
import type { KafkaProducer } from '../../io/kafka/types.ts';
import { AvroSerde, confluentRegistry } from '../../io/registry/registry.ts';
import type { Logger } from '../../log.ts';
import { loadSchema } from '../../schemas/catalog.ts';
import type { PosTransaction, RfidScan } from '../../schemas/types.ts';
import type { StreamEvent } from './model.ts';

/**
 * `max`: as fast as the broker takes it; `factor`: simulated arrival time runs `factor` times faster than wall time
 * (the simulated day's shape kept: opening hours busier than the night); `rate`: `perSecond` events every second,
 * evenly spaced whatever their arrival times (a load test at a known pace).
 */
export type Speed =
  | { readonly kind: 'max' }
  | { readonly kind: 'factor'; readonly factor: number }
  | { readonly kind: 'rate'; readonly perSecond: number };

/** Parses `max`, `realtime` (= 1), a positive factor such as `60`, or an even rate such as `500/s`. */
export function parseSpeed(text: string): Speed {
  const t = text.trim().toLowerCase();
  if (t === 'max') return { kind: 'max' };
  if (t === 'realtime') return { kind: 'factor', factor: 1 };
  const rate = t.endsWith('/s');
  const n = Number(rate ? t.slice(0, -2) : t);
  if (t === '' || t === '/s' || !Number.isFinite(n) || n <= 0)
    throw new RangeError(
      `speed ${JSON.stringify(text)}: expected max, realtime, a positive factor (60) or events per second (500/s)`,
    );
  return rate ? { kind: 'rate', perSecond: n } : { kind: 'factor', factor: n };
}

/** A speed for a summary line: `max`, `60x` (a factor), `500/s` (a rate). */
export function formatSpeed(speed: Speed): string {
  if (speed.kind === 'max') return 'max';
  return speed.kind === 'rate' ? `${speed.perSecond}/s` : `${speed.factor}x`;
}

export interface KafkaMessage {
  readonly topic: string;
  readonly key: string | null;
  readonly value: Buffer;
  /** Record timestamp, ms. */
  readonly timestamp: number;
}

export interface Encoders {
  scan(value: RfidScan): Buffer;
  transaction(value: PosTransaction): Buffer;
}

export interface Topics {
  readonly scans: string;
  readonly transactions: string;
}

/**
 * The Kafka record for an event. Its timestamp is the arrival time, capped at `now`: a broker rejects timestamps
 * too far in the future (message.timestamp.after.max.ms, 1 h by default since Kafka 4.0), and a late record of the
 * last simulated hours may "arrive" after the moment it is sent.
 */
export function toMessage(ev: StreamEvent, topics: Topics, enc: Encoders, now: number): KafkaMessage {
  const timestamp = Math.min(ev.arrival, now);
  if (ev.kind === 'transaction')
    return { topic: topics.transactions, key: ev.key, value: enc.transaction(ev.tx), timestamp };
  return { topic: topics.scans, key: ev.key, value: ev.raw ?? enc.scan(ev.scan), timestamp };
}

/** Where batches go; the Kafka one is below, tests use an array. */
export interface MessageSink {
  send(batch: readonly KafkaMessage[]): Promise<void>;
}

export interface Progress {
  /** Arrival time of the last event sent. */
  readonly simTime: number;
  readonly sent: number;
  readonly elapsedMs: number;
  /** Events per second since the previous report. */
  readonly recentPerSecond: number;
}

export interface ProduceOptions {
  readonly speed: Speed;
  /** Records per batch (default 5000). */
  readonly batchSize?: number;
  /**
   * Paced speeds: how long the first record of a batch may wait for more before the batch goes (default 0: each record
   * goes when the next is not yet due), as the Java producer's linger.ms.
   */
  readonly lingerMs?: number;
  /** How often onProgress is called (default 5000 ms). */
  readonly progressEveryMs?: number;
  readonly onProgress?: (p: Progress) => void;
  /** Stops after the batch in hand when aborted (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** Wall clock and sleep; injected by tests. */
  readonly clock?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface ProduceStats {
  sent: number;
  scans: number;
  transactions: number;
  /** Malformed scans among `scans` (garbage bytes included). */
  malformed: number;
  batches: number;
  /** Records whose arrival time lay in the future when sent (timestamp capped at now). */
  cappedTimestamps: number;
  elapsedMs: number;
  perSecond: number;
  interrupted: boolean;
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends events (already in arrival order) through `sink` in batches, keeping at most one batch in flight so the
 * next one is generated while the broker works, and pacing by arrival time unless the speed is `max`.
 */
export async function produce(
  events: Iterable<StreamEvent>,
  sink: MessageSink,
  encode: (ev: StreamEvent, now: number) => KafkaMessage,
  options: ProduceOptions,
): Promise<ProduceStats> {
  const clock = options.clock ?? Date.now;
  const sleep = options.sleep ?? realSleep;
  const batchSize = options.batchSize ?? 5000;
  const lingerMs = options.lingerMs ?? 0;
  const progressEvery = options.progressEveryMs ?? 5000;
  const { speed } = options;
  const stats: ProduceStats = {
    sent: 0,
    scans: 0,
    transactions: 0,
    malformed: 0,
    batches: 0,
    cappedTimestamps: 0,
    elapsedMs: 0,
    perSecond: 0,
    interrupted: false,
  };
  const wallStart = clock();
  let simStart: number | null = null;
  let lastArrival = 0;
  let lastReportAt = wallStart;
  let lastReportSent = 0;
  let batch: KafkaMessage[] = [];
  /** When the batch in hand got its first record. */
  let batchOpenedAt = 0;
  let inFlight: Promise<void> = Promise.resolve();
  let pendingCount = 0;

  const flush = async (): Promise<void> => {
    await inFlight;
    stats.sent += pendingCount;
    pendingCount = 0;
    if (batch.length === 0) return;
    const out = batch;
    batch = [];
    pendingCount = out.length;
    stats.batches++;
    inFlight = sink.send(out);
    // A rejection surfaces at the next await of inFlight; mark it handled meanwhile.
    inFlight.catch(() => undefined);
  };

  const report = (now: number): void => {
    if (!options.onProgress || now - lastReportAt < progressEvery) return;
    const sent = stats.sent + pendingCount;
    options.onProgress({
      simTime: lastArrival,
      sent,
      elapsedMs: now - wallStart,
      recentPerSecond: ((sent - lastReportSent) * 1000) / Math.max(1, now - lastReportAt),
    });
    lastReportAt = now;
    lastReportSent = sent;
  };

  for (const ev of events) {
    if (options.signal?.aborted) {
      stats.interrupted = true;
      break;
    }
    if (speed.kind !== 'max') {
      simStart ??= ev.arrival;
      const due =
        wallStart +
        (speed.kind === 'rate'
          ? ((stats.sent + pendingCount + batch.length) * 1000) / speed.perSecond
          : (ev.arrival - simStart) / speed.factor);
      // Until the record is due: the batch in hand goes once it has lingered long enough.
      for (let wait = due - clock(); wait > 0 && !options.signal?.aborted; wait = due - clock()) {
        const goesAt = batch.length > 0 ? batchOpenedAt + lingerMs : Infinity;
        if (clock() >= goesAt) {
          await flush();
          continue;
        }
        await sleep(Math.min(wait, goesAt - clock(), 1000));
        report(clock());
      }
    }
    const now = clock();
    const msg = encode(ev, now);
    if (msg.timestamp < ev.arrival) stats.cappedTimestamps++;
    if (batch.length === 0) batchOpenedAt = now;
    batch.push(msg);
    lastArrival = ev.arrival;
    if (ev.kind === 'transaction') stats.transactions++;
    else {
      stats.scans++;
      if (ev.malformed) stats.malformed++;
    }
    if (batch.length >= batchSize) await flush();
    report(now);
  }
  await flush();
  await flush(); // the second awaits the last batch sent by the first
  stats.elapsedMs = clock() - wallStart;
  stats.perSecond = (stats.sent * 1000) / Math.max(1, stats.elapsedMs);
  return stats;
}

export interface KafkaSink extends MessageSink {
  readonly encoders: Encoders;
  readonly topics: Topics;
  /** retention.ms of each topic (-1: forever), to warn when old record timestamps would be deleted at once. */
  readonly retentionMs: ReadonlyMap<string, number>;
  /** Topics this sink created (with retention.ms = -1). */
  readonly created: readonly string[];
  /**
   * Replaces the producer with a new one (a new producer id, sequences from 0), as a reader does when it reconnects
   * after the broker came back. Call it with nothing in flight: what the old producer sent is acknowledged, so the
   * new one neither loses nor repeats it, and no sequence state the broker restart may have changed is carried over.
   */
  renew(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Connects an idempotent producer, creates the source topics if missing (partitions and replication from the
 * config, retention.ms = -1) and registers their value schemas.
 */
export async function openKafkaSink(config: Config, log: Logger): Promise<KafkaSink> {
  const topics: Topics = { scans: config.topics.scans, transactions: config.topics.transactions };
  const brokers = config.kafka.brokers;
  const kafka = createKafka(config, log, `${config.kafka.clientId}-simulator`);
  const admin = kafka.admin();
  const retentionMs = new Map<string, number>();
  const created: string[] = [];
  try {
    await admin.connect();
    // A topic the simulator creates keeps its records: their timestamps are back-dated arrival times, and
    // time-based retention would otherwise delete all but the last week within minutes.
    created.push(
      ...(await ensureTopics(admin, [topics.scans, topics.transactions], config, {
        config: { 'retention.ms': '-1' },
      })),
    );
    const described = await admin.topicConfigs([topics.scans, topics.transactions], ['retention.ms']);
    for (const [topic, values] of described) {
      const v = values.get('retention.ms');
      if (v !== undefined) retentionMs.set(topic, Number(v));
    }
  } catch (e) {
    throw mapKafkaError(e, brokers, 'preparing the simulator topics');
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
  const scan = await serde.encoderFor<RfidScan>(topics.scans, loadSchema('rfidScan'));
  const transaction = await serde.encoderFor<PosTransaction>(
    topics.transactions,
    loadSchema('posTransaction'),
  );
  // As the pipeline's runner does: an idempotent producer retries while the broker is away; the CLI stops on a
  // second Ctrl-C.
  const connect = async (): Promise<KafkaProducer> => {
    const p = kafka.producer({ idempotent: true, retries: Infinity });
    try {
      await p.connect();
    } catch (e) {
      throw mapKafkaError(e, brokers, 'connecting the simulator producer');
    }
    return p;
  };
  let producer = await connect();
  return {
    encoders: { scan, transaction },
    topics,
    retentionMs,
    created,
    async send(batch) {
      try {
        await producer.send(batch);
      } catch (e) {
        throw mapKafkaError(e, brokers, 'sending simulated events');
      }
    },
    async renew() {
      await producer.disconnect().catch(() => undefined);
      producer = await connect();
    },
    close: () => producer.disconnect(),
  };
}

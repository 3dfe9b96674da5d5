// The producer's pure parts: speed parsing, event -> Kafka message, batching and pacing (on a fake clock).
import { describe, expect, it } from 'vitest';
import { inArrivalOrder } from '../../../src/dev/sim/arrival.ts';
import {
  simulate,
  type ScanEvent,
  type StreamEvent,
  type TransactionEvent,
} from '../../../src/dev/sim/model.ts';
import {
  parseSpeed,
  produce,
  toMessage,
  type Encoders,
  type KafkaMessage,
  type MessageSink,
} from '../../../src/dev/sim/producer.ts';

const topics = { scans: 'rfid.scans', transactions: 'pos.transactions' };
const encoders: Encoders = {
  scan: (s) => Buffer.from(`scan:${s.tag_id}`),
  transaction: (t) => Buffer.from(`tx:${t.transaction_id}`),
};
const encode = (ev: StreamEvent, now: number) => toMessage(ev, topics, encoders, now);

function sample(): StreamEvent[] {
  return [...inArrivalOrder(simulate({ stores: 1, days: 10, seed: 1, start: Date.UTC(2025, 6, 1) }).events)];
}

class ArraySink implements MessageSink {
  readonly batches: KafkaMessage[][] = [];
  async send(batch: readonly KafkaMessage[]): Promise<void> {
    this.batches.push([...batch]);
  }
}

describe('parseSpeed', () => {
  it.each([
    ['max', { kind: 'max' }],
    ['realtime', { kind: 'factor', factor: 1 }],
    ['60', { kind: 'factor', factor: 60 }],
    ['0.5', { kind: 'factor', factor: 0.5 }],
    ['500/s', { kind: 'rate', perSecond: 500 }],
  ])('%s', (text, speed) => expect(parseSpeed(text)).toEqual(speed));

  it.each(['0', '-3', 'fast', '', '/s', '0/s', 'x/s'])('rejects %j', (text) =>
    expect(() => parseSpeed(text)).toThrow(/speed/),
  );
});

describe('toMessage', () => {
  const events = sample();
  const scan = events.find((e): e is ScanEvent => e.kind === 'scan' && !e.malformed)!;
  const tx = events.find((e): e is TransactionEvent => e.kind === 'transaction')!;

  it('sends a scan to the scans topic keyed by tag, timestamped with its arrival', () => {
    expect(toMessage(scan, topics, encoders, Infinity)).toEqual({
      topic: 'rfid.scans',
      key: scan.scan.tag_id,
      value: Buffer.from(`scan:${scan.scan.tag_id}`),
      timestamp: scan.arrival,
    });
  });

  it('sends a transaction keyed by transaction id', () => {
    const m = toMessage(tx, topics, encoders, Infinity);
    expect(m).toMatchObject({ topic: 'pos.transactions', key: tx.tx.transaction_id, timestamp: tx.arrival });
  });

  it('sends garbage as its raw bytes with a null key', () => {
    const garbage: ScanEvent = { ...scan, malformed: 'garbage', raw: Buffer.from([0x7b, 1, 2]), key: null };
    expect(toMessage(garbage, topics, encoders, Infinity)).toMatchObject({ key: null, value: garbage.raw });
  });

  it('caps a timestamp that lies in the future at now', () => {
    expect(toMessage(scan, topics, encoders, scan.arrival - 5).timestamp).toBe(scan.arrival - 5);
  });
});

describe('produce', () => {
  it('at max speed sends everything in arrival order, in batches of the given size', async () => {
    const events = sample();
    const sink = new ArraySink();
    const stats = await produce(events, sink, encode, { speed: { kind: 'max' }, batchSize: 1000 });
    const sent = sink.batches.flat();
    expect(stats.sent).toBe(events.length);
    expect(sent).toHaveLength(events.length);
    expect(sink.batches.slice(0, -1).every((b) => b.length === 1000)).toBe(true);
    expect(sent.map((m) => m.timestamp)).toEqual(events.map((e) => e.arrival));
    expect(stats.scans + stats.transactions).toBe(events.length);
    expect(stats.malformed).toBe(events.filter((e) => e.kind === 'scan' && e.malformed).length);
  });

  it('paced at a factor, waits so that arrival time runs that many times faster than the clock', async () => {
    const events = sample().slice(0, 3000);
    let now = 1_000_000;
    const sleeps: number[] = [];
    const sink = new ArraySink();
    const factor = 3600;
    const stats = await produce(events, sink, encode, {
      speed: { kind: 'factor', factor },
      clock: () => now,
      sleep: async (ms) => {
        sleeps.push(ms);
        now += ms;
      },
    });
    const span = events.at(-1)!.arrival - events[0]!.arrival;
    expect(now - 1_000_000).toBeCloseTo(span / factor, -1);
    expect(Math.max(...sleeps)).toBeLessThanOrEqual(1000);
    expect(stats.sent).toBe(3000);
    // Records go out as they fall due rather than waiting for a full batch.
    expect(sink.batches.length).toBeGreaterThan(10);
  });

  it('paced at a rate, sends event i at i / rate seconds whatever the arrival times', async () => {
    const events = sample().slice(0, 3000);
    let now = 1_000_000;
    const sink = new ArraySink();
    const sentAt: number[] = [];
    const stats = await produce(
      events,
      {
        send: async (batch) => {
          for (const _ of batch) sentAt.push(now);
          await sink.send(batch);
        },
      },
      encode,
      {
        speed: { kind: 'rate', perSecond: 500 },
        clock: () => now,
        sleep: async (ms) => {
          now += ms;
        },
      },
    );
    expect(stats.sent).toBe(3000);
    // 3,000 events at 500/s: 6 s less the last interval, however the simulated arrivals bunch up.
    expect(now - 1_000_000).toBe(5_998);
    // No event goes out before its slot: event i is sent at i × 2 ms or later, and within one slot of it.
    sentAt.forEach((t, i) => {
      expect(t - 1_000_000).toBeGreaterThanOrEqual(i * 2);
      expect(t - 1_000_000).toBeLessThanOrEqual(i * 2 + 2);
    });
  });

  it('paced with a linger, sends a batch once its first record has waited that long, none of them early', async () => {
    const events = sample().slice(0, 3000);
    let now = 1_000_000;
    const sink = new ArraySink();
    const sent: { at: number; first: number; size: number }[] = [];
    let taken = 0;
    const stats = await produce(
      events,
      {
        send: async (batch) => {
          sent.push({ at: now, first: taken, size: batch.length });
          taken += batch.length;
          await sink.send(batch);
        },
      },
      encode,
      {
        speed: { kind: 'rate', perSecond: 500 },
        lingerMs: 10,
        clock: () => now,
        sleep: async (ms) => {
          now += ms;
        },
      },
    );
    expect(stats.sent).toBe(3000);
    expect(sink.batches.flat()).toHaveLength(3000);
    expect(now - 1_000_000).toBe(5_998);
    // 2 ms apart, a batch takes the records of 10 ms: its first record's slot plus the linger, then it goes.
    for (const b of sent.slice(0, -1)) {
      expect(b.size).toBe(6);
      expect(b.at - 1_000_000).toBe(b.first * 2 + 10);
    }
    expect(sent.length).toBe(500);
  });

  it('stops after the batch in hand when aborted', async () => {
    const events = sample();
    const abort = new AbortController();
    const sink: MessageSink = {
      send: async () => {
        abort.abort();
      },
    };
    const stats = await produce(events, sink, encode, {
      speed: { kind: 'max' },
      batchSize: 100,
      signal: abort.signal,
    });
    expect(stats.interrupted).toBe(true);
    expect(stats.sent).toBe(100);
  });

  it('surfaces a failed send', async () => {
    const sink: MessageSink = { send: () => Promise.reject(new Error('broker down')) };
    await expect(produce(sample(), sink, encode, { speed: { kind: 'max' }, batchSize: 50 })).rejects.toThrow(
      'broker down',
    );
  });
});

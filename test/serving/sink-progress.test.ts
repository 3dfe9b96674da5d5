// SinkProgress: item scoring's wait for the history sink, on a fake clock and a scripted progress table. It resolves
// once every partition's stored offset reaches the highest offset asked, reads nothing when what it last read
// already covers the batch, keeps waiting while the sink moves, and gives up on a partition whose sink stored nothing
// for stallMs (logged and counted once), without waiting on it again until the sink moves; a wait the job's stop
// interrupts throws STOPPING.
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/runtime/clock.ts';
import { createLogger } from '../../src/log.ts';
import { SinkProgress, type ReadProgress } from '../../src/serving/sink-progress.ts';

const T = 'clean.rfid.scans';

function setup(stallMs = 1_000) {
  const clock = new FakeClock(0);
  let stopping = false;
  const stored = new Map<number, bigint>();
  const reads: number[][] = [];
  const waits: number[] = [];
  const stale: number[] = [];
  const warnings: string[] = [];
  /** Run before each sleep: the sink's progress over time. */
  let onSleep: (now: number) => void = () => undefined;
  const read: ReadProgress = async (topic, partitions) => {
    expect(topic).toBe(T);
    reads.push([...partitions]);
    return new Map(partitions.filter((p) => stored.has(p)).map((p) => [p, stored.get(p)!]));
  };
  const log = createLogger('sink-progress-test', 'silent');
  log.warn = ((_obj: unknown, msg: string) => void warnings.push(msg)) as typeof log.warn;
  const progress = new SinkProgress({
    read,
    stallMs,
    pollMs: 10,
    sink: 'the history sink',
    log,
    onWait: (s) => waits.push(s),
    onStale: (n) => stale.push(n),
    stopping: () => stopping,
    now: () => clock.now(),
    sleep: async (ms) => {
      clock.advance(ms);
      onSleep(clock.now());
    },
  });
  return {
    progress,
    clock,
    stored,
    reads,
    waits,
    stale,
    warnings,
    script: (f: (now: number) => void) => (onSleep = f),
    stop: () => (stopping = true),
  };
}

const at = (partition: number, offset: number) => ({ topic: T, partition, offset: String(offset) });

describe('SinkProgress', () => {
  it('resolves once each partition has stored the highest offset asked of it', async () => {
    const s = setup();
    s.stored.set(0, 4n);
    s.stored.set(1, 0n);
    s.script((now) => {
      if (now >= 30) s.stored.set(0, 9n);
      if (now >= 50) s.stored.set(1, 3n);
    });
    await s.progress.awaitStored([at(0, 2), at(0, 9), at(1, 3)]);
    expect(s.clock.now()).toBe(50);
    expect(s.waits).toEqual([0.05]);
    expect(s.stale).toEqual([]);
    // Partition 0 was read until it caught up, then only partition 1.
    expect(s.reads[0]).toEqual([0, 1]);
    expect(s.reads.at(-1)).toEqual([1]);
  });

  it('reads nothing when the progress it last read covers the batch', async () => {
    const s = setup();
    s.stored.set(0, 100n);
    await s.progress.awaitStored([at(0, 50)]);
    expect(s.reads).toHaveLength(1);
    await s.progress.awaitStored([at(0, 80), at(0, 100)]);
    expect(s.reads).toHaveLength(1);
    expect(s.waits).toHaveLength(1);
  });

  it('keeps waiting past stallMs while the sink moves', async () => {
    const s = setup(1_000);
    s.stored.set(0, 0n);
    s.script((now) => {
      if (now % 500 === 0) s.stored.set(0, BigInt(now / 500));
    });
    await s.progress.awaitStored([at(0, 6)]);
    expect(s.clock.now()).toBe(3_000);
    expect(s.stale).toEqual([]);
  });

  it('gives up on a stalled partition once, then scores without waiting until its sink moves', async () => {
    const s = setup(1_000);
    s.stored.set(0, 10n);
    // Partition 1's sink never wrote anything.
    await s.progress.awaitStored([at(0, 10), at(1, 4)]);
    expect(s.clock.now()).toBe(1_000);
    expect(s.stale).toEqual([1]);
    expect(s.warnings).toHaveLength(1);
    expect(s.warnings[0]).toContain('[1]');

    // Stalled: the next batch of partition 1 reads once and goes on at once, without another warning.
    const reads = s.reads.length;
    await s.progress.awaitStored([at(1, 8)]);
    expect(s.clock.now()).toBe(1_000);
    expect(s.reads.length).toBe(reads + 1);
    expect(s.warnings).toHaveLength(1);

    // The sink comes back: waiting resumes.
    s.stored.set(1, 5n);
    s.script((now) => {
      if (now >= 1_200) s.stored.set(1, 12n);
    });
    await s.progress.awaitStored([at(1, 12)]);
    expect(s.clock.now()).toBe(1_200);
    expect(s.stale).toEqual([1]);
  });

  it("a wait the job's stop interrupts throws STOPPING (retryable), and one already covered still resolves", async () => {
    const s = setup(60_000);
    s.stored.set(0, 3n);
    s.script((now) => {
      if (now >= 50) s.stop();
    });
    const err = await s.progress.awaitStored([at(0, 9)]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STOPPING', retryable: true });
    expect(s.clock.now()).toBe(50); // not the 60 s stall
    expect(s.stale).toEqual([]);
    await expect(s.progress.awaitStored([at(0, 3)])).resolves.toBeUndefined();
  });
});

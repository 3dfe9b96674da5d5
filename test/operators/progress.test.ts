// Progress markers through a re-keyed topic: each input partition's event-time progress goes to every partition of
// the topic, at most once per interval and only when it moved; idleness is declared only for an input partition
// that is caught up (no lag) and has been quiet for the idle timeout.
import { describe, expect, it } from 'vitest';
import { progressMarkers } from '../../operators/progress.ts';
import type { Rec } from '../../src/runtime/operator.ts';
import { OperatorHarness } from './harness.ts';

interface Marker {
  readonly channel: string;
  readonly time: number;
  readonly idle: boolean;
  readonly offset: number;
}

const make = () =>
  progressMarkers<{ t: number }>({
    name: 'progress',
    source: 'clean.scans',
    port: 'markers',
    partitions: 3,
    time: (v) => v.t,
    marker: (channel, time, idle, offset): Marker => ({ channel, time, idle, offset }),
    intervalMs: 1_000,
    idleTimeoutMs: 30_000,
    graceMs: 600_000,
  });

const T = Date.UTC(2026, 5, 1);
const markers = (h: OperatorHarness<{ t: number }, { t: number }>) =>
  h
    .takeSide<Marker>('markers')
    .map((r: Rec<Marker> & { partition?: number }) => [
      r.partition,
      r.value.channel,
      r.value.time - T,
      r.value.idle,
    ]);

/** Wall time passes; the partition's tick runs (the stage has no stores, so the harness would not tick it). */
const wait = (h: OperatorHarness<{ t: number }, { t: number }>, ms: number) => {
  h.clock.advance(ms);
  h.tick(0);
};

describe('progress markers', () => {
  it('pass records through and send the partition progress to every partition of the topic', () => {
    const h = new OperatorHarness(make);
    expect(h.push({ key: null, value: { t: T + 5 }, timestamp: 0 }, 1)).toHaveLength(1);
    expect(markers(h)).toEqual([
      [0, 'clean.scans:1', 5, false],
      [1, 'clean.scans:1', 5, false],
      [2, 'clean.scans:1', 5, false],
    ]);
  });

  it('send at most once per interval, the highest time taken, and only when it moved', () => {
    const h = new OperatorHarness(make);
    h.push({ key: null, value: { t: T + 5 }, timestamp: 0 });
    markers(h);
    h.push({ key: null, value: { t: T + 9 }, timestamp: 0 });
    h.push({ key: null, value: { t: T + 7 }, timestamp: 0 });
    expect(markers(h)).toEqual([]);
    // A tick after the interval sends what was held back: the highest time, not the last.
    wait(h, 1_000);
    expect(markers(h).map((m) => m[2])).toEqual([9, 9, 9]);
    wait(h, 1_000);
    expect(markers(h)).toEqual([]);
  });

  it('carry the highest offset taken, and go out when only the offset moved (a record older than the progress)', () => {
    const h = new OperatorHarness(make);
    h.push({ key: null, value: { t: T + 5 }, timestamp: 0 });
    expect(h.takeSide<Marker>('markers').map((r) => r.value.offset)).toEqual([0, 0, 0]);
    h.push({ key: null, value: { t: T + 3 }, timestamp: 0 });
    wait(h, 1_000);
    expect(h.takeSide<Marker>('markers').map((r) => [r.value.time - T, r.value.offset])).toEqual([
      [5, 1],
      [5, 1],
      [5, 1],
    ]);
    wait(h, 1_000);
    expect(markers(h)).toEqual([]);
  });

  it('declare a caught-up partition idle once, after the idle timeout, with its progress', () => {
    const h = new OperatorHarness(make);
    h.setInputLag(0, 0);
    h.push({ key: null, value: { t: T + 5 }, timestamp: 0 });
    markers(h);
    wait(h, 29_000);
    expect(markers(h)).toEqual([]);
    wait(h, 1_000);
    expect(markers(h)).toEqual([
      [0, 'clean.scans:0', 5, true],
      [1, 'clean.scans:0', 5, true],
      [2, 'clean.scans:0', 5, true],
    ]);
    wait(h, 60_000);
    expect(markers(h)).toEqual([]);
    // A record ends the idleness: its progress goes out, and the partition may go idle again later.
    h.push({ key: null, value: { t: T + 6 }, timestamp: 0 });
    expect(markers(h).map((m) => [m[2], m[3]])).toEqual([
      [6, false],
      [6, false],
      [6, false],
    ]);
  });

  it('never declare idle a partition caught up on history: a stage before it is still behind', () => {
    const h = new OperatorHarness(make);
    h.setInputLag(0, 0);
    // The newest record is two days old when it comes (a backlog drains upstream of this topic).
    h.push({ key: null, value: { t: T - 2 * 86_400_000 }, timestamp: 0 });
    markers(h);
    wait(h, 10 * 60_000);
    expect(markers(h)).toEqual([]);
    // A record within the grace period of its event time: the partition is live, and may go idle.
    h.push({ key: null, value: { t: h.clock.now() - 60_000 }, timestamp: 0 });
    wait(h, 1_000);
    markers(h);
    wait(h, 30_000);
    expect(markers(h).map((m) => m[3])).toEqual([true, true, true]);
  });

  it('never declare a partition idle while records are left in it, however long it is quiet', () => {
    const h = new OperatorHarness(make);
    h.setInputLag(0, 1_000);
    h.push({ key: null, value: { t: T + 5 }, timestamp: 0 });
    markers(h);
    wait(h, 10 * 60_000);
    expect(markers(h)).toEqual([]);
    h.setInputLag(0, 0);
    wait(h, 1_000);
    expect(markers(h).map((m) => m[3])).toEqual([true, true, true]);
  });
});

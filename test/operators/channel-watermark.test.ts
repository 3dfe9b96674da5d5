// Watermarks over merged channels (a re-keyed topic): the minimum of the channels' highest event times, so the
// order in which channels interleave decides nothing. Progress markers move a channel that sent the partition
// nothing; only an idle marker from its upstream stops a channel holding the watermark back, never silence here.
import { describe, expect, it } from 'vitest';
import { count, combine, measure } from '../../operators/aggregates.ts';
import { windowAggregate, type WindowResult } from '../../operators/window-aggregate.ts';
import { MINUTE, type WindowSpec } from '../../operators/windows.ts';
import { OperatorHarness } from './harness.ts';

interface Ev {
  readonly ch: string;
  readonly t: number;
  readonly marker?: 'progress' | 'idle';
}

const T0 = Date.UTC(2026, 5, 1);
const make = (windows: WindowSpec[] = [{ name: '1m', kind: 'tumbling', sizeMs: MINUTE }]) =>
  windowAggregate<Ev>({
    name: 'w',
    windows,
    key: () => 'k',
    time: (e) => e.t,
    aggregate: combine<Ev>({ n: measure(count, () => 1) }),
    graceMs: 0,
    emit: 'final',
    idleTimeoutMs: 30_000,
    channel: (e) => e.ch,
    channels: 2,
    progress: (e) => e.marker,
  });

const finals = (out: readonly { value: WindowResult }[]) =>
  out.map((r) => [r.value.start - T0, r.value.values['n']]);
const push = (
  h: OperatorHarness<Ev, WindowResult>,
  ch: string,
  minute: number,
  marker?: 'progress' | 'idle',
) =>
  h.push({
    key: null,
    value: { ch, t: T0 + minute * MINUTE + 1, ...(marker ? { marker } : {}) },
    timestamp: 0,
  });

describe('channel watermarks', () => {
  it('waits for every channel, then follows the slowest', () => {
    const h = new OperatorHarness(make);
    // Channel a races ahead to minute 10: nothing closes while b has not been heard from.
    for (let m = 0; m <= 10; m++) expect(push(h, 'a', m)).toEqual([]);
    // b at minute 0: the watermark is min(a: 10, b: 0), still inside minute 0.
    expect(push(h, 'b', 0)).toEqual([]);
    // b at minute 3 moves the watermark to 3: minutes 0..2 close; b's minute-0 record was not late.
    expect(finals(push(h, 'b', 3))).toEqual([
      [0, 2],
      [MINUTE, 1],
      [2 * MINUTE, 1],
    ]);
    expect(h.takeSide('late')).toEqual([]);
  });

  it('gives the same finals whatever the interleaving of channels', () => {
    const a = [0, 1, 2, 5, 6, 9];
    const b = [0, 2, 3, 4, 7, 9];
    const run = (order: Array<['a' | 'b', number]>) => {
      const h = new OperatorHarness(make);
      const out = order.flatMap(([ch, m]) => finals(push(h, ch, m)));
      // Both upstreams caught up and quiet: the last windows close by the wall clock.
      out.push(...finals(push(h, 'a', 9, 'idle')), ...finals(push(h, 'b', 9, 'idle')));
      return [...out, ...finals(h.advanceWallClock(10 * MINUTE))].sort(
        (x, y) => (x[0] as number) - (y[0] as number),
      );
    };
    const aFirst = run([
      ...a.map((m) => ['a', m] as ['a', number]),
      ...b.map((m) => ['b', m] as ['b', number]),
    ]);
    const zipped = run(
      a.flatMap((m, i) => [['a', m] as ['a', number], ['b', b[i] as number] as ['b', number]]),
    );
    expect(aFirst).toEqual(zipped);
    expect(aFirst.map(([, n]) => n).reduce((s, n) => (s as number) + (n as number), 0)).toBe(12);
  });

  it('keeps waiting for a quiet channel its upstream has not declared idle: its records may be on their way', () => {
    const h = new OperatorHarness(make);
    push(h, 'a', 0);
    push(h, 'b', 0);
    h.clock.advance(10 * 60_000);
    // b has been quiet for ten minutes of wall time (a backlog drains elsewhere): a alone closes nothing.
    expect(finals(push(h, 'a', 5))).toEqual([]);
    expect(h.advanceWallClock(10 * 60_000)).toEqual([]);
    // b's record of minute 1 arrives: not late, and it moves the watermark to 1.
    expect(finals(push(h, 'b', 1))).toEqual([[0, 2]]);
    expect(h.takeSide('late')).toEqual([]);
  });

  it('moves a channel by its progress markers: no record of it need reach the partition', () => {
    const h = new OperatorHarness(make);
    push(h, 'a', 0);
    push(h, 'b', 0);
    push(h, 'a', 4);
    // b's upstream has got to minute 3 (its records went to other partitions): minutes 0..2 close here.
    expect(finals(push(h, 'b', 3, 'progress'))).toEqual([[0, 2]]);
    expect(finals(push(h, 'a', 8))).toEqual([]);
    // b's progress to minute 6 closes minute 4 (a's record); the markers entered no window (minute 3 is empty).
    expect(finals(push(h, 'b', 6, 'progress'))).toEqual([[4 * MINUTE, 1]]);
  });

  it('leaves out a channel declared idle until it sends again', () => {
    const h = new OperatorHarness(make);
    push(h, 'a', 0);
    push(h, 'b', 0);
    expect(finals(push(h, 'b', 0, 'idle'))).toEqual([]);
    // b is idle: a alone moves the watermark.
    expect(finals(push(h, 'a', 5))).toEqual([[0, 2]]);
    // b sends again at minute 5: it holds the watermark once more.
    push(h, 'b', 5);
    expect(finals(push(h, 'a', 9))).toEqual([]);
    expect(finals(push(h, 'b', 7, 'progress'))).toEqual([[5 * MINUTE, 2]]);
  });

  it('follows the wall clock only once every channel is idle', () => {
    const h = new OperatorHarness(make);
    push(h, 'a', 0);
    push(h, 'b', 0);
    push(h, 'a', 0, 'idle');
    expect(h.advanceWallClock(31_000)).toEqual([]);
    push(h, 'b', 0, 'idle');
    // Both idle and nothing for 31 s: the watermark follows the clock from minute 0 past minute 0's end.
    expect(finals(h.advanceWallClock(60_000))).toEqual([[0, 2]]);
  });

  it('keeps idleness across a restart (the clock is stored)', () => {
    const h = new OperatorHarness(make);
    push(h, 'a', 0);
    push(h, 'b', 0);
    push(h, 'b', 0, 'idle');
    h.restart();
    expect(finals(push(h, 'a', 5))).toEqual([[0, 2]]);
  });
});

describe('missing channels', () => {
  it('are waited for idleTimeoutMs after start on live data, for good on history', () => {
    const live = new OperatorHarness(make);
    // Live data (event times at the wall clock): b never sends; after the idle timeout a alone moves the watermark.
    const now = (h: OperatorHarness<Ev, WindowResult>) => (h.clock.now() - T0) / MINUTE;
    push(live, 'a', now(live));
    live.clock.advance(31_000);
    expect(finals(push(live, 'a', now(live) + 2))).toHaveLength(1);
    // History (event times days behind the wall clock): b is waited for however long it takes.
    const history = new OperatorHarness(make, { startTime: T0 + 5 * 86_400_000 });
    push(history, 'a', 0);
    history.clock.advance(10 * 60_000);
    expect(finals(push(history, 'a', 5))).toEqual([]);
    expect(finals(push(history, 'b', 3))).toEqual([[0, 1]]);
  });
});

describe('sliding windows over channels', () => {
  it('never stamp a value before a record it holds: the window stands at its newest record', () => {
    const h = new OperatorHarness(() =>
      make([{ name: '10m', kind: 'sliding', sizeMs: 10 * MINUTE, hopMs: MINUTE }]),
    );
    const slide = (ch: string, t: number) =>
      h.push({ key: null, value: { ch, t }, timestamp: 0 }).map((r) => [r.value.end - T0, r.value.count]);
    // Channel b is still missing, so the watermark has not moved: the window stands at the newest record, 10:30.
    expect(slide('a', T0 + 10 * MINUTE + 30_000)).toEqual([[10 * MINUTE + 30_000, 1]]);
    expect(slide('b', T0 + 10 * MINUTE)).toEqual([[10 * MINUTE + 30_000, 2]]);
    // 15:00 moves it on: the window [6:00, 15:00] still holds both.
    expect(slide('a', T0 + 15 * MINUTE)).toEqual([[15 * MINUTE, 3]]);
  });
});

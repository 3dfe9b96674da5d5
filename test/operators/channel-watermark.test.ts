// Watermarks over merged channels (a re-keyed topic): the minimum of the channels' highest event times, so the
// order in which channels interleave decides nothing; a channel quiet for the idle timeout stops holding it back.
import { describe, expect, it } from 'vitest';
import { count, combine, measure } from '../../operators/aggregates.ts';
import { windowAggregate, type WindowResult } from '../../operators/window-aggregate.ts';
import { MINUTE } from '../../operators/windows.ts';
import { OperatorHarness } from './harness.ts';

interface Ev {
  readonly ch: string;
  readonly t: number;
}

const T0 = Date.UTC(2026, 5, 1);
const make = () =>
  windowAggregate<Ev>({
    name: 'w',
    windows: [{ name: '1m', kind: 'tumbling', sizeMs: MINUTE }],
    key: () => 'k',
    time: (e) => e.t,
    aggregate: combine<Ev>({ n: measure(count, () => 1) }),
    graceMs: 0,
    emit: 'final',
    idleTimeoutMs: 30_000,
    channel: (e) => e.ch,
    channels: 2,
  });

const finals = (out: readonly { value: WindowResult }[]) =>
  out.map((r) => [r.value.start - T0, r.value.values['n']]);
const push = (h: OperatorHarness<Ev, WindowResult>, ch: string, minute: number) =>
  h.push({ key: null, value: { ch, t: T0 + minute * MINUTE + 1 }, timestamp: 0 });

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

  it('stops waiting for a channel that stays quiet for the idle timeout', () => {
    const h = new OperatorHarness(make);
    push(h, 'a', 0);
    push(h, 'b', 0);
    h.clock.advance(31_000);
    // b has been quiet for longer than the idle timeout: a alone moves the watermark.
    expect(finals(push(h, 'a', 5))).toEqual([[0, 2]]);
  });
});

describe('sliding windows over channels', () => {
  it('never stamp a value before a record it holds: the window stands at its newest record', () => {
    const h = new OperatorHarness(() =>
      windowAggregate<Ev>({
        name: 'w',
        windows: [{ name: '10m', kind: 'sliding', sizeMs: 10 * MINUTE, hopMs: MINUTE }],
        key: () => 'k',
        time: (e) => e.t,
        aggregate: combine<Ev>({ n: measure(count, () => 1) }),
        graceMs: 0,
        emit: 'final',
        idleTimeoutMs: 30_000,
        channel: (e) => e.ch,
        channels: 2,
      }),
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

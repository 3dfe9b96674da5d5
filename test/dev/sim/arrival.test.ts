// Arrival-order reordering: every stream event comes out once, sorted by arrival, with a buffer bounded by the
// longest delay; and the simulated arrival order really differs from event order (the pipeline must cope).
import { describe, expect, it } from 'vitest';
import { inArrivalOrder, stretches } from '../../../src/dev/sim/arrival.ts';
import { simulate, type SimEvent, type StreamEvent } from '../../../src/dev/sim/model.ts';
import { HOUR_MS } from '../../../src/dev/sim/time.ts';

const options = { stores: 2, days: 40, seed: 3, start: Date.UTC(2025, 5, 1) };

describe('inArrivalOrder', () => {
  it('yields every stream event once, in arrival order; ground truth goes to onOther', () => {
    const byEventTime = [...simulate(options).events];
    const truths: SimEvent[] = [];
    const out = [...inArrivalOrder(simulate(options).events, (ev) => truths.push(ev))];
    const stream = byEventTime.filter((e): e is StreamEvent => e.kind === 'scan' || e.kind === 'transaction');
    expect(out).toHaveLength(stream.length);
    expect(new Set(out)).toHaveProperty('size', out.length);
    expect(truths).toEqual(byEventTime.filter((e) => e.kind === 'demand-truth' || e.kind === 'damage-truth'));
    for (let i = 1; i < out.length; i++) expect(out[i]!.arrival).toBeGreaterThanOrEqual(out[i - 1]!.arrival);
    const key = (e: StreamEvent) => `${e.kind}|${e.time}|${e.arrival}|${e.key}`;
    expect(out.map(key).sort()).toEqual(stream.map(key).sort());
  });

  it('arrival order differs from event order: some records overtake others, a few by hours', () => {
    const out = [...inArrivalOrder(simulate(options).events)];
    let overtaken = 0;
    let maxTime = -Infinity;
    for (const e of out) {
      if (e.time < maxTime) overtaken++;
      maxTime = Math.max(maxTime, e.time);
    }
    expect(overtaken).toBeGreaterThan(out.length * 0.01);
    const late = out.filter((e) => e.arrival - e.time >= HOUR_MS);
    expect(late.length).toBeGreaterThan(0);
    expect(Math.max(...out.map((e) => e.arrival - e.time))).toBeLessThanOrEqual(6 * HOUR_MS);
  });

  it('keeps only a bounded window of events buffered', () => {
    let pulled = 0;
    const counted = (function* () {
      for (const ev of simulate(options).events) {
        if (ev.kind === 'scan' || ev.kind === 'transaction') pulled++;
        yield ev;
      }
    })();
    let emitted = 0;
    let maxBuffered = 0;
    for (const _ of inArrivalOrder(counted)) {
      emitted++;
      maxBuffered = Math.max(maxBuffered, pulled - emitted);
    }
    expect(emitted).toBe(pulled);
    // About six hours of events at the busiest time, far below the whole run.
    expect(maxBuffered).toBeLessThan(emitted / 20);
  });
});

describe('stretches', () => {
  it('hands out an arrival-ordered stream in consecutive stretches, losing and repeating nothing', () => {
    const sim = simulate({ stores: 1, days: 3, seed: 7, start: Date.UTC(2026, 4, 1) });
    const all = [
      ...inArrivalOrder(simulate({ stores: 1, days: 3, seed: 7, start: Date.UTC(2026, 4, 1) }).events),
    ];
    const until = stretches(inArrivalOrder(sim.events));
    const cut1 = Date.UTC(2026, 4, 2);
    const cut2 = Date.UTC(2026, 4, 3);
    const first = [...until(cut1)];
    const second = [...until(cut2)];
    const rest = [...until(Infinity)];
    expect(first.every((e) => e.arrival < cut1)).toBe(true);
    expect(second.every((e) => e.arrival >= cut1 && e.arrival < cut2)).toBe(true);
    expect(rest.every((e) => e.arrival >= cut2)).toBe(true);
    expect([...first, ...second, ...rest]).toEqual(all);
    expect(first.length * second.length * rest.length).toBeGreaterThan(0);
  });
});

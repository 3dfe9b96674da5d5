// Backpressure: room() resolves at once while there is room, waits while full, and resolves on release.
import { describe, expect, it } from 'vitest';
import { InFlightLimiter } from '../../src/runtime/in-flight.ts';

/** Lets pending promise callbacks run; no timers, no sleeping. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function tracked(p: Promise<void>): { readonly done: boolean } {
  const state = { done: false };
  void p.then(() => {
    state.done = true;
  });
  return state;
}

describe('InFlightLimiter', () => {
  it('counts added and released records and is full at max', () => {
    const l = new InFlightLimiter(3);
    expect(l.max).toBe(3);
    l.add(2);
    expect(l.inFlight).toBe(2);
    expect(l.full).toBe(false);
    l.add(1);
    expect(l.full).toBe(true);
    l.release(2);
    expect(l.inFlight).toBe(1);
    expect(l.full).toBe(false);
  });

  it('never goes below zero', () => {
    const l = new InFlightLimiter(2);
    l.add(1);
    l.release(5);
    expect(l.inFlight).toBe(0);
  });

  it('room() resolves at once while there is room', async () => {
    const l = new InFlightLimiter(2);
    l.add(1);
    const r = tracked(l.room());
    await settle();
    expect(r.done).toBe(true);
  });

  it('room() waits while full and resolves every waiter on release', async () => {
    const l = new InFlightLimiter(2);
    l.add(3);
    const a = tracked(l.room());
    const b = tracked(l.room());
    await settle();
    expect([a.done, b.done]).toEqual([false, false]);
    l.release(1); // 2 of 2: still full
    await settle();
    expect([a.done, b.done]).toEqual([false, false]);
    l.release(1);
    await settle();
    expect([a.done, b.done]).toEqual([true, true]);
    expect(l.inFlight).toBe(1);
  });

  it('a waiter released once is not resolved again, and a new wait starts fresh', async () => {
    const l = new InFlightLimiter(1);
    l.add(1);
    const first = tracked(l.room());
    l.release(1);
    await settle();
    expect(first.done).toBe(true);
    l.add(1);
    const second = tracked(l.room());
    await settle();
    expect(second.done).toBe(false);
    l.release(1);
    await settle();
    expect(second.done).toBe(true);
  });
});

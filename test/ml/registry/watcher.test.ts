// The watcher's pure parts: the newest-wins rule, and a replaced model closing only after its grace period and
// after the predictions running on it finished (fake session, manual timer: no sleeps).
import { describe, expect, it } from 'vitest';
import type { OnnxModel } from '../../../src/ml/onnx/session.ts';
import { LoadedModel, isNewer, type Timer } from '../../../src/ml/registry/watcher.ts';
import type { ModelSpec } from '../../../src/ml/model-spec.ts';
import { rejectionOf } from '../../helpers/errors.ts';

describe('isNewer (newest promotion wins)', () => {
  const v = (version: string, promotedAt: number) => ({ version, promotedAt });

  it('anything replaces nothing', () => {
    expect(isNewer(v('a', 0), undefined)).toBe(true);
  });

  it('a later promotion replaces an earlier one, whatever the version names', () => {
    expect(isNewer(v('demand-2026-b', 2_000), v('demand-2026-a', 1_000))).toBe(true);
    expect(isNewer(v('demand-2025-old', 2_000), v('demand-2026-new', 1_000))).toBe(true);
  });

  it('an older announcement arriving after a newer one does not replace it', () => {
    expect(isNewer(v('demand-2026-a', 1_000), v('demand-2026-b', 2_000))).toBe(false);
  });

  it('a rollback (older version, newer promotion) replaces the current one', () => {
    // v1 promoted at 1, v2 at 2, rollback re-promotes v1 at 3.
    expect(isNewer(v('v1', 3), v('v2', 2))).toBe(true);
    // Replaying the topic afterwards: v1@1 and v2@2 lose against v1@3.
    expect(isNewer(v('v1', 1), v('v1', 3))).toBe(false);
    expect(isNewer(v('v2', 2), v('v1', 3))).toBe(false);
  });

  it('the same version and time is the model already served (a duplicate)', () => {
    expect(isNewer(v('v1', 5), v('v1', 5))).toBe(false);
  });

  it('equal times are broken by version name, the same way on every instance', () => {
    expect(isNewer(v('b', 5), v('a', 5))).toBe(true);
    expect(isNewer(v('a', 5), v('b', 5))).toBe(false);
  });

  it('applying announcements in any order ends on the newest', () => {
    const all = [v('v1', 1), v('v2', 2), v('v1', 3), v('v3', 4), v('v2', 5)];
    const orders = [all, [...all].reverse(), [all[2]!, all[4]!, all[0]!, all[3]!, all[1]!]];
    for (const order of orders) {
      let current: { version: string; promotedAt: number } | undefined;
      for (const a of order) if (isNewer(a, current)) current = a;
      expect(current).toEqual(v('v2', 5));
    }
  });
});

/** A session whose predictions finish when the test says so. */
function fakeSession() {
  const pending: Array<() => void> = [];
  let closes = 0;
  const model: OnnxModel = {
    inputs: ['numeric'],
    outputs: ['prediction'],
    numericColumns: 1,
    categoricalColumns: 0,
    predict: (rows) =>
      new Promise((resolve) => pending.push(() => resolve(Float32Array.from(rows, (x) => x * 2)))),
    close: async () => {
      closes++;
    },
  };
  return { model, pending, closes: () => closes };
}

/** A timer the test fires by hand. */
function manualTimer() {
  const due: Array<{ fn: () => void; ms: number; cancelled: boolean }> = [];
  const timer: Timer = (fn, ms) => {
    const t = { fn, ms, cancelled: false };
    due.push(t);
    return () => (t.cancelled = true);
  };
  const fire = () => {
    for (const t of due.splice(0)) if (!t.cancelled) t.fn();
  };
  return { timer, due, fire };
}

const spec = {} as ModelSpec;
const info = {
  service: 'demand',
  version: 'v1',
  promotedAt: 1,
  algorithm: 'linear',
  sha256: '0'.repeat(64),
  featureNames: ['a'],
  spec,
  metrics: {},
  validationScore: null,
};
const flush = () => new Promise((r) => setImmediate(r));

describe('LoadedModel: closing a replaced model', () => {
  it('serves until retired, keeps serving through the grace period, then closes', async () => {
    const s = fakeSession();
    const t = manualTimer();
    const m = new LoadedModel(info, s.model, t.timer);
    const p = m.predict(Float32Array.of(1, 2), 2);
    s.pending.shift()!();
    expect([...(await p)]).toEqual([2, 4]);
    m.retire(5_000);
    expect(m.state).toBe('retired');
    expect(t.due.map((d) => d.ms)).toEqual([5_000]);
    const during = m.predict(Float32Array.of(3), 1);
    s.pending.shift()!();
    expect([...(await during)]).toEqual([6]);
    expect(s.closes()).toBe(0);
    t.fire();
    await m.whenClosed();
    expect(m.state).toBe('closed');
    expect(s.closes()).toBe(1);
  });

  it('waits for predictions still running when the grace period ends', async () => {
    const s = fakeSession();
    const t = manualTimer();
    const m = new LoadedModel(info, s.model, t.timer);
    const running = m.predict(Float32Array.of(1), 1);
    expect(m.inFlight).toBe(1);
    m.retire(100);
    t.fire();
    await flush();
    expect(m.state).toBe('retired');
    expect(s.closes()).toBe(0);
    s.pending.shift()!();
    expect([...(await running)]).toEqual([2]);
    await m.whenClosed();
    expect(m.inFlight).toBe(0);
    expect(s.closes()).toBe(1);
  });

  it('refuses predictions once closed, with a coded error saying to take current()', async () => {
    const s = fakeSession();
    const m = new LoadedModel(info, s.model, manualTimer().timer);
    m.retire(0);
    await m.whenClosed();
    const e = await rejectionOf(m.predict(Float32Array.of(1), 1));
    expect(e.code).toBe('MODEL_ERROR');
    expect(e.message).toContain('current()');
  });

  it('close() ends the grace period at once but still lets running predictions finish', async () => {
    const s = fakeSession();
    const t = manualTimer();
    const m = new LoadedModel(info, s.model, t.timer);
    m.retire(60_000);
    const running = m.predict(Float32Array.of(1), 1);
    let closed = false;
    const closing = m.close().then(() => (closed = true));
    await flush();
    expect(closed).toBe(false);
    s.pending.shift()!();
    await running;
    await closing;
    expect(s.closes()).toBe(1);
    expect(t.due[0]!.cancelled).toBe(true);
    // Closing twice releases the session once.
    await m.close();
    expect(s.closes()).toBe(1);
  });

  it('a serving model is never closed by retire() alone before its grace period', async () => {
    const s = fakeSession();
    const t = manualTimer();
    const m = new LoadedModel(info, s.model, t.timer);
    m.retire(1_000);
    m.retire(1_000); // a second retire changes nothing
    await flush();
    expect(t.due).toHaveLength(1);
    expect(s.closes()).toBe(0);
  });
});

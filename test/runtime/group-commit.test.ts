// Group commit: chunks in progress together go out in one commit, once none is still processing (and the macrotask
// that saw the last one submit is over, so that others a few promise steps behind join it); a chunk that
// arrives while a commit is under way waits for the next one; a failed commit fails every chunk in it; a turn that
// leaves (failed work) lets the others go.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GroupCommit } from '../../src/runtime/group-commit.ts';

/** The interval tests' clock: timers and performance.now() under the test's control. */
const fakeClock = () => vi.useFakeTimers({ toFake: ['setTimeout', 'setImmediate', 'performance'] });

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

function recorder(fail?: (n: number) => boolean, intervalMs?: number) {
  const commits: { records: string[]; offsets: number[] }[] = [];
  /** When each commit started (performance.now()). */
  const starts: number[] = [];
  let release: (() => void) | undefined;
  let hold = false;
  const g = new GroupCommit<string, number>(async (records, offsets) => {
    commits.push({ records, offsets });
    starts.push(performance.now());
    if (hold) await new Promise<void>((r) => (release = r));
    if (fail?.(commits.length)) throw new Error(`commit ${commits.length} failed`);
  }, intervalMs);
  return {
    g,
    commits,
    starts,
    hold: () => (hold = true),
    release: () => {
      hold = false;
      release?.();
    },
  };
}

describe('GroupCommit', () => {
  it('commits the turns in progress together, once the last one submits', async () => {
    const { g, commits } = recorder();
    const a = g.enter();
    const b = g.enter();
    const c = g.enter();
    const done = [a.submit(['a1', 'a2'], [1]), b.submit(['b1'], [2])];
    await new Promise((resolve) => setImmediate(resolve));
    expect(commits).toEqual([]); // c is still processing
    done.push(c.submit([], [3]));
    await Promise.all(done);
    expect(commits).toEqual([{ records: ['a1', 'a2', 'b1'], offsets: [1, 2, 3] }]);
  });

  it('commits a lone turn, and one that leaves lets the others go', async () => {
    const { g, commits } = recorder();
    await g.enter().submit(['x'], [1]);
    const a = g.enter();
    const b = g.enter();
    const pa = a.submit(['a'], [2]);
    b.leave();
    b.leave(); // a second leave changes nothing
    await pa;
    expect(commits).toEqual([
      { records: ['x'], offsets: [1] },
      { records: ['a'], offsets: [2] },
    ]);
    expect(() => a.submit([], [])).toThrow(/once/);
  });

  it('a turn submitted during a commit goes in the next one, after it', async () => {
    const r = recorder();
    r.hold();
    const first = r.g.enter().submit(['1'], [1]);
    await new Promise((resolve) => setImmediate(resolve)); // the commit starts after the current macrotask
    const second = r.g.enter().submit(['2'], [2]);
    const third = r.g.enter().submit(['3'], [3]);
    expect(r.commits).toHaveLength(1);
    r.release();
    await Promise.all([first, second, third]);
    expect(r.commits).toEqual([
      { records: ['1'], offsets: [1] },
      { records: ['2', '3'], offsets: [2, 3] },
    ]);
  });

  it('a failed commit fails every turn in it, and the next commit goes on', async () => {
    const { g, commits } = recorder((n) => n === 1);
    const a = g.enter();
    const b = g.enter();
    const results = await Promise.allSettled([a.submit(['a'], [1]), b.submit(['b'], [2])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await g.enter().submit(['c'], [3]);
    expect(commits.map((c) => c.records)).toEqual([['a', 'b'], ['c']]);
  });

  it('a turn entering a few promise steps after another submitted joins its commit', async () => {
    const { g, commits } = recorder();
    const first = g.enter().submit(['a'], [1]);
    await Promise.resolve();
    await Promise.resolve();
    const late = g.enter().submit(['b'], [2]);
    await Promise.all([first, late]);
    expect(commits).toEqual([{ records: ['a', 'b'], offsets: [1, 2] }]);
  });

  it('with an interval, turns submitted within it after a commit share the next one, which starts no sooner', async () => {
    fakeClock();
    const { g, commits, starts } = recorder(undefined, 60);
    const a = g.enter().submit(['a'], [1]);
    await vi.advanceTimersByTimeAsync(0);
    await a;
    const b = g.enter().submit(['b'], [2]);
    await vi.advanceTimersByTimeAsync(20);
    expect(commits).toHaveLength(1); // b waits for the interval
    const c = g.enter().submit(['c'], [3]);
    await vi.advanceTimersByTimeAsync(39);
    expect(commits).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await Promise.all([b, c]);
    expect(commits).toEqual([
      { records: ['a'], offsets: [1] },
      { records: ['b', 'c'], offsets: [2, 3] },
    ]);
    const [first, second] = starts as [number, number];
    expect(second - first).toBe(60);
  });

  it('with an interval, a timer that fires early waits the rest before committing', async () => {
    // Node counts a timer's delay from the event loop's cached time, which can lag performance.now(): the timer
    // then fires a little before the interval has passed by performance.now(). Modelled by a clock that reads 1 ms
    // behind the timers' own.
    fakeClock();
    const fakeNow = performance.now.bind(performance);
    let behind = 0;
    vi.spyOn(performance, 'now').mockImplementation(() => fakeNow() - behind);
    const { g, commits, starts } = recorder(undefined, 60);
    await Promise.all([g.enter().submit(['a'], [1]), vi.advanceTimersByTimeAsync(0)]);
    const b = g.enter().submit(['b'], [2]);
    behind = 1;
    await vi.advanceTimersByTimeAsync(60);
    expect(commits).toHaveLength(1); // the timer fired at 59 ms by performance.now()
    await vi.advanceTimersByTimeAsync(1);
    await b;
    expect(commits).toHaveLength(2);
    const [first, second] = starts as [number, number];
    expect(second - first).toBeGreaterThanOrEqual(60);
  });
});

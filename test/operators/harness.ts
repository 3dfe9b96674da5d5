// Runs one Operator directly, without Avro or a topology: per-partition stores, a fake wall clock, side outputs by
// port, and a restart that rebuilds the stores only from the changelog taken so far (as the runtime restores them).
import { FakeClock } from '../../src/runtime/clock.ts';
import type { Operator, OperatorContext, Rec, StageContext } from '../../src/runtime/operator.ts';
import { PartitionStores, decodeState, encodeState, type MapStore } from '../../src/runtime/state.ts';

export interface HarnessOptions {
  /** Wall-clock start (ms). */
  readonly startTime?: number;
  /** Take the changelog after every push and tick (the default), or only when `commit()` is called. */
  readonly autoCommit?: boolean;
  /** Keep the encoded changelog for `restart()` (the default); a benchmark only needs its size. */
  readonly keepChangelog?: boolean;
  readonly sourceTopic?: string;
}

export interface ChangelogEntry {
  readonly partition: number;
  readonly store: string;
  readonly key: string;
  /** JSON as the runtime writes it; null is a tombstone. */
  readonly value: Buffer | null;
}

export class OperatorHarness<In, Out> {
  readonly clock: FakeClock;
  private op: Operator<In, Out>;
  private stores: PartitionStores;
  private readonly changelog: ChangelogEntry[] = [];
  private readonly sides = new Map<string, Rec<unknown>[]>();
  private readonly offsets = new Map<number, number>();
  /** Records left in each input partition, as a runner would tell the stages (StageContext.inputLag). */
  private readonly lags = new Map<number, number>();
  private readonly autoCommit: boolean;
  private readonly keepChangelog: boolean;
  private readonly topic: string;
  /** Changelog records and bytes written so far (kept or not). */
  changelogRecords = 0;
  changelogBytes = 0;
  restarts = 0;

  constructor(
    private readonly factory: () => Operator<In, Out>,
    opts: HarnessOptions = {},
  ) {
    this.clock = new FakeClock(opts.startTime ?? Date.UTC(2026, 5, 1));
    this.autoCommit = opts.autoCommit ?? true;
    this.keepChangelog = opts.keepChangelog ?? true;
    this.topic = opts.sourceTopic ?? 'test.input';
    this.op = factory();
    this.stores = new PartitionStores(this.op.stores ?? []);
  }

  get operator(): Operator<In, Out> {
    return this.op;
  }

  /** One context per partition, made once (a benchmark pushes millions of records through it). */
  private readonly contexts = new Map<number, StageContext>();

  private context(partition: number): StageContext {
    let ctx = this.contexts.get(partition);
    if (!ctx) {
      const lags = this.lags;
      ctx = {
        clock: this.clock,
        partition,
        get inputLag() {
          return lags.get(partition);
        },
        // this.stores is read at each call: a restart replaces it.
        store: <S>(name: string) => this.stores.store<S>(partition, name),
        // A record addressed to a partition carries it (`partition`), for takeSide.
        emitSide: (port, rec, to) => {
          const r = to === undefined ? rec : { ...rec, partition: to };
          const recs = this.sides.get(port);
          if (recs) recs.push(r);
          else this.sides.set(port, [r]);
        },
      };
      this.contexts.set(partition, ctx);
    }
    return ctx;
  }

  /**
   * Processes one record on a partition and returns what the operator emitted (side outputs: `takeSide`). With
   * autoCommit the record is a batch of its own, so what the operator holds back until a batch ends (onFlush)
   * comes out with it; without, it comes out at the next tick or `flush()`.
   */
  push(rec: Rec<In>, partition = 0): readonly Rec<Out>[] {
    const offset = this.offsets.get(partition) ?? 0;
    this.offsets.set(partition, offset + 1);
    const c = this.context(partition);
    const { clock, store, emitSide } = c;
    const ctx: OperatorContext = {
      clock,
      partition,
      store,
      emitSide,
      ...(c.inputLag === undefined ? {} : { inputLag: c.inputLag }),
      source: { topic: this.topic, partition, offset: String(offset) },
    };
    const out = this.op.process(rec, ctx);
    if (!this.autoCommit) return out;
    const flushed = this.flush(partition);
    this.commit(partition);
    return [...out, ...flushed];
  }

  /** The end of a batch on one partition: what the operator held back (onFlush). */
  flush(partition = 0): readonly Rec<Out>[] {
    return this.op.onFlush?.(this.context(partition)) ?? [];
  }

  /** The wall-clock tick of one partition, as the runtime runs it: onTime, then onFlush. */
  tick(partition = 0): readonly Rec<Out>[] {
    const out = [...(this.op.onTime?.(this.context(partition)) ?? []), ...this.flush(partition)];
    if (this.autoCommit) this.commit(partition);
    return out;
  }

  /** Ticks every partition with state, like the runtime's timer; outputs in partition order. */
  tickAll(): Rec<Out>[] {
    return this.partitions().flatMap((p) => [...this.tick(p)]);
  }

  /** Moves the wall clock, then ticks every partition with state. */
  advanceWallClock(ms: number): Rec<Out>[] {
    this.clock.advance(ms);
    return this.tickAll();
  }

  /** Takes the state changes of one partition (or all) into the changelog, encoded as the runtime encodes them. */
  commit(partition?: number): void {
    for (const p of partition === undefined ? this.stores.partitions() : [partition]) {
      for (const { store, key, value } of this.stores.takeChanges(p)) {
        const bytes = encodeState(value);
        this.changelogRecords += 1;
        this.changelogBytes += key.length + (bytes?.length ?? 0);
        if (this.keepChangelog) this.changelog.push({ partition: p, store, key, value: bytes });
      }
    }
  }

  /**
   * A crash and restart: uncommitted changes are lost, a fresh operator comes from the factory (so its in-memory
   * indexes are rebuilt) and the stores hold only what the changelog replays.
   */
  restart(): void {
    if (!this.keepChangelog) throw new Error('restart() needs keepChangelog');
    this.op = this.factory();
    this.stores = new PartitionStores(this.op.stores ?? []);
    for (const e of this.changelog)
      this.stores.store(e.partition, e.store).restore(e.key, decodeState(e.value));
    this.restarts += 1;
  }

  /** Takes (and clears) what was sent to a side output. */
  /** Sets the records left in an input partition (undefined: unknown), as a runner would see them. */
  setInputLag(partition: number, records: number | undefined): void {
    if (records === undefined) this.lags.delete(partition);
    else this.lags.set(partition, records);
  }

  takeSide<T = unknown>(port: string): Rec<T>[] {
    const recs = this.sides.get(port) ?? [];
    this.sides.delete(port);
    return recs as Rec<T>[];
  }

  sidePorts(): string[] {
    return [...this.sides.keys()];
  }

  partitions(): number[] {
    return this.stores.partitions().sort((a, b) => a - b);
  }

  store<S>(partition: number, name: string): MapStore<S> {
    return this.stores.store<S>(partition, name);
  }

  changelogEntries(): readonly ChangelogEntry[] {
    return this.changelog;
  }
}

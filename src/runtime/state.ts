// Operator state, per source partition: keyed stores whose changes are written to a compacted changelog topic in the
// same Kafka transaction as the outputs and offsets, and restored from it on start and on reassignment.

/** What an operator sees: a map with change tracking. Values must be JSON-serialisable. */
export interface KeyedStore<S> {
  get(key: string): S | undefined;
  put(key: string, value: S): void;
  delete(key: string): void;
  keys(): IterableIterator<string>;
  entries(): IterableIterator<[string, S]>;
  readonly size: number;
}

export class MapStore<S> implements KeyedStore<S> {
  private readonly map = new Map<string, S>();
  private readonly dirty = new Set<string>();
  /**
   * Keys created since the last takeChanges: the changelog has never held them, so deleting one again before the
   * commit needs no tombstone (a 1-minute window that opens and closes within one batch writes nothing).
   */
  private readonly born = new Set<string>();

  get(key: string): S | undefined {
    return this.map.get(key);
  }
  put(key: string, value: S): void {
    if (!this.map.has(key) && !this.dirty.has(key)) this.born.add(key);
    this.map.set(key, value);
    this.dirty.add(key);
  }
  delete(key: string): void {
    if (!this.map.delete(key)) return;
    if (this.born.delete(key)) this.dirty.delete(key);
    else this.dirty.add(key);
  }
  keys(): IterableIterator<string> {
    return this.map.keys();
  }
  entries(): IterableIterator<[string, S]> {
    return this.map.entries();
  }
  get size(): number {
    return this.map.size;
  }
  /** Changes since the last call, as changelog entries (null value: deleted). */
  takeChanges(): Array<[string, S | null]> {
    const out: Array<[string, S | null]> = [];
    for (const k of this.dirty) out.push([k, this.map.has(k) ? (this.map.get(k) as S) : null]);
    this.dirty.clear();
    this.born.clear();
    return out;
  }
  /** Applies a changelog entry without marking it dirty. */
  restore(key: string, value: S | null): void {
    if (value === null) this.map.delete(key);
    else this.map.set(key, value);
  }
}

export function encodeState(value: unknown): Buffer | null {
  return value === null ? null : Buffer.from(JSON.stringify(value));
}

export function decodeState(bytes: Buffer | null): unknown {
  return bytes === null ? null : (JSON.parse(bytes.toString('utf8')) as unknown);
}

export const changelogTopic = (applicationId: string, store: string): string =>
  `${applicationId}-${store}-changelog`;

/** The stores of every partition of one source topic, created on first use. */
export class PartitionStores {
  private readonly byPartition = new Map<number, Map<string, MapStore<unknown>>>();

  constructor(readonly storeNames: readonly string[]) {}

  store<S>(partition: number, name: string): MapStore<S> {
    let stores = this.byPartition.get(partition);
    if (!stores) {
      stores = new Map(this.storeNames.map((n) => [n, new MapStore<unknown>()]));
      this.byPartition.set(partition, stores);
    }
    const s = stores.get(name);
    if (!s)
      throw new Error(
        `store ${name} is not declared by any operator (declared: ${this.storeNames.join(', ')})`,
      );
    return s as MapStore<S>;
  }

  partitions(): number[] {
    return [...this.byPartition.keys()];
  }

  /** Entries per store, summed over the partitions held (for the state-size metric). */
  sizes(): Map<string, number> {
    const sizes = new Map(this.storeNames.map((n) => [n, 0]));
    for (const stores of this.byPartition.values())
      for (const [name, s] of stores) sizes.set(name, (sizes.get(name) ?? 0) + s.size);
    return sizes;
  }

  /** Forgets a partition's state (after a failed batch, or when it moves to another instance). */
  drop(partition: number): void {
    this.byPartition.delete(partition);
  }

  takeChanges(partition: number): Array<{ store: string; key: string; value: unknown }> {
    const stores = this.byPartition.get(partition);
    if (!stores) return [];
    return [...stores].flatMap(([store, s]) =>
      s.takeChanges().map(([key, value]) => ({ store, key, value })),
    );
  }
}

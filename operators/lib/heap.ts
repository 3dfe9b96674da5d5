// A binary min-heap keyed by a number, ties broken by insertion order, so equal keys come out deterministically.
// Parallel arrays and hole-based sifting: no allocation per operation (a simulated year pushes millions). Used by
// the simulator's event ordering and by the window operator's "what closes next" indexes.

export class MinHeap<T> {
  private readonly keys: number[] = [];
  private readonly seqs: number[] = [];
  private readonly values: T[] = [];
  private seq = 0;

  get size(): number {
    return this.keys.length;
  }

  push(key: number, value: T): void {
    const { keys, seqs, values } = this;
    const seq = this.seq++;
    let i = keys.length;
    keys.push(key);
    seqs.push(seq);
    values.push(value);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pk = keys[p]!;
      if (pk < key || (pk === key && seqs[p]! < seq)) break;
      keys[i] = pk;
      seqs[i] = seqs[p]!;
      values[i] = values[p]!;
      i = p;
    }
    keys[i] = key;
    seqs[i] = seq;
    values[i] = value;
  }

  /** The smallest key, or undefined when empty. */
  peekKey(): number | undefined {
    return this.keys[0];
  }

  /** The smallest key with its value, or undefined when empty. */
  peek(): [number, T] | undefined {
    return this.keys.length === 0 ? undefined : [this.keys[0] as number, this.values[0] as T];
  }

  pop(): T | undefined {
    const { keys, seqs, values } = this;
    const n = keys.length;
    if (n === 0) return undefined;
    const top = values[0]!;
    const key = keys.pop()!;
    const seq = seqs.pop()!;
    const value = values.pop()!;
    if (n > 1) {
      const size = n - 1;
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= size) break;
        const r = c + 1;
        if (r < size && (keys[r]! < keys[c]! || (keys[r] === keys[c] && seqs[r]! < seqs[c]!))) c = r;
        const ck = keys[c]!;
        if (key < ck || (key === ck && seq < seqs[c]!)) break;
        keys[i] = ck;
        seqs[i] = seqs[c]!;
        values[i] = values[c]!;
        i = c;
      }
      keys[i] = key;
      seqs[i] = seq;
      values[i] = value;
    }
    return top;
  }
}

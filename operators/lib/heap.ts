// A binary min-heap of (priority, item), for "which window closes next" without scanning every window.
export class MinHeap<T> {
  private readonly items: Array<[number, T]> = [];

  get size(): number {
    return this.items.length;
  }

  push(priority: number, item: T): void {
    const a = this.items;
    a.push([priority, item]);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((a[parent] as [number, T])[0] <= priority) break;
      [a[i], a[parent]] = [a[parent] as [number, T], a[i] as [number, T]];
      i = parent;
    }
  }

  peek(): [number, T] | undefined {
    return this.items[0];
  }

  pop(): [number, T] | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && (a[l] as [number, T])[0] < (a[m] as [number, T])[0]) m = l;
        if (r < a.length && (a[r] as [number, T])[0] < (a[m] as [number, T])[0]) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m] as [number, T], a[i] as [number, T]];
        i = m;
      }
    }
    return top;
  }
}

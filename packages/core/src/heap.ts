/** A binary min-heap keyed by `at`: the orchestrator's agenda, O(log n) per lease event. */
export interface HeapNode {
  at: number;
}

export class MinHeap<T extends HeapNode> {
  readonly #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(node: T): void {
    const items = this.#items;
    items.push(node);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.at <= node.at) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = node;
  }

  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child = right < items.length && items[right]!.at < items[left]!.at ? right : left;
      if (items[child]!.at >= last.at) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }

  clear(): void {
    this.#items.length = 0;
  }

  /** Keeps only the nodes `keep` accepts (drops stale agenda entries in one pass). */
  filter(keep: (node: T) => boolean): void {
    const kept = this.#items.filter(keep);
    this.#items.length = 0;
    for (const node of kept) this.push(node);
  }
}

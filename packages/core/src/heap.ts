/**
 * A binary min-heap keyed by `at`, whose nodes know their place (`index`, -1 when out), so a
 * node can be moved when its time changes or removed when its lease goes, in O(log n). The
 * orchestrator's agenda: each lease owns its nodes and reuses them, so planning allocates
 * nothing and the heap holds only live entries (no stale ones to skip, filter, or keep alive).
 */
export interface HeapNode {
  at: number;
  index: number;
}

export class MinHeap<T extends HeapNode> {
  readonly #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  has(node: T): boolean {
    return node.index >= 0 && this.#items[node.index] === node;
  }

  push(node: T): void {
    node.index = this.#items.length;
    this.#items.push(node);
    this.#up(node);
  }

  pop(): T | undefined {
    const top = this.#items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Puts `node` in, or moves it after its `at` changed. */
  set(node: T): void {
    if (!this.has(node)) this.push(node);
    else if (!this.#up(node)) this.#down(node);
  }

  /** Takes `node` out (no-op if it is not in). */
  remove(node: T): void {
    if (!this.has(node)) return;
    const items = this.#items;
    const last = items.pop()!;
    if (last !== node) {
      last.index = node.index;
      items[last.index] = last;
      if (!this.#up(last)) this.#down(last);
    }
    node.index = -1;
  }

  clear(): void {
    for (const node of this.#items) node.index = -1;
    this.#items.length = 0;
  }

  /** Moves `node` towards the root while it is earlier than its parent; true if it moved. */
  #up(node: T): boolean {
    const items = this.#items;
    let i = node.index;
    const from = i;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = items[parent]!;
      if (above.at <= node.at) break;
      items[i] = above;
      above.index = i;
      i = parent;
    }
    items[i] = node;
    node.index = i;
    return i !== from;
  }

  #down(node: T): void {
    const items = this.#items;
    const n = items.length;
    let i = node.index;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && items[right]!.at < items[left]!.at ? right : left;
      const below = items[child]!;
      if (below.at >= node.at) break;
      items[i] = below;
      below.index = i;
      i = child;
    }
    items[i] = node;
    node.index = i;
  }
}

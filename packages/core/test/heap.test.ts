import { describe, expect, it } from 'vitest';
import { MinHeap } from '../src/heap.js';

interface Node {
  at: number;
  index: number;
  id: number;
}

/** A small deterministic generator (the test must fail the same way every time). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('MinHeap', () => {
  it('pops in time order through pushes, moves and removals, each node knowing its place', () => {
    const next = random(42);
    const heap = new MinHeap<Node>();
    const nodes: Node[] = Array.from({ length: 200 }, (_, id) => ({ at: 0, index: -1, id }));
    const inside = new Set<Node>();
    for (let step = 0; step < 5_000; step++) {
      const node = nodes[Math.floor(next() * nodes.length)]!;
      const roll = next();
      if (roll < 0.5) {
        node.at = Math.floor(next() * 1_000);
        heap.set(node); // in, or moved
        inside.add(node);
      } else if (roll < 0.8) {
        heap.remove(node);
        inside.delete(node);
        expect(node.index).toBe(-1);
      } else if (heap.size > 0) {
        const top = heap.pop()!;
        expect(top.at).toBe(Math.min(...[...inside].map((n) => n.at)));
        inside.delete(top);
      }
      expect(heap.size).toBe(inside.size);
      expect(nodes.filter((n) => heap.has(n) !== inside.has(n))).toEqual([]);
    }
    const order: number[] = [];
    for (let top = heap.pop(); top; top = heap.pop()) order.push(top.at);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(order).toHaveLength(inside.size);
  });

  it('clears every node out', () => {
    const heap = new MinHeap<Node>();
    const nodes = [3, 1, 2].map((at, id) => ({ at, index: -1, id }));
    for (const node of nodes) heap.push(node);
    heap.clear();
    expect(heap.size).toBe(0);
    expect(nodes.map((n) => n.index)).toEqual([-1, -1, -1]);
    heap.remove(nodes[0]!); // no-op once out
    expect(heap.peek()).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { checkInvariant, checkItem } from '../src/invariant.js';

describe('the invariant: final = initial - sold, never below zero', () => {
  it('holds when the stock fell by exactly what was sold', () => {
    expect(checkItem({ item: 'a', initial: 100, sold: 100, uncertain: 0, final: 0 })).toMatchObject({
      held: true,
      expected: 0,
    });
    expect(checkItem({ item: 'a', initial: 100, sold: 7, uncertain: 0, final: 93 }).held).toBe(true);
  });

  it("fails on the seed's recorded run: 3,861 sold of 100", () => {
    const verdict = checkItem({ item: 'item1', initial: 100, sold: 3_861, uncertain: 0, final: 0 });
    expect(verdict.held).toBe(false);
    expect(verdict.violation).toMatch(/oversold: 3861 units confirmed sold out of 100/);
  });

  it('fails on lost updates: more sold than the stock fell', () => {
    const verdict = checkItem({ item: 'a', initial: 10, sold: 8, uncertain: 0, final: 5 });
    expect(verdict).toMatchObject({ held: false, expected: 2 });
    expect(verdict.violation).toMatch(/stock only fell by 5/);
  });

  it('fails below zero and when the stock fell by more than was sold', () => {
    expect(checkItem({ item: 'a', initial: 10, sold: 10, uncertain: 0, final: -1 }).violation).toMatch(
      /below zero/,
    );
    expect(checkItem({ item: 'a', initial: 10, sold: 2, uncertain: 0, final: 5 }).violation).toMatch(
      /more than the 2 units sold/,
    );
  });

  it('lets orders of unknown outcome (no answer, 5xx) have sold or not', () => {
    expect(checkItem({ item: 'a', initial: 10, sold: 2, uncertain: 3, final: 8 }).held).toBe(true);
    expect(checkItem({ item: 'a', initial: 10, sold: 2, uncertain: 3, final: 5 }).held).toBe(true);
    expect(checkItem({ item: 'a', initial: 10, sold: 2, uncertain: 3, final: 4 }).held).toBe(false);
  });

  it('holds only when it holds for every item', () => {
    const verdict = checkInvariant([
      { item: 'a', initial: 5, sold: 5, uncertain: 0, final: 0 },
      { item: 'b', initial: 5, sold: 6, uncertain: 0, final: 0 },
    ]);
    expect(verdict.held).toBe(false);
    expect(verdict.items.map((item) => item.held)).toEqual([true, false]);
  });
});

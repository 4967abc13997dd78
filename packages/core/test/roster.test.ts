import { describe, expect, it } from 'vitest';
import { Roster } from '../src/roster.js';

interface Member {
  name: string;
  a: number;
  b: number;
}

const member = (name: string): Member => ({ name, a: -1, b: -1 });
const names = (roster: Roster<Member>) =>
  roster
    .values()
    .map((m) => m.name)
    .sort();

describe('Roster', () => {
  it("adds, finds and deletes members, the last member taking a deleted one's slot", () => {
    const roster = new Roster<Member>('a');
    const [x, y, z] = [member('x'), member('y'), member('z')];
    roster.add(x);
    roster.add(y);
    roster.add(z);
    roster.add(y); // already there: no second entry
    expect(roster.size).toBe(3);
    expect([x.a, y.a, z.a]).toEqual([0, 1, 2]);
    expect(roster.delete(x)).toBe(true);
    expect(z.a).toBe(0);
    expect(x.a).toBe(-1);
    expect(roster.has(x)).toBe(false);
    expect(roster.delete(x)).toBe(false);
    expect(names(roster)).toEqual(['y', 'z']);
    expect(roster.delete(y)).toBe(true);
    expect(names(roster)).toEqual(['z']);
  });

  it('keeps one slot field per roster, so an object can be in two', () => {
    const held = new Roster<Member>('a');
    const tracked = new Roster<Member>('b');
    const [x, y] = [member('x'), member('y')];
    held.add(x);
    held.add(y);
    tracked.add(y);
    expect([y.a, y.b]).toEqual([1, 0]);
    expect(tracked.has(x)).toBe(false); // x.b is -1
    tracked.delete(y);
    expect(held.has(y)).toBe(true);
    expect(names(held)).toEqual(['x', 'y']);
  });

  it('does not take a stranger with a matching slot for a member', () => {
    const roster = new Roster<Member>('a');
    roster.add(member('x'));
    const stranger = { ...member('s'), a: 0 };
    expect(roster.has(stranger)).toBe(false);
    expect(roster.delete(stranger)).toBe(false);
    expect(roster.size).toBe(1);
  });

  it('clears every member, and its copy of the members is its own', () => {
    const roster = new Roster<Member>('a');
    const all = ['x', 'y', 'z'].map(member);
    for (const m of all) roster.add(m);
    const copy = roster.values();
    roster.clear();
    expect(roster.size).toBe(0);
    expect(all.map((m) => m.a)).toEqual([-1, -1, -1]);
    expect(copy).toHaveLength(3);
    roster.add(all[2]!);
    expect(all[2]!.a).toBe(0);
  });
});

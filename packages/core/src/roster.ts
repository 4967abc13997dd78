/** The names of `T`'s number fields: where a roster member keeps its slot. */
export type SlotField<T> = { [K in keyof T]-?: T[K] extends number ? K : never }[keyof T];

/**
 * The members of a long-lived collection that sees an add and a delete per operation, each
 * keeping its index in the roster in one of its own fields (-1: not a member), so both are O(1)
 * and allocate nothing.
 *
 * Why not a `Set`: V8 rebuilds a Set's (or Map's) table every few dozen inserts when entries
 * are deleted as fast as they come, allocates the new table in the old generation once the
 * collection is old, and leaves the previous table pointing at the entries it held. Young-
 * generation GC takes those dead old tables for live roots, so every entry that passed through
 * (a lease, with everything it references) survives two scavenges and is promoted, until the
 * next full GC. An array with swap-removal promotes nothing (what the tables cost: bench/README.md,
 * "History").
 */
export class Roster<T extends object> {
  readonly #items: T[] = [];
  readonly #slot: SlotField<T>;

  /** `slot`: the members' field that holds their index here; members start at -1. */
  constructor(slot: SlotField<T>) {
    this.#slot = slot;
  }

  get size(): number {
    return this.#items.length;
  }

  has(item: T): boolean {
    const index = this.#indexOf(item);
    return index >= 0 && this.#items[index] === item;
  }

  add(item: T): void {
    if (this.has(item)) return;
    this.#setIndex(item, this.#items.length);
    this.#items.push(item);
  }

  /** Removes `item` (the last member takes its slot); false if it was not a member. */
  delete(item: T): boolean {
    if (!this.has(item)) return false;
    const index = this.#indexOf(item);
    const last = this.#items.pop()!;
    if (last !== item) {
      this.#items[index] = last;
      this.#setIndex(last, index);
    }
    this.#setIndex(item, -1);
    return true;
  }

  /** A copy of the members, in no particular order. */
  values(): T[] {
    return this.#items.slice();
  }

  clear(): void {
    for (const item of this.#items) this.#setIndex(item, -1);
    this.#items.length = 0;
  }

  #indexOf(item: T): number {
    return (item as Record<SlotField<T>, number>)[this.#slot];
  }

  #setIndex(item: T, index: number): void {
    (item as Record<SlotField<T>, number>)[this.#slot] = index;
  }
}

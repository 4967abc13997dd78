/**
 * The check the seed's demo never made: for each item, final stock = initial stock - quantity
 * sold, and never below zero. Requests whose outcome is unknown (no answer, or a 5xx) may or
 * may not have sold: they widen the allowed range instead of failing the check.
 */

export interface ItemTally {
  readonly item: string;
  readonly initial: number;
  /** Units confirmed sold (200 answers). */
  readonly sold: number;
  /** Units of orders whose outcome is unknown. */
  readonly uncertain: number;
  readonly final: number;
}

export interface ItemVerdict extends ItemTally {
  /** initial - sold: the final stock when every uncertain order sold nothing. */
  readonly expected: number;
  readonly held: boolean;
  /** Why it did not hold; undefined when it did. */
  readonly violation: string | undefined;
}

export interface InvariantVerdict {
  readonly held: boolean;
  readonly items: readonly ItemVerdict[];
}

export function checkItem(tally: ItemTally): ItemVerdict {
  const expected = tally.initial - tally.sold;
  let violation: string | undefined;
  if (tally.final < 0) {
    violation = `stock went below zero (${tally.final})`;
  } else if (expected < 0) {
    violation = `oversold: ${tally.sold} units confirmed sold out of ${tally.initial}`;
  } else if (tally.final > expected) {
    violation = `oversold: ${tally.sold} units confirmed sold but stock only fell by ${tally.initial - tally.final} (${tally.final} left, expected ${expected})`;
  } else if (tally.final < expected - tally.uncertain) {
    violation = `stock fell by ${tally.initial - tally.final}, more than the ${tally.sold} units sold${tally.uncertain ? ` and ${tally.uncertain} uncertain` : ''}`;
  }
  return { ...tally, expected, held: violation === undefined, violation };
}

export function checkInvariant(tallies: readonly ItemTally[]): InvariantVerdict {
  const items = tallies.map(checkItem);
  return { held: items.every((item) => item.held), items };
}

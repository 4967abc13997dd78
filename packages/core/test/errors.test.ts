import { describe, expect, it } from 'vitest';
import {
  AcquireTimeoutError,
  BackendUnavailableError,
  isLeaseError,
  LeaseError,
  LeaseLostError,
  NotHolderError,
  toLeaseError,
} from '../src/index.js';

/** A second copy of core's errors module: its own classes, as from a second installed copy. */
async function secondCopy(): Promise<typeof import('../src/errors.js')> {
  // A query makes the module loader treat it as another module (the specifier is a variable so
  // that TypeScript does not try to resolve the query).
  const specifier = '../src/errors.js?second-copy';
  const copy = (await import(/* @vite-ignore */ specifier)) as typeof import('../src/errors.js');
  // Only a real second copy makes this test mean anything.
  expect(copy.LeaseError).not.toBe(LeaseError);
  return copy;
}

describe('LeaseError brand', () => {
  it("recognises another copy's errors: instanceof, isLeaseError and toLeaseError", async () => {
    const copy = await secondCopy();
    const foreign = new copy.NotHolderError('not ours', { key: 'k' });
    expect(Object.getPrototypeOf(foreign)).not.toBe(NotHolderError.prototype);
    expect(foreign instanceof LeaseError).toBe(true);
    expect(foreign instanceof NotHolderError).toBe(true);
    expect(foreign instanceof LeaseLostError).toBe(false);
    expect(isLeaseError(foreign)).toBe(true);
    expect(isLeaseError(foreign, 'NOT_HOLDER')).toBe(true);
    expect(isLeaseError(foreign, 'LEASE_LOST')).toBe(false);
    // Passed through as it is, not wrapped as an unavailable store.
    expect(toLeaseError(foreign, { backend: 'x' })).toBe(foreign);
    // And the other way round.
    const ours = new AcquireTimeoutError('held', { waitedMs: 1, attempts: 1 });
    expect(ours instanceof copy.LeaseError).toBe(true);
    expect(ours instanceof copy.AcquireTimeoutError).toBe(true);
    expect(copy.isLeaseError(ours, 'ACQUIRE_TIMEOUT')).toBe(true);
  });

  it('is a registry symbol on the prototype: not enumerated, and a plain object carrying it counts', () => {
    const error = new BackendUnavailableError('down');
    const brand = Symbol.for('leasekit.LeaseError');
    expect((error as unknown as Record<symbol, unknown>)[brand]).toBe(true);
    expect(Object.getOwnPropertySymbols(error)).not.toContain(brand);
    expect(JSON.parse(JSON.stringify(error))).not.toHaveProperty('brand');
    const carried = Object.assign(new Error('x'), { [brand]: true, code: 'LEASE_LOST' });
    expect(isLeaseError(carried, 'LEASE_LOST')).toBe(true);
    expect(carried instanceof LeaseLostError).toBe(true);
    expect(carried instanceof NotHolderError).toBe(false);
  });

  it("this copy's errors are judged by class: a plain LeaseError with a subclass's code is not that subclass", () => {
    const plain = new LeaseError('LEASE_LOST', 'gone');
    expect(plain instanceof LeaseError).toBe(true);
    expect(plain instanceof LeaseLostError).toBe(false);
    expect(isLeaseError(plain, 'LEASE_LOST')).toBe(true);
    class AppError extends LeaseError {}
    expect(new AppError('NOT_HOLDER', 'x') instanceof NotHolderError).toBe(false);
  });

  it('unbranded look-alikes are not LeaseErrors', () => {
    const lookAlike = Object.assign(new Error('x'), { name: 'LeaseError', code: 'NOT_HOLDER' });
    expect(isLeaseError(lookAlike)).toBe(false);
    expect(lookAlike instanceof LeaseError).toBe(false);
    expect(isLeaseError(null)).toBe(false);
    expect(isLeaseError({ [Symbol.for('leasekit.LeaseError')]: true })).toBe(false); // no code
    expect(toLeaseError(lookAlike, { backend: 'x' })).toBeInstanceOf(BackendUnavailableError);
  });
});

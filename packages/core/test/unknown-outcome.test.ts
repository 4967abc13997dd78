import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, InvalidArgumentError, isLeaseError } from '../src/index.js';
import { useLockers } from './lockers.js';
import { ScriptedBackend } from './scripted-backend.js';

const locker = useLockers({ ttl: 1_000 });

const timedOut = () =>
  new BackendUnavailableError('no answer within the request timeout (the write may have landed)', {
    backend: 'scripted',
    operation: 'acquire',
  });

/** Tokens the store was asked to release. */
const released = (backend: ScriptedBackend) =>
  backend.calls.filter((call) => call.op === 'release').map((call) => call.token);
const tried = (backend: ScriptedBackend) =>
  backend.calls.filter((call) => call.op === 'acquire').map((call) => call.token);

describe('an acquire that gives up after an attempt whose outcome is unknown', () => {
  it('releases the token of its final attempt (it may have landed), after waiting', async () => {
    const backend = new ScriptedBackend();
    backend.acquireScript = timedOut();
    const l = locker(backend, { retry: { initial: '5ms', max: '5ms' } });
    const error = await l.acquire('k', { wait: '40ms', ttl: 1_000 }).catch((e: unknown) => e);
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    await l.close(); // waits for the give-back
    const tokens = new Set(tried(backend));
    expect(tokens.size).toBe(1); // retried with one token: a landed attempt would be recognised
    expect(released(backend)).toEqual([...tokens]);
  });

  it('releases it after a single attempt too (tryAcquire, wait: 0)', async () => {
    const backend = new ScriptedBackend();
    backend.acquireScript = timedOut();
    const l = locker(backend);
    await expect(l.tryAcquire('k')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    await expect(l.acquire('k2', { wait: 0 })).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    await l.close();
    expect(released(backend)).toEqual(tried(backend));
    expect(released(backend)).toHaveLength(2);
  });

  it('does not release after an answer that rules the write out (held, or a refusal that is not retryable)', async () => {
    const backend = new ScriptedBackend();
    backend.acquireScript = (call) =>
      call === 1
        ? { status: 'held' }
        : new InvalidArgumentError('refused by the store', { backend: 'scripted', operation: 'acquire' });
    const l = locker(backend);
    expect(await l.tryAcquire('k')).toBeNull();
    await expect(l.tryAcquire('k')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await l.close();
    expect(released(backend)).toEqual([]);
  });
});

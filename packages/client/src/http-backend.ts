import {
  type AcquireOutcome,
  type AcquireRequest,
  type BackendCapabilities,
  type Duration,
  InvalidArgumentError,
  type LeaseBackend,
  type LeaseInfo,
  type LeaseRef,
  type RenewItem,
  type RenewManyOutcome,
  type RenewOutcome,
  toLeaseError,
} from '@leasekit/core';
import {
  fenceNumber,
  holderRemainingMs,
  idempotencyKey,
  readGrant,
  readHolder,
  readRenewal,
  remainingMs,
} from './answers.js';
import { fetchCapabilities, type ServiceCapabilities } from './capabilities.js';
import { type ErrorContext, errorFromAnswer } from './errors.js';
import { type ConnectionOptions, durationMs, resolveConnection } from './options.js';
import { type HttpAnswer, lockPath, problemOf, Transport } from './transport.js';

export interface HttpBackendOptions extends ConnectionOptions {
  /**
   * The service's capabilities, as `GET /v1/capabilities` answers them (e.g. `backend.service`
   * of another backend). Given, `createHttpBackend` does no I/O; omitted, it asks the service.
   */
  readonly capabilities?: ServiceCapabilities | undefined;
  /**
   * Longest wait one acquire attempt asks the service to serve (the locker passes its remaining
   * wait; the attempt asks for at most this, and the locker tries again after a 409). Bounds how
   * long a request stays open for a caller who may give up. Default `'5s'`; at most the service's
   * `waiting.maxWaitMs`.
   */
  readonly maxServerWait?: Duration | undefined;
}

/** A `LeaseBackend` over the lock service, plus what the service said about itself. */
export interface HttpBackend extends LeaseBackend {
  readonly name: 'http';
  /** The service's own capabilities (`GET /v1/capabilities`). */
  readonly service: ServiceCapabilities;
  renewMany(items: readonly RenewItem[]): Promise<readonly RenewManyOutcome[]>;
  inspect(key: string): Promise<LeaseInfo | null>;
  validateKey(key: string, operation: string): void;
}

const NAME = 'http';
const DEFAULT_MAX_SERVER_WAIT_MS = 5_000;
const KEY_PATTERN = /^[A-Za-z0-9._:~-]+$/;

/**
 * How renew and release name a holding to the service: by the `Idempotency-Key` its acquire sent
 * (the locker's token), from which any instance derives the store token, and its fence. No
 * state: any backend over the service renews or releases any holding by key and locker token.
 */
function holdingHeaders(lease: LeaseRef): Record<string, string> {
  const headers: Record<string, string> = { 'idempotency-key': idempotencyKey(lease.token) };
  if (lease.fence !== undefined) headers['lease-fence'] = String(lease.fence);
  return headers;
}

/**
 * A leasekit backend over the lock service (`apps/lock-service`), so that
 * `createLocker(await createHttpBackend({ baseUrl, apiKey }))` gives `withLease`, background
 * renewal, the loss signal and fencing through the service. Asynchronous because the locker
 * reads the backend's TTL range and fencing synchronously: they are fetched from
 * `GET /v1/capabilities` first (or taken from `options.capabilities`). Options are validated
 * before any I/O.
 */
export async function createHttpBackend(options: HttpBackendOptions): Promise<HttpBackend> {
  const connection = resolveConnection(options, 'createHttpBackend');
  const maxServerWaitMs =
    options.maxServerWait === undefined
      ? DEFAULT_MAX_SERVER_WAIT_MS
      : durationMs(options.maxServerWait, 'createHttpBackend: maxServerWait', 'configure');
  const transport = new Transport(connection);
  let service: ServiceCapabilities;
  try {
    service =
      options.capabilities ?? (await fetchCapabilities(transport, { backend: NAME, operation: 'configure' }));
  } catch (error) {
    await transport.close();
    throw error;
  }
  return httpBackend(transport, service, Math.min(maxServerWaitMs, service.waiting.maxWaitMs));
}

function httpBackend(
  transport: Transport,
  service: ServiceCapabilities,
  maxServerWaitMs: number,
): HttpBackend {
  const capabilities: BackendCapabilities = {
    fencing: service.fencing,
    minTtlMs: service.minTtlMs,
    maxTtlMs: service.maxTtlMs,
    infiniteTtl: false,
    ttlGranularityMs: service.ttlGranularityMs,
    maxKeyLength: service.maxKeyLength,
    // The store's renewal bound holds through the service: the locker checks its renewFraction.
    ...(service.maxRenewFraction === undefined ? {} : { maxRenewFraction: service.maxRenewFraction }),
  };
  const context = (operation: string, key: string): ErrorContext => ({ backend: NAME, operation, key });

  const renew = async (lease: LeaseRef, ttlMs: number): Promise<RenewOutcome> => {
    const where = context('renew', lease.key);
    const sentAt = performance.now();
    const answer = await transport.send(
      {
        method: 'POST',
        path: lockPath(lease.key, '/renew'),
        headers: holdingHeaders(lease),
        body: { ttl: ttlMs },
      },
      where,
    );
    if (answer.status === 200) {
      const renewal = readRenewal(answer.body, where);
      return { status: 'renewed', validUntil: sentAt + remainingMs(renewal.expiresAt, renewal.serverTime) };
    }
    if (answer.status === 410) {
      const cause = problemOf(answer);
      return { status: 'lost', detail: cause.problem?.detail ?? 'the service says the lease is gone', cause };
    }
    throw errorFromAnswer(problemOf(answer), where);
  };

  const release = async (lease: LeaseRef): Promise<boolean> => {
    const where = context('release', lease.key);
    const answer = await transport.send(
      { method: 'DELETE', path: lockPath(lease.key), headers: holdingHeaders(lease) },
      where,
    );
    if (answer.status === 204 || answer.status === 410) return answer.status === 204;
    throw errorFromAnswer(problemOf(answer), where);
  };

  return {
    name: NAME,
    capabilities,
    service,

    async tryAcquire(request: AcquireRequest): Promise<AcquireOutcome> {
      const { key } = request;
      const where = context('acquire', key);
      const waitMs = Math.max(0, Math.min(Math.floor(request.waitMs ?? 0), maxServerWaitMs));
      const body: Record<string, unknown> = { ttl: request.ttlMs, wait: waitMs };
      if (request.owner !== undefined) body.owner = request.owner;
      const sentAt = performance.now();
      let answer: HttpAnswer;
      try {
        answer = await transport.send(
          {
            method: 'POST',
            path: lockPath(key),
            // The locker's token names this acquire across its retries: the service derives its own
            // token from it, so a retried request gets the same holding back, not a 409 from itself
            // (and renew and release name the holding by it too).
            headers: { 'idempotency-key': idempotencyKey(request.token) },
            body,
            waitMs,
            signal: request.signal,
            abortOnClose: true,
          },
          where,
        );
      } catch (error) {
        if (request.signal?.aborted && error === request.signal.reason) {
          // The caller gave up: its request may have been granted just before (the answer was on
          // its way). The service gives back a grant it could not deliver; one it did deliver is
          // released here, by the same Idempotency-Key, so an abort never leaves the key held.
          release({ key, token: request.token }).catch(() => undefined);
        }
        throw error;
      }
      if (answer.status === 201) {
        const grant = readGrant(answer.body, where);
        let fence: number | undefined;
        try {
          fence = fenceNumber(grant.fence, where);
        } catch (error) {
          await release({ key, token: request.token }).catch(() => undefined);
          throw error;
        }
        // The TTL runs from the grant, after the service held the request `waitedMs`; counted from
        // before the request was sent, the deadline is conservative on this clock.
        return {
          status: 'acquired',
          fence,
          waitedMs: grant.waitedMs,
          validUntil: sentAt + grant.waitedMs + remainingMs(grant.expiresAt, grant.serverTime),
        };
      }
      if (answer.status === 409) {
        // After a wait served by the service the locker may ask again at once: its next request
        // waits on the server too (long polling, not polling).
        const retryAfterMs = waitMs > 0 ? 0 : holderRemainingMs(answer.body, answer.retryAfterMs);
        return { status: 'held', retryAfterMs };
      }
      throw errorFromAnswer(problemOf(answer), where);
    },

    renew,

    async renewMany(items: readonly RenewItem[]): Promise<readonly RenewManyOutcome[]> {
      // One request each, in parallel over the pool (the service has no batch route).
      return Promise.all(
        items.map((item) =>
          renew(item.lease, item.ttlMs).catch(
            (error: unknown): RenewManyOutcome => ({
              status: 'error',
              error: toLeaseError(error, context('renew', item.lease.key)),
            }),
          ),
        ),
      );
    },

    release,

    async inspect(key: string): Promise<LeaseInfo | null> {
      const where = context('inspect', key);
      const answer = await transport.send({ method: 'GET', path: lockPath(key) }, where);
      if (answer.status === 404) return null;
      if (answer.status !== 200) throw errorFromAnswer(problemOf(answer), where);
      const holder = readHolder(answer.body, where);
      let fence: number | undefined;
      try {
        fence = fenceNumber(holder.fence, where);
      } catch {
        fence = undefined; // informational: a fence beyond 2^53 is left out rather than failing inspect
      }
      return {
        key,
        held: holder.held,
        fence,
        ttlRemainingMs: holder.ttlRemainingMs ?? undefined,
        owner: holder.owner ?? undefined,
      };
    },

    validateKey(key: string, operation: string): void {
      if (!KEY_PATTERN.test(key)) {
        throw new InvalidArgumentError(
          `key must be 1 to ${capabilities.maxKeyLength} characters of A-Z a-z 0-9 . _ : ~ - for the lock service; got ${JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}...` : key)}`,
          { backend: NAME, operation, key },
        );
      }
    },

    close(): Promise<void> {
      return transport.close();
    },
  };
}

import { createHash } from 'node:crypto';
import { BackendUnavailableError, UnsupportedError } from '@leasekit/core';
import type { ErrorContext } from './errors.js';
import type { LockInfo } from './lock-client.js';

/** The 201 of `POST /v1/locks/{key}` (API.md). */
export interface GrantBody {
  readonly key: string;
  readonly token: string;
  readonly fence: string | null;
  readonly ttlMs: number;
  readonly expiresAt: number;
  readonly serverTime: number;
  readonly waitedMs: number;
  readonly owner: string | null;
  readonly mode?: string;
}

/** The 200 of `POST /v1/locks/{key}/renew`. */
export interface RenewBody {
  readonly key: string;
  readonly fence: string | null;
  readonly ttlMs: number;
  readonly expiresAt: number;
  readonly serverTime: number;
}

/** The 200 of `GET /v1/locks/{key}`: `null` where the store does not say (API.md). */
export type HolderBody = LockInfo;

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isFence = (value: unknown): value is string | null =>
  value === null || (typeof value === 'string' && /^\d{1,40}$/.test(value));

function malformed(what: string, context: ErrorContext): BackendUnavailableError {
  return new BackendUnavailableError(
    `the service's ${what} did not have the shape of API.md (is baseUrl right?)`,
    {
      ...context,
      retryable: false,
    },
  );
}

export function readGrant(body: unknown, context: ErrorContext): GrantBody {
  const grant = body as Partial<GrantBody> | undefined;
  if (
    typeof grant !== 'object' ||
    grant === null ||
    typeof grant.token !== 'string' ||
    grant.token === '' ||
    !isFence(grant.fence) ||
    !isTime(grant.ttlMs) ||
    !isTime(grant.expiresAt) ||
    !isTime(grant.serverTime)
  ) {
    throw malformed('acquire answer', context);
  }
  return {
    ...grant,
    waitedMs: isTime(grant.waitedMs) ? grant.waitedMs : 0,
    owner: grant.owner ?? null,
  } as GrantBody;
}

export function readRenewal(body: unknown, context: ErrorContext): RenewBody {
  const renewal = body as Partial<RenewBody> | undefined;
  if (
    typeof renewal !== 'object' ||
    renewal === null ||
    !isTime(renewal.ttlMs) ||
    !isTime(renewal.expiresAt) ||
    !isTime(renewal.serverTime)
  ) {
    throw malformed('renew answer', context);
  }
  return { ...renewal, fence: isFence(renewal.fence) ? renewal.fence : null } as RenewBody;
}

export function readHolder(body: unknown, context: ErrorContext): HolderBody {
  const holder = body as Partial<Record<keyof HolderBody, unknown>> | undefined;
  if (typeof holder !== 'object' || holder === null || !isFence(holder.fence ?? null)) {
    throw malformed('holder answer', context);
  }
  return {
    key: typeof holder.key === 'string' ? holder.key : '',
    held: holder.held !== false,
    owner: typeof holder.owner === 'string' ? holder.owner : null,
    fence: (holder.fence as string | null | undefined) ?? null,
    expiresAt: isTime(holder.expiresAt) ? holder.expiresAt : null,
    ttlRemainingMs: isTime(holder.ttlRemainingMs) ? holder.ttlRemainingMs : null,
    mode: typeof holder.mode === 'string' ? holder.mode : null,
    metadata:
      typeof holder.metadata === 'object' && holder.metadata !== null
        ? (holder.metadata as Record<string, string>)
        : null,
  };
}

/** A fence as core counts them: a safe integer. Larger fences exist only as strings (use `createLockClient`). */
export function fenceNumber(fence: string | null, context: ErrorContext): number | undefined {
  if (fence === null) return undefined;
  const value = Number(fence);
  if (!Number.isSafeInteger(value)) {
    throw new UnsupportedError(
      `fence ${fence} is above 2^53 - 1, which core's numeric fences cannot carry; createLockClient returns fences as strings`,
      context,
    );
  }
  return value;
}

/**
 * The milliseconds of validity the service still gave a holding when it answered: its
 * conservative deadline minus its clock at the answer. Both on the server's clock, so skew cancels.
 */
export function remainingMs(expiresAt: number, serverTime: number): number {
  return Math.max(0, expiresAt - serverTime);
}

/**
 * `Idempotency-Key` allows 1–128 of `A-Z a-z 0-9 . _ ~ : -`, and renew and release take it as
 * their credential only from 16 characters on: a token outside that (a caller's short or exotic
 * one) is hashed into it, the same way on acquire, renew and release.
 */
export function idempotencyKey(token: string): string {
  if (/^[A-Za-z0-9._~:-]{16,128}$/.test(token)) return token;
  return createHash('sha256').update(token).digest('base64url');
}

/** `holder.expiresAt - serverTime` of a 409, else its `Retry-After`. */
export function holderRemainingMs(body: unknown, retryAfterMs: number | undefined): number | undefined {
  const problem = body as { holder?: { expiresAt?: unknown }; serverTime?: unknown } | undefined;
  const expiresAt = problem?.holder?.expiresAt;
  const serverTime = problem?.serverTime;
  if (isTime(expiresAt) && isTime(serverTime)) return remainingMs(expiresAt, serverTime);
  return retryAfterMs;
}

import { createHmac } from 'node:crypto';
import type { LeaseMode } from '@leasekit/core';

/**
 * What the service hands out and reads back, with no state of its own: the lease token (the
 * store's token and the fence, so any instance can answer a renew with the fence), the store
 * key (tenant namespace), and what is kept about the holder in the backend's `owner` string.
 */

/** Lock keys: 1–200 of `A-Z a-z 0-9 . _ : ~ -`. */
export const KEY_PATTERN = '^[A-Za-z0-9._:~-]{1,200}$';
const KEY = new RegExp(KEY_PATTERN);
/** Lease tokens on the wire (the API's promise: at most 128 of `A-Z a-z 0-9 . _ ~ -`). */
export const TOKEN_PATTERN = '^[A-Za-z0-9._~-]{1,128}$';
/** Idempotency keys: 1–128 of `A-Z a-z 0-9 . _ ~ : -`. */
export const IDEMPOTENCY_KEY_PATTERN = '^[A-Za-z0-9._~:-]{1,128}$';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** `<store token (a UUID: Azure lease IDs must be)>.<fence, or n when the backend has none>` */
const LEASE_TOKEN = new RegExp(`^(${UUID})\\.(0|[1-9][0-9]{0,19}|n)$`);

export function isValidKey(key: string): boolean {
  return KEY.test(key);
}

/** The key in the store: the tenant's namespace (tenants and keys cannot contain `/`). */
export function storeKey(tenant: string, key: string): string {
  return `${tenant}/${key}`;
}

export function encodeLeaseToken(storeToken: string, fence: number | undefined): string {
  return `${storeToken}.${fence === undefined ? 'n' : String(fence)}`;
}

export interface DecodedToken {
  readonly storeToken: string;
  readonly fence: number | undefined;
}

/** `undefined` when `token` is not one this service hands out (a 400, not a 410). */
export function decodeLeaseToken(token: string): DecodedToken | undefined {
  const match = LEASE_TOKEN.exec(token);
  if (!match) return undefined;
  const fenceText = match[2]!;
  if (fenceText === 'n') return { storeToken: match[1]!, fence: undefined };
  const fence = Number(fenceText);
  if (!Number.isSafeInteger(fence)) return undefined;
  return { storeToken: match[1]!, fence };
}

/**
 * The store token of an acquire with an `Idempotency-Key`: the same on every instance sharing
 * `secret`, so a retry is the same acquire to the store (same holding, same fence), and
 * unguessable without the secret. Shaped as a version-4 UUID because Azure lease IDs must be.
 */
export function idempotentStoreToken(
  secret: string,
  tenant: string,
  key: string,
  idempotencyKey: string,
): string {
  const digest = createHmac('sha256', secret).update(`${tenant}\n${key}\n${idempotencyKey}`).digest();
  digest[6] = (digest[6]! & 0x0f) | 0x40;
  digest[8] = (digest[8]! & 0x3f) | 0x80;
  const hex = digest.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface HolderRecord {
  readonly owner: string | null;
  /** `null` when nobody can tell (an owner string another writer stored). */
  readonly mode: LeaseMode | null;
  readonly metadata: Readonly<Record<string, string>> | null;
}

/**
 * The holder's description as the backend's `owner` string: compact JSON, non-ASCII escaped
 * (Azure keeps it in blob metadata, an HTTP header). `undefined` for the default holder (timeout
 * mode, no owner, no metadata): nothing to store, so the store writes no owner (on Redis, no
 * second key per acquire). Only the service writes keys in a tenant's namespace, so a holding
 * there without an owner string is one of those.
 */
export function encodeHolder(record: HolderRecord): string | undefined {
  if (record.owner === null && record.metadata === null && record.mode !== 'lease') return undefined;
  const compact: Record<string, unknown> = { v: 1, m: record.mode ?? 'timeout' };
  if (record.owner !== null) compact.o = record.owner;
  if (record.metadata !== null) compact.d = record.metadata;
  return JSON.stringify(compact).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const DEFAULT_HOLDER: HolderRecord = { owner: null, mode: 'timeout', metadata: null };

/** Reads what `encodeHolder` wrote; another writer's plain owner string is kept as the owner. */
export function decodeHolder(owner: string | undefined): HolderRecord {
  if (owner === undefined) return DEFAULT_HOLDER;
  if (owner.startsWith('{"v":1,')) {
    try {
      const parsed = JSON.parse(owner) as { m?: unknown; o?: unknown; d?: unknown };
      return {
        owner: typeof parsed.o === 'string' ? parsed.o : null,
        mode: parsed.m === 'lease' ? 'lease' : 'timeout',
        metadata: isStringRecord(parsed.d) ? parsed.d : null,
      };
    } catch {
      // not ours after all: shown as it is
    }
  }
  return { owner, mode: 'timeout', metadata: null };
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((entry) => typeof entry === 'string')
  );
}

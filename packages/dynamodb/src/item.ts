import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { ATTR } from './schema.js';

/** A lock item as stored, decoded. */
export interface LockItem {
  /** The holder's token; `undefined`: free (released, or never held). */
  readonly token: string | undefined;
  /** Record version number of the last write. */
  readonly rvn: string | undefined;
  /** Lease duration of the current holding, ms; `Infinity` for an infinite lease. */
  readonly leaseMs: number;
  /** The holder's wall clock at its last write plus the lease duration (epoch ms). */
  readonly leaseUntil: number | undefined;
  readonly fence: number | undefined;
  readonly owner: string | undefined;
}

type Attributes = Record<string, AttributeValue>;

const text = (attributes: Attributes, name: string): string | undefined => attributes[name]?.S;

const number = (attributes: Attributes, name: string): number | undefined => {
  const raw = attributes[name]?.N;
  if (raw === undefined) return undefined;
  const value = Number(raw);
  return Number.isFinite(value) ? value : undefined;
};

export function readItem(attributes: Attributes | undefined): LockItem | undefined {
  if (!attributes) return undefined;
  return {
    token: text(attributes, ATTR.token),
    rvn: text(attributes, ATTR.rvn),
    leaseMs: number(attributes, ATTR.leaseMs) ?? Infinity,
    leaseUntil: number(attributes, ATTR.leaseUntil),
    fence: number(attributes, ATTR.fence),
    owner: text(attributes, ATTR.owner),
  };
}

/** Why a write conditioned on our token failed, from the item DynamoDB returned (`ALL_OLD`). */
export function describeLoss(item: LockItem | undefined): string {
  if (!item) return 'the lock item no longer exists';
  if (item.token === undefined) return 'the key was released (or broken) and is free';
  return 'the key is held by another holder now (taken over)';
}

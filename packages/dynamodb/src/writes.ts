import {
  type AttributeValue,
  GetItemCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { ATTR, FENCE_CLOCK_SLACK_MS, FENCES_PER_MS } from './schema.js';

/** Where and how lock items are written: resolved once from the backend's options. */
export interface Table {
  readonly tableName: string;
  readonly partitionKey: string;
  readonly keyPrefix: string;
  /** DynamoDB TTL attribute, or `undefined` when items are never garbage-collected. */
  readonly gcAttribute: string | undefined;
  /** How long after a holding ends (or a release) its item may be garbage-collected, ms. */
  readonly gcAfterMs: number;
}

const S = (value: string): AttributeValue => ({ S: value });
const N = (value: number): AttributeValue => ({ N: String(value) });

function itemKey(table: Table, key: string): Record<string, AttributeValue> {
  return { [table.partitionKey]: S(table.keyPrefix + key) };
}

/** Epoch seconds for the GC attribute, from a wall-clock instant in ms. */
const gcSeconds = (table: Table, wallMs: number): number => Math.ceil((wallMs + table.gcAfterMs) / 1000);

/** The attribute writes shared by acquire and renew: a fresh version, the lease, the GC time. */
function leaseWrites(
  table: Table,
  input: { rvn: string; ttlMs: number; wallNow: number },
  names: Record<string, string>,
  values: Record<string, AttributeValue>,
): { set: string[]; remove: string[] } {
  const set = ['#rvn = :rvn'];
  const remove: string[] = [];
  names['#rvn'] = ATTR.rvn;
  names['#leaseMs'] = ATTR.leaseMs;
  names['#until'] = ATTR.leaseUntil;
  values[':rvn'] = S(input.rvn);
  if (table.gcAttribute) names['#gc'] = table.gcAttribute;
  if (input.ttlMs === Infinity) {
    remove.push('#leaseMs', '#until');
    if (table.gcAttribute) remove.push('#gc');
  } else {
    set.push('#leaseMs = :leaseMs', '#until = :until');
    values[':leaseMs'] = N(input.ttlMs);
    values[':until'] = N(input.wallNow + input.ttlMs);
    if (table.gcAttribute) {
      set.push('#gc = :gc');
      values[':gc'] = N(gcSeconds(table, input.wallNow + input.ttlMs));
    }
  }
  return { set, remove };
}

/**
 * The highest fence counter a write at `wallNow` may leave behind (see `FENCES_PER_MS`): a write
 * that draws `n` fences is conditioned on the counter being at most `fenceCeiling(wallNow) - n`.
 */
export const fenceCeiling = (wallNow: number): number => (wallNow + FENCE_CLOCK_SLACK_MS) * FENCES_PER_MS;

/** Where a new item's counter starts: the wall clock in ms times `FENCES_PER_MS`. */
export const fenceSeed = (wallNow: number): number => wallNow * FENCES_PER_MS;

const expression = (set: string[], remove: string[]): string =>
  `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`;

export interface AcquireWrite {
  readonly key: string;
  readonly token: string;
  readonly rvn: string;
  readonly ttlMs: number;
  readonly owner: string | undefined;
  readonly wallNow: number;
  /** Take over the holding with this record version (seen unchanged for a full lease). */
  readonly takeoverRvn: string | undefined;
  /** `takeover: 'wall-clock'`: take over a holding whose `leaseUntil` is below this (epoch ms). */
  readonly wallClockCutoff: number | undefined;
}

/**
 * Acquire in one conditional write: succeeds when the key is free (no item, or released), or
 * when the holding is one we may take over, and the fence counter is not ahead of the clock
 * (`fenceCeiling`). Creates the item on first use with the fence seeded from the wall clock
 * (`fenceSeed`), and increments the fence on every acquire.
 */
export function acquireCommand(table: Table, write: AcquireWrite): UpdateItemCommand {
  const names: Record<string, string> = { '#token': ATTR.token, '#fence': ATTR.fence, '#owner': ATTR.owner };
  const values: Record<string, AttributeValue> = {
    ':token': S(write.token),
    ':seed': N(fenceSeed(write.wallNow)),
    ':one': N(1),
    // The counter may not run more than the slack ahead of the clock (see `FENCES_PER_MS`).
    ':ceiling': N(fenceCeiling(write.wallNow) - 1),
  };
  const { set, remove } = leaseWrites(table, write, names, values);
  set.push('#token = :token', '#fence = if_not_exists(#fence, :seed) + :one');
  if (write.owner === undefined) {
    remove.push('#owner');
  } else {
    set.push('#owner = :owner');
    values[':owner'] = S(write.owner);
  }
  const conditions = ['attribute_not_exists(#token)'];
  if (write.takeoverRvn !== undefined) {
    conditions.push('#rvn = :seenRvn');
    values[':seenRvn'] = S(write.takeoverRvn);
  }
  if (write.wallClockCutoff !== undefined) {
    conditions.push('#until < :cutoff');
    values[':cutoff'] = N(write.wallClockCutoff);
  }
  const input: UpdateItemCommandInput = {
    TableName: table.tableName,
    Key: itemKey(table, write.key),
    UpdateExpression: expression(set, remove),
    ConditionExpression: `(${conditions.join(' OR ')}) AND (attribute_not_exists(#fence) OR #fence <= :ceiling)`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ReturnValues: 'UPDATED_NEW',
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
  return new UpdateItemCommand(input);
}

export interface RenewWrite {
  readonly key: string;
  readonly token: string;
  readonly rvn: string;
  readonly ttlMs: number;
  readonly wallNow: number;
}

/**
 * Renew: a new version and lease, on condition that the token is still ours. With `fences`, also
 * draws that many fencing tokens for the holding's next holders (a local hand-over): the fence
 * attribute, which the acquire created, grows by `fences` and is returned (`UPDATED_NEW`).
 */
export function renewCommand(
  table: Table,
  write: RenewWrite,
  returnNew = false,
  fences = 0,
): UpdateItemCommand {
  const names: Record<string, string> = { '#token': ATTR.token };
  const values: Record<string, AttributeValue> = { ':token': S(write.token) };
  const { set, remove } = leaseWrites(table, write, names, values);
  let condition = '#token = :token';
  if (fences > 0) {
    names['#fence'] = ATTR.fence;
    values[':fences'] = N(fences);
    values[':ceiling'] = N(fenceCeiling(write.wallNow) - fences);
    set.push('#fence = #fence + :fences');
    condition += ' AND #fence <= :ceiling';
  }
  return new UpdateItemCommand({
    TableName: table.tableName,
    Key: itemKey(table, write.key),
    UpdateExpression: expression(set, remove),
    ConditionExpression: condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ReturnValues: returnNew ? 'ALL_NEW' : fences > 0 ? 'UPDATED_NEW' : 'NONE',
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  });
}

export interface ReleaseWrite {
  readonly key: string;
  /** Only release the holding of this token; `undefined`: whoever holds it (break). */
  readonly token: string | undefined;
  readonly rvn: string;
  readonly wallNow: number;
}

/**
 * Release: clears the holder (token, lease, owner) and writes a new version, keeping the item
 * and its fence counter, so fencing tokens never go back.
 */
export function releaseCommand(table: Table, write: ReleaseWrite): UpdateItemCommand {
  const names: Record<string, string> = {
    '#token': ATTR.token,
    '#rvn': ATTR.rvn,
    '#leaseMs': ATTR.leaseMs,
    '#until': ATTR.leaseUntil,
    '#owner': ATTR.owner,
  };
  const values: Record<string, AttributeValue> = { ':rvn': S(write.rvn) };
  const set = ['#rvn = :rvn'];
  if (table.gcAttribute) {
    names['#gc'] = table.gcAttribute;
    set.push('#gc = :gc');
    values[':gc'] = N(gcSeconds(table, write.wallNow));
  }
  let condition = 'attribute_exists(#token)';
  if (write.token !== undefined) {
    condition = '#token = :token';
    values[':token'] = S(write.token);
  }
  return new UpdateItemCommand({
    TableName: table.tableName,
    Key: itemKey(table, write.key),
    UpdateExpression: expression(set, ['#token', '#leaseMs', '#until', '#owner']),
    ConditionExpression: condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ReturnValues: 'NONE',
    ReturnValuesOnConditionCheckFailure: 'NONE',
  });
}

/** A strongly consistent read of one lock item. */
export function readCommand(table: Table, key: string): GetItemCommand {
  return new GetItemCommand({ TableName: table.tableName, Key: itemKey(table, key), ConsistentRead: true });
}

/** True for a failed condition; its `Item` is the item as it was (`ALL_OLD`), when requested. */
export function conditionFailed(
  error: unknown,
): error is { name: 'ConditionalCheckFailedException'; Item?: Record<string, AttributeValue> } {
  return (error as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException';
}

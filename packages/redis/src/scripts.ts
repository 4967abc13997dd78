import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/**
 * The Lua scripts, registered with ioredis `defineCommand`: each connection sends the script
 * once (EVAL), then EVALSHA, and falls back to EVAL on NOSCRIPT (a restarted or flushed node).
 * Pipelines use them too.
 */

// The acquire for the cases plain commands cannot decide atomically (see acquire.ts), and for
// servers before Redis 7.0. KEYS: lock, fence. ARGV: token, ttl ms, fencing ('1' | '0').
// {1, fence}: acquired (or already ours: an earlier attempt of this acquire landed; its TTL is reset).
// {0, pttl}: held by someone else.
const ACQUIRE = `
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if ARGV[3] == '1' then return {1, tonumber(redis.call('GET', KEYS[2]) or '0')} end
  return {1, 0}
end
if current then return {0, redis.call('PTTL', KEYS[1])} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[3] == '1' then return {1, redis.call('INCR', KEYS[2])} end
return {1, 0}
`;

// KEYS: lock, fence. ARGV: token, fence. Raises the counter to `fence` while we hold the lock here.
const RAISE_FENCE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[2]) then redis.call('SET', KEYS[2], ARGV[2]) end
return 1
`;

// KEYS: lock. ARGV: token, ttl ms. 1: extended; 0: not ours.
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

// KEYS: lock. ARGV: token, channel ('' for none). 1: deleted (and the token published to waiters); 0: not ours.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[1]) end
  return 1
end
return 0
`;

// KEYS: lock, fence. {token or false, pttl, fence}.
const INSPECT = `
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), tonumber(redis.call('GET', KEYS[2]) or '0')}
`;

type Arg = string | number;

/** A client (or pipeline) with leasekit's scripts defined. */
export interface ScriptCommands {
  leasekitAcquire(
    lock: string,
    fence: string,
    token: string,
    ttlMs: Arg,
    fencing: Arg,
  ): Promise<[number, number]>;
  leasekitRaiseFence(lock: string, fence: string, token: string, value: Arg): Promise<number>;
  leasekitRenew(lock: string, token: string, ttlMs: Arg): Promise<number>;
  leasekitRelease(lock: string, token: string, channel: string): Promise<number>;
  leasekitInspect(lock: string, fence: string): Promise<[string | null, number, number]>;
}

export type ScriptedClient = (Redis | Cluster) & ScriptCommands;

const definitions = {
  leasekitAcquire: { numberOfKeys: 2, lua: ACQUIRE },
  leasekitRaiseFence: { numberOfKeys: 2, lua: RAISE_FENCE },
  leasekitRenew: { numberOfKeys: 1, lua: RENEW },
  leasekitRelease: { numberOfKeys: 1, lua: RELEASE },
  leasekitInspect: { numberOfKeys: 2, lua: INSPECT, readOnly: true },
} as const;

/** Defines the scripts on a client (idempotent; names are prefixed so they cannot clash). */
export function defineScripts(client: Redis | Cluster): ScriptedClient {
  const scripted = client as ScriptedClient;
  if (typeof scripted.leasekitAcquire !== 'function') {
    for (const [name, definition] of Object.entries(definitions)) client.defineCommand(name, definition);
  }
  return scripted;
}

/**
 * The renew script for raw pipelines: `renewMany` sends thousands of them at once, and ioredis'
 * per-command script wrapper (a NOSCRIPT fallback promise for each) costs more than the command.
 */
export const RENEW_SCRIPT: { readonly lua: string; readonly sha: string } = {
  lua: RENEW,
  sha: createHash('sha1').update(RENEW).digest('hex'),
};

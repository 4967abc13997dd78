import { createHash } from 'node:crypto';
import { isReplyError } from './errors.js';

/** The Lua scripts, run by `LockNode.evalScript` (pipelines send `EVALSHA` themselves). */

// The acquire (see acquire.ts). KEYS: lock, fence. ARGV: token, ttl ms, fencing ('1' | '0').
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

// KEYS: lock, fence. ARGV: token, ttl ms, fences, channel. A renewal that also counts the next
// holders of this holding (local hand-overs): {count, subscribers}, the new count (> 0), or 1
// when `fences` is 0 (no fencing), and how many wait for the key's release here (its channel's
// subscribers: waiters elsewhere); {0, 0}: not ours. (PUBSUB last: servers before 5.0 refuse a
// write after a non-deterministic command in a script.)
const HAND_OVER = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, 0} end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local count = 1
if ARGV[3] ~= '0' then count = redis.call('INCRBY', KEYS[2], ARGV[3]) end
return {count, redis.call('PUBSUB', 'NUMSUB', ARGV[4])[2]}
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

/** A Lua script: run with `EVALSHA`, with `EVAL` (which also caches it) as the fallback. */
export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
  readonly keys: number;
}

const script = (lua: string, keys: number): LuaScript => ({
  lua,
  keys,
  sha: createHash('sha1').update(lua).digest('hex'),
});

export const ACQUIRE_SCRIPT: LuaScript = script(ACQUIRE, 2);
export const RAISE_FENCE_SCRIPT: LuaScript = script(RAISE_FENCE, 2);
export const RENEW_SCRIPT: LuaScript = script(RENEW, 1);
export const HAND_OVER_SCRIPT: LuaScript = script(HAND_OVER, 2);
export const RELEASE_SCRIPT: LuaScript = script(RELEASE, 1);
export const INSPECT_SCRIPT: LuaScript = script(INSPECT, 2);

/** The server does not have the script cached. */
export function isNoScript(error: unknown): boolean {
  return isReplyError(error) && error.message.startsWith('NOSCRIPT');
}

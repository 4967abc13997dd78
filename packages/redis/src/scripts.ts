import { createHash } from 'node:crypto';
import { isReplyError } from './errors.js';

/** The Lua scripts, run by `LockNode.evalScript` (pipelines send `EVALSHA` themselves). */

// The acquire (see acquire.ts). KEYS: lock, fence, owner. ARGV: token, ttl ms, fencing ('1' | '0'),
// owner ('' for none). The owner key holds `token\nowner`, with the lock key's TTL (renewed and
// deleted by the same scripts); INSPECT tells it only while that token holds the lock, so one
// left behind (by an older client's release, say) is never shown for another holder.
// {1, fence}: acquired (or already ours: an earlier attempt of this acquire landed; its TTL is reset).
// {0, pttl}: held by someone else.
const ACQUIRE = `
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if ARGV[4] ~= '' then redis.call('SET', KEYS[3], ARGV[1] .. '\\n' .. ARGV[4], 'PX', ARGV[2]) end
  if ARGV[3] == '1' then return {1, tonumber(redis.call('GET', KEYS[2]) or '0')} end
  return {1, 0}
end
if current then return {0, redis.call('PTTL', KEYS[1])} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[4] ~= '' then redis.call('SET', KEYS[3], ARGV[1] .. '\\n' .. ARGV[4], 'PX', ARGV[2]) end
if ARGV[3] == '1' then return {1, redis.call('INCR', KEYS[2])} end
return {1, 0}
`;

// KEYS: lock, fence. ARGV: token, fence. Raises the counter to `fence` while we hold the lock here.
const RAISE_FENCE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[2]) then redis.call('SET', KEYS[2], ARGV[2]) end
return 1
`;

// KEYS: lock, owner. ARGV: token, ttl ms. 1: extended; 0: not ours.
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

// KEYS: lock, fence, owner. ARGV: token, ttl ms, fences, channel. A renewal that also counts the next
// holders of this holding (local hand-overs): {count, subscribers}, the new count (> 0), or 1
// when `fences` is 0 (no fencing), and how many wait for the key's release here (its channel's
// subscribers: waiters elsewhere); {0, 0}: not ours. (PUBSUB last: servers before 5.0 refuse a
// write after a non-deterministic command in a script.)
const HAND_OVER = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, 0} end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
local count = 1
if ARGV[3] ~= '0' then count = redis.call('INCRBY', KEYS[2], ARGV[3]) end
return {count, redis.call('PUBSUB', 'NUMSUB', ARGV[4])[2]}
`;

// KEYS: lock, owner. ARGV: token, channel ('' for none). 1: deleted (and the token published to waiters); 0: not ours.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[1]) end
  return 1
end
return 0
`;

// KEYS: lock, fence, owner. {token or false, pttl, fence, the holder's owner or false}.
const INSPECT = `
local token = redis.call('GET', KEYS[1])
local owner = false
if token then
  local stored = redis.call('GET', KEYS[3])
  local prefix = token .. '\\n'
  if stored and string.sub(stored, 1, #prefix) == prefix then owner = string.sub(stored, #prefix + 1) end
end
return {token, redis.call('PTTL', KEYS[1]), tonumber(redis.call('GET', KEYS[2]) or '0'), owner}
`;

/** A Lua script: run with `EVALSHA`, with `EVAL` (which also caches it) as the fallback. */
export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
  readonly keys: number;
  /** Its number in `BATCH_SCRIPT` (1-based). */
  readonly index: number;
}

const batchable: LuaScript[] = [];

const script = (lua: string, keys: number): LuaScript => {
  const defined = { lua, keys, sha: sha1(lua), index: batchable.length + 1 };
  batchable.push(defined);
  return defined;
};

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

export const ACQUIRE_SCRIPT: LuaScript = script(ACQUIRE, 3);
export const RAISE_FENCE_SCRIPT: LuaScript = script(RAISE_FENCE, 2);
export const RENEW_SCRIPT: LuaScript = script(RENEW, 2);
export const HAND_OVER_SCRIPT: LuaScript = script(HAND_OVER, 3);
export const RELEASE_SCRIPT: LuaScript = script(RELEASE, 2);
export const INSPECT_SCRIPT: LuaScript = script(INSPECT, 3);

// Many scripts' calls in one: ARGV is, per call, the script's number, its count of arguments and
// those arguments; KEYS, every call's keys in turn. Each call runs in its own `pcall`, so that one
// call's error is its own answer (an error reply in the array), not the whole batch's. Effects
// replication first (Redis 3.2 and 4; the default from 5): without it a script may not write after
// a non-deterministic command (`PTTL`, `PUBSUB`), which an earlier call of the batch may have run
// (before Redis 3.2, such a call fails alone, with that error).
const BATCH = `
if redis.replicate_commands then redis.replicate_commands() end
local scripts = {
${batchable.map((s) => `function(KEYS, ARGV)\n${s.lua}\nend`).join(',\n')}
}
local nkeys = {${batchable.map((s) => s.keys).join(', ')}}
local results = {}
local k, a, n = 0, 1, 0
while a <= #ARGV do
  local index, nargs = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local keys, args = {}, {}
  for i = 1, nkeys[index] do keys[i] = KEYS[k + i] end
  for i = 1, nargs do args[i] = ARGV[a + 1 + i] end
  k, a, n = k + nkeys[index], a + 2 + nargs, n + 1
  local ok, result = pcall(scripts[index], keys, args)
  if not ok then
    if type(result) ~= 'table' or not result.err then result = {err = tostring(result)} end
  elseif result == nil then
    result = false
  end
  results[n] = result
end
return results
`;

/** Runs a list of calls to the scripts above: see `LockNode.evalScript`. Its key count varies. */
export const BATCH_SCRIPT: LuaScript = { lua: BATCH, keys: 0, sha: sha1(BATCH), index: 0 };

/** The server does not have the script cached. */
export function isNoScript(error: unknown): boolean {
  return isReplyError(error) && error.message.startsWith('NOSCRIPT');
}

import { createHash } from 'node:crypto';
import { isReplyError } from './errors.js';

/** The Lua scripts, run by `LockNode.evalScript` (pipelines send `EVALSHA` themselves). */

// Wakes the first waiter registered on this node for the key (see notifier.ts): takes members off
// the front of the waiters set until one is a channel somebody listens on (PUBLISH answers how
// many clients heard it: a process that died, or its connection, no longer counts). The message
// is the lock key's name, prefixed with its length in bytes, then the wake-up's id (one per
// release, the same on every node, so that a waiter can tell the nodes' copies of it). On a
// Cluster node (ARGV[cluster] '1') PUBLISH counts only the listeners connected to that node, so
// the first waiter is taken off and woken whether it listens or not. Inside a script whose
// KEYS[waiters] is the set and whose ARGV[name], ARGV[id], ARGV[cluster] are the message's parts
// and the flag. The set's changes depend on PUBLISH's answer: effects replication (Redis 3.2 and
// 4; the default from 5) replicates the changes, not the script.
const wakeNext = (waiters: number, name: number, id: number, cluster: number) => `
local message = #ARGV[${name}] .. ':' .. ARGV[${name}] .. ARGV[${id}]
while true do
  local first = redis.call('ZRANGE', KEYS[${waiters}], 0, 0)[1]
  if not first then break end
  redis.call('ZREM', KEYS[${waiters}], first)
  if redis.call('PUBLISH', first, message) > 0 or ARGV[${cluster}] == '1' then break end
end`;

const EFFECTS = `if redis.replicate_commands then redis.replicate_commands() end`;

// The acquire (see acquire.ts). KEYS: lock, fence, owner, waiters. ARGV: token, ttl ms, fencing
// ('1' | '0'), owner ('' for none), waiter (this backend's wake channel; '' when it will not
// wait), woken ('1': this attempt follows a wake-up, which took the waiter off the set), stay
// ('1': other callers of this backend wait for the key too, so taking it keeps its place). The owner
// key holds `token\nowner`, with the lock key's TTL (renewed and deleted by the same scripts);
// INSPECT tells it only while that token holds the lock, so one left behind (by an older client's
// release, say) is never shown for another holder. A waiter whose attempt finds the key held joins
// the end of the key's waiters set (once: it keeps its place while it waits), or its front when a
// wake-up took it off and somebody else got in first (a waiter slow to be scheduled must not lose
// its place to whoever attempts sooner); taking the key takes it off. The set expires a minute
// after the last attempt that found the key held (a waiter attempts again at least every
// `retry.max`; one that stopped waiting leaves it, or is taken off by the wake-up it passes on).
// {1, fence}: acquired (or already ours: an earlier attempt of this acquire landed; its TTL is
// reset). {0, pttl}: held by someone else.
const ACQUIRE = `
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then
  if ARGV[5] ~= '' then
    if not redis.call('ZSCORE', KEYS[4], ARGV[5]) then
      local score
      if ARGV[6] == '1' then
        score = (tonumber(redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')[2]) or 1) - 1
      else
        score = (tonumber(redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')[2]) or 0) + 1
      end
      redis.call('ZADD', KEYS[4], score, ARGV[5])
    end
    redis.call('PEXPIRE', KEYS[4], 60000)
  end
  return {0, redis.call('PTTL', KEYS[1])}
end
if ARGV[5] ~= '' and ARGV[7] ~= '1' then redis.call('ZREM', KEYS[4], ARGV[5]) end
if ARGV[4] ~= '' then redis.call('SET', KEYS[3], ARGV[1] .. '\\n' .. ARGV[4], 'PX', ARGV[2]) end
if current then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if ARGV[3] == '1' then return {1, tonumber(redis.call('GET', KEYS[2]) or '0')} end
  return {1, 0}
end
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

// KEYS: lock, owner. ARGV: token, ttl ms. 1: extended; 0: not ours.
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

// KEYS: lock, fence, owner, waiters. ARGV: token, ttl ms, fences, this backend's wake channel
// ('' for none). A renewal that also counts the next holders of this holding (local hand-overs):
// {count, waiting}, the new count (> 0), or 1 when `fences` is 0 (no fencing), and how many
// others wait for the key here (its waiters set, less this backend's own place); {0, 0}: not ours.
const HAND_OVER = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, 0} end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
local count = 1
if ARGV[3] ~= '0' then count = redis.call('INCRBY', KEYS[2], ARGV[3]) end
local waiting = redis.call('ZCARD', KEYS[4])
if ARGV[4] ~= '' and redis.call('ZSCORE', KEYS[4], ARGV[4]) then waiting = waiting - 1 end
return {count, waiting}
`;

// KEYS: lock, owner, waiters. ARGV: token, the lock key's name ('' to wake nobody), the wake-up's
// id, cluster ('1' on a Cluster node). 1: deleted, and the first waiter woken; 0: not ours.
const RELEASE = `
${EFFECTS}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
if ARGV[2] ~= '' then${wakeNext(3, 2, 3, 4)}
end
return 1
`;

// KEYS: lock, waiters. ARGV: the lock key's name, the wake-up's id, this backend's wake channel,
// cluster ('1' on a Cluster node). A backend that no longer waits for the key leaves its waiters
// set and, when the key is free, wakes the next waiter (it was woken itself, or may have been).
// 1: woke the next; 0: the key is held (its holder's release wakes the next).
const PASS_ON = `
${EFFECTS}
redis.call('ZREM', KEYS[2], ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end${wakeNext(2, 1, 2, 4)}
return 1
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

export const ACQUIRE_SCRIPT: LuaScript = script(ACQUIRE, 4);
export const RAISE_FENCE_SCRIPT: LuaScript = script(RAISE_FENCE, 2);
export const RENEW_SCRIPT: LuaScript = script(RENEW, 2);
export const HAND_OVER_SCRIPT: LuaScript = script(HAND_OVER, 4);
export const RELEASE_SCRIPT: LuaScript = script(RELEASE, 3);
export const PASS_ON_SCRIPT: LuaScript = script(PASS_ON, 2);
export const INSPECT_SCRIPT: LuaScript = script(INSPECT, 3);

// Many scripts' calls in one: ARGV is, per call, the script's number, its count of arguments and
// those arguments; KEYS, every call's keys in turn. Each call runs in its own `pcall`, so that one
// call's error is its own answer (an error reply in the array), not the whole batch's. Effects
// replication first (Redis 3.2 and 4; the default from 5): without it a script may not write after
// a non-deterministic command, which an earlier call of the batch may have run (before Redis 3.2,
// such a call fails alone, with that error).
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

//! The Lua scripts: one per kind of change, each run atomically by Redis (loaded once, then
//! called by SHA with `EVALSHA`; the client loads a script again when a restarted server
//! answers `NOSCRIPT`).
//!
//! Every script touches only the keys it is passed, and all of them belong to one owner (or
//! to the key store), so they share one hash slot: the scripts run unchanged on Redis Cluster.
//!
//! Times travel as integer milliseconds. Redis converts integral Lua numbers to exact
//! integers when they are passed to `redis.call`, and the scripts return the stored strings
//! themselves, so no time loses precision on the way.
//!
//! A task is returned as nine strings, in the order of [`TASK_FIELDS`].

use std::sync::LazyLock;

use redis::Script;

/// The task fields every script returns, in this order.
pub(crate) const TASK_FIELDS: [&str; 9] = [
    "owner", "topic", "depth", "status", "count", "created", "updated", "expires", "hard",
];

/// Shared helpers, prepended to every research script.
const PRELUDE: &str = r#"
local function read(key)
  return redis.call('HMGET', key, 'owner', 'topic', 'depth', 'status', 'count',
    'created', 'updated', 'expires', 'hard')
end
local function visible(t, owner, now)
  return t[1] and t[1] == owner and tonumber(t[8]) > now
end
local function reply(tag, t, ...)
  local out = {tag}
  for i = 1, 9 do out[#out + 1] = t[i] end
  for _, v in ipairs({...}) do out[#out + 1] = v end
  return out
end
local function expire_task(keys, at)
  for _, k in ipairs(keys) do redis.call('PEXPIREAT', k, at) end
end
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}{body}"))
}

/// Starts a task, or answers from the idempotency key.
///
/// KEYS: 1 task, 2 start keys, 3 meta, 4 list all, 5 list running, 6 the task the key is
/// expected to name (or the new task again).
/// ARGV: 1 id, 2 owner, 3 topic, 4 depth, 5 now, 6 expires, 7 hard, 8 key or '',
/// 9 max live tasks, 10 the id the key is expected to name or '', 11 list member,
/// 12 key expiry (ms).
///
/// Replies: `moved <id>` (the key names another task than expected: call again with it),
/// `existing <task>`, `exists` (the id is taken), `quota`, `created <task>`.
pub(crate) static START: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = tonumber(ARGV[5])
local key = ARGV[8]
if key ~= '' then
  local cur = redis.call('HGET', KEYS[2], key)
  if cur then
    if cur ~= ARGV[10] then return {'moved', cur} end
    local t = read(KEYS[6])
    if visible(t, ARGV[2], now) then return reply('existing', t) end
    -- The key's task expired (not swept yet): the key is free again.
    redis.call('HDEL', KEYS[2], key)
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then
  return {'exists'}
end
if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[9]) then return {'quota'} end
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'topic', ARGV[3], 'depth', ARGV[4],
  'status', 'running', 'count', '0', 'created', ARGV[5], 'updated', ARGV[5],
  'expires', ARGV[6], 'hard', ARGV[7], 'm', ARGV[11], 'ikey', key)
redis.call('PEXPIREAT', KEYS[1], ARGV[12])
redis.call('HSET', KEYS[3], ARGV[1], '0|' .. ARGV[11] .. '|' .. key)
redis.call('ZADD', KEYS[4], 0, ARGV[11])
redis.call('ZADD', KEYS[5], 0, ARGV[11])
if key ~= '' then redis.call('HSET', KEYS[2], key, ARGV[1]) end
return reply('created', read(KEYS[1]))
"#,
    )
});

/// Appends findings and sets the status: append, complete, cancel.
///
/// KEYS: 1 task, 2 findings, 3 append keys, 4 meta, 5 owner bytes, 6 list running,
/// 7 list of the new status.
/// ARGV: 1 id, 2 owner, 3 now, 4 idle deadline, 5 per-task limit, 6 new status,
/// 7 owner byte quota, 8 bytes added, 9 append key or '', 10 digest, 11 key-expiry grace
/// (ms), 12… findings.
///
/// Replies: `nf`, `replay <task> <digest:last index>`, `refused <status> <count> <owner
/// bytes>`, `ok <task>`.
pub(crate) static CHANGE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = tonumber(ARGV[3])
local t = read(KEYS[1])
if not visible(t, ARGV[2], now) then return {'nf'} end
local akey = ARGV[9]
if akey ~= '' then
  local prev = redis.call('HGET', KEYS[3], akey)
  if prev then return reply('replay', t, prev) end
end
local n = #ARGV - 11
local count = tonumber(t[5])
local used = tonumber(redis.call('GET', KEYS[5]) or '0')
local adding = tonumber(ARGV[8])
if t[4] ~= 'running'
  or (n > 0 and count + n > tonumber(ARGV[5]))
  or (adding > 0 and used + adding > tonumber(ARGV[7])) then
  return {'refused', t[4], tostring(count), tostring(used)}
end
local i = 12
while i <= #ARGV do
  local j = math.min(i + 999, #ARGV)
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, j))
  i = j + 1
end
count = count + n
local exp = t[9]
if tonumber(ARGV[4]) < tonumber(t[9]) then exp = ARGV[4] end
redis.call('HSET', KEYS[1], 'count', count, 'status', ARGV[6], 'updated', ARGV[3],
  'expires', exp)
local m = redis.call('HGET', KEYS[1], 'm')
if adding > 0 then
  redis.call('INCRBY', KEYS[5], adding)
  local v = redis.call('HGET', KEYS[4], ARGV[1])
  if v then
    local b, mm, k = string.match(v, '^(%d+)|([^|]*)|(.*)$')
    redis.call('HSET', KEYS[4], ARGV[1], tostring(tonumber(b) + adding) .. '|' .. mm .. '|' .. k)
  end
end
if ARGV[6] ~= t[4] then
  redis.call('ZREM', KEYS[6], m)
  redis.call('ZADD', KEYS[7], 0, m)
end
if akey ~= '' then redis.call('HSET', KEYS[3], akey, ARGV[10] .. ':' .. count) end
expire_task({KEYS[1], KEYS[2], KEYS[3]}, tonumber(exp) + tonumber(ARGV[11]))
return reply('ok', read(KEYS[1]))
"#,
    )
});

/// Pushes a live task's idle deadline forward (never back, never past its hard deadline).
///
/// KEYS: 1 task, 2 findings, 3 append keys. ARGV: 1 owner, 2 target, 3 now, 4 grace.
/// Replies: `nf`, `ok <task>`.
pub(crate) static REFRESH: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local t = read(KEYS[1])
if not visible(t, ARGV[1], tonumber(ARGV[3])) then return {'nf'} end
local target = ARGV[2]
if tonumber(t[9]) < tonumber(target) then target = t[9] end
if tonumber(t[8]) < tonumber(target) then
  redis.call('HSET', KEYS[1], 'expires', target)
  expire_task({KEYS[1], KEYS[2], KEYS[3]}, tonumber(target) + tonumber(ARGV[4]))
end
return reply('ok', read(KEYS[1]))
"#,
    )
});

/// A task and one page of its findings, from one snapshot.
///
/// KEYS: 1 task, 2 findings. ARGV: 1 owner, 2 now, 3 after, 4 limit.
/// Replies: `nf`, `ok <task> <finding>…`.
pub(crate) static PAGE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local t = read(KEYS[1])
if not visible(t, ARGV[1], tonumber(ARGV[2])) then return {'nf'} end
local limit = tonumber(ARGV[4])
if limit <= 0 then return reply('ok', t) end
local after = tonumber(ARGV[3])
local out = reply('ok', t)
for _, f in ipairs(redis.call('LRANGE', KEYS[2], after, after + limit - 1)) do
  out[#out + 1] = f
end
return out
"#,
    )
});

/// Deletes one task if it has expired (or Redis expired its keys already), with its
/// findings, keys and index entries, and frees what it counted against its owner.
///
/// KEYS: 1 task, 2 findings, 3 append keys, 4 meta, 5 owner bytes, 6 start keys,
/// 7 list all, 8 list running, 9 list complete, 10 list cancelled.
/// ARGV: 1 id, 2 now.
/// Replies: `gone` (nothing to delete), `live <expires>`, `deleted`.
pub(crate) static SWEEP_ONE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local v = redis.call('HGET', KEYS[4], ARGV[1])
if not v then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return {'gone'}
end
local exp = redis.call('HGET', KEYS[1], 'expires')
if exp and tonumber(exp) > tonumber(ARGV[2]) then return {'live', exp} end
local b, m, k = string.match(v, '^(%d+)|([^|]*)|(.*)$')
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HDEL', KEYS[4], ARGV[1])
if tonumber(b) > 0 and redis.call('DECRBY', KEYS[5], b) <= 0 then
  redis.call('DEL', KEYS[5])
end
if k ~= '' and redis.call('HGET', KEYS[6], k) == ARGV[1] then
  redis.call('HDEL', KEYS[6], k)
end
for i = 7, 10 do redis.call('ZREM', KEYS[i], m) end
return {'deleted'}
"#,
    )
});

/// Writes one imported task verbatim unless its id exists.
///
/// KEYS: 1 task, 2 meta, 3 list all, 4 list of its status.
/// ARGV: 1 id, 2 owner, 3 topic, 4 depth, 5 status, 6 count, 7 created, 8 updated,
/// 9 expires, 10 hard, 11 list member, 12 key expiry.
/// Replies 1 when written, 0 when skipped.
pub(crate) static IMPORT_ONE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'topic', ARGV[3], 'depth', ARGV[4],
  'status', ARGV[5], 'count', ARGV[6], 'created', ARGV[7], 'updated', ARGV[8],
  'expires', ARGV[9], 'hard', ARGV[10], 'm', ARGV[11], 'ikey', '')
redis.call('PEXPIREAT', KEYS[1], ARGV[12])
redis.call('HSET', KEYS[2], ARGV[1], '0|' .. ARGV[11] .. '|')
redis.call('ZADD', KEYS[3], 0, ARGV[11])
redis.call('ZADD', KEYS[4], 0, ARGV[11])
return 1
"#,
    )
});

/// Stores a record (a signing or API key) unless it exists.
///
/// KEYS: 1 set of ids, 2 the record's hash. ARGV: 1 id, then field, value pairs.
/// Replies 1 when stored, 0 when the id exists.
pub(crate) static INSERT_RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
redis.call('SADD', KEYS[1], ARGV[1])
return 1
"#,
    )
});

/// Replaces a signing key's secret and lifecycle times (empty: none), keeping `created`.
///
/// KEYS: 1 the key's hash. ARGV: 1 secret, 2 promoted, 3 retired. Replies 1 or 0 (no key).
pub(crate) static UPDATE_SIGNING_KEY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'secret', ARGV[1], 'promoted', ARGV[2], 'retired', ARGV[3])
return 1
"#,
    )
});

/// Revokes an API key at `now` unless it was revoked before.
///
/// KEYS: 1 the key's hash. ARGV: 1 now. Replies 1 or 0 (no key).
pub(crate) static REVOKE_API_KEY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if (redis.call('HGET', KEYS[1], 'revoked') or '') == '' then
  redis.call('HSET', KEYS[1], 'revoked', ARGV[1])
end
return 1
"#,
    )
});

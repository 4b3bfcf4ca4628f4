//! The Lua scripts that keep presence in Redis. Each one runs atomically in Redis, which is
//! what makes "first connection joins, last connection leaves" and the sequence numbers hold
//! across nodes: the registry rule, the `INCR` of the sequence number and the `PUBLISH` of the
//! event happen in one step, so events leave Redis in sequence order.
//!
//! Every script is the shared prelude (`scripts.lua`: key layout and helpers) followed by its
//! body. `ARGV[1]` is the key prefix, `ARGV[2]` the app id and `ARGV[3]` the channel where a
//! script concerns one channel.

use std::sync::LazyLock;

use redis::Script;

const PRELUDE: &str = include_str!("scripts.lua");

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

/// `join`: ARGV 4 conn, 5 client, 6 mode, 7 data, 8 member limit, 9 node, 10 newly subscribing
/// (1/0), 11 now. Returns `{'already'}`, `{'full'}`, or `{'ok', kind, occupied, seq, m, t, k}`
/// (the snapshot after the join).
pub(super) static JOIN: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local k = keys(ARGV[2], ARGV[3])
local conn, client, ts = ARGV[4], ARGV[5], ARGV[11]
if redis.call('HEXISTS', k.c, conn) == 1 then return {'already'} end
if redis.call('HEXISTS', k.m, client) == 0 and redis.call('HLEN', k.m) >= tonumber(ARGV[8]) then
  return {'full'}
end
local occupied = 0
if ARGV[10] == '1' then occupied = subscribe(k, ARGV[9]) end
local kind, reason = add_conn(k, conn, client, ARGV[6], ARGV[7], ts)
emit(k, ts, kind, conn, reason, member_json(k, client))
local snap = snapshot(k)
return {'ok', kind, occupied, snap[1], snap[2], snap[3], snap[4]}
",
    )
});

/// `watch`: ARGV 4 node. Returns `{occupied, seq, m, t, k}`.
pub(super) static WATCH: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local k = keys(ARGV[2], ARGV[3])
local occupied = subscribe(k, ARGV[4])
local snap = snapshot(k)
return {occupied, snap[1], snap[2], snap[3], snap[4]}
",
    )
});

/// `leave` (and unsubscribe): ARGV 4 conn, 5 node, 6 unsubscribing (1/0), 7 now. Returns
/// `{kind, seq, client, vacated}`; `kind` is `''` when the connection was only watching.
pub(super) static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local k = keys(ARGV[2], ARGV[3])
local kind, seq, client = leave_conn(k, ARGV[4], ARGV[7])
local vacated = 0
if ARGV[6] == '1' then vacated = unsubscribe(k, ARGV[5], false) end
return {kind, seq, client, vacated}
",
    )
});

/// `update`, as a compare-and-set on the member's data: ARGV 4 conn, 5 the data the change was
/// computed from, 6 the new data, 7 now. Returns `{'not_joined'}`, `{'conflict', current}`,
/// `{'unchanged', seq}` or `{'ok', seq}`.
pub(super) static UPDATE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local k = keys(ARGV[2], ARGV[3])
local client = redis.call('HGET', k.c, ARGV[4])
if not client then return {'not_joined'} end
local old = redis.call('HGET', k.m, client)
if old ~= ARGV[5] then return {'conflict', old} end
if old == ARGV[6] then return {'unchanged', current_seq(k)} end
redis.call('HSET', k.m, client, ARGV[6])
touch(k, client, ARGV[7])
return {'ok', emit(k, ARGV[7], 'updated', ARGV[4], 'data', member_json(k, client))}
",
    )
});

/// A sequenced message: ARGV 4 de-duplication key (`''` for none), 5 the event's JSON after
/// its opening `{"seq":N,`, 6 only when the channel has a subscriber somewhere (1/0). Returns
/// `{'ok', seq}`, `{'duplicate', seq}` or `{'vacant', 0}`.
pub(super) static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local k = keys(ARGV[2], ARGV[3])
if ARGV[6] == '1' and redis.call('SISMEMBER', k.chans, k.name) == 0 then return {'vacant', 0} end
if ARGV[4] ~= '' then
  local seen = redis.call('ZSCORE', k.ids, ARGV[4])
  if seen then return {'duplicate', tonumber(seen)} end
end
local seq = redis.call('INCR', k.s)
if ARGV[4] ~= '' then
  redis.call('ZADD', k.ids, seq, ARGV[4])
  redis.call('ZREMRANGEBYRANK', k.ids, 0, -1025)
end
send(k, seq, '{"seq":' .. seq .. ',' .. ARGV[5])
return {'ok', seq}
"#,
    )
});

/// The member list: returns `{seq, m, t, k}`.
pub(super) static SNAPSHOT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
return snapshot(keys(ARGV[2], ARGV[3]))
",
    )
});

/// The app's channels with a subscriber somewhere whose name starts with ARGV 3: returns
/// `{name, subscriptions, members, ...}`.
pub(super) static CHANNELS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local out = {}
for _, name in ipairs(redis.call('SMEMBERS', P .. ':app:' .. ARGV[2] .. ':chans')) do
  if string.sub(name, 1, #ARGV[3]) == ARGV[3] then
    local k = keys(ARGV[2], name)
    table.insert(out, name)
    table.insert(out, subscriptions(k))
    table.insert(out, redis.call('HLEN', k.m))
  end
end
return out
",
    )
});

/// One channel: returns `{subscriptions, members, present}`, where `present` says whether the
/// client ARGV 4 (`''` for none) is a member.
pub(super) static CHANNEL: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local k = keys(ARGV[2], ARGV[3])
local present = 0
if ARGV[4] ~= '' then present = redis.call('HEXISTS', k.m, ARGV[4]) end
return {subscriptions(k), redis.call('HLEN', k.m), present}
",
    )
});

/// Renews this node's lease: ARGV 2 node, 3 lease ms. Returns `{status, lapsed nodes}`:
/// `ok` when the lease was held, `reaped` when another node removed this node's entries,
/// `lost` when Redis forgot the node (a restart, or the first lease).
pub(super) static LEASE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nodes = P .. ':nodes'
local held = redis.call('ZSCORE', nodes, ARGV[2])
redis.call('ZADD', nodes, now + tonumber(ARGV[3]), ARGV[2])
local status = 'ok'
if not held then
  if redis.call('DEL', P .. ':reaped:' .. ARGV[2]) == 1 then status = 'reaped' else status = 'lost' end
end
return {status, redis.call('ZRANGEBYSCORE', nodes, '-inf', now)}
",
    )
});

/// Removes up to ARGV 4 of a dead node's (ARGV 2) presence entries, publishing a leave for
/// each member that had no other connection; once none remain, its subscriber counts and its
/// lease go too and the node is marked reaped. ARGV 3 now. Returns `{more, ...}`: `more` is 1
/// while entries remain, followed by (app, channel, client) for each member that left and
/// (app, channel, '') for each channel left without subscribers, for webhooks.
pub(super) static REAP: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local dead = ARGV[2]
local out = {1}
local function report(app, channel, client)
  table.insert(out, app)
  table.insert(out, channel)
  table.insert(out, client)
end
local entries = P .. ':node:' .. dead .. ':e'
for _, item in ipairs(redis.call('SPOP', entries, tonumber(ARGV[4]))) do
  local app, channel, conn = string.match(item, '^([^\n]*)\n([^\n]*)\n(.*)$')
  if app then
    local kind, _, client = leave_conn(keys(app, channel), conn, ARGV[3])
    if kind == 'left' then report(app, channel, client) end
  end
end
if redis.call('SCARD', entries) > 0 then return out end
local subs = P .. ':node:' .. dead .. ':s'
for _, item in ipairs(redis.call('SMEMBERS', subs)) do
  local app, channel = string.match(item, '^([^\n]*)\n(.*)$')
  if app and unsubscribe(keys(app, channel), dead, true) == 1 then report(app, channel, '') end
end
redis.call('DEL', subs)
local clients = P .. ':node:' .. dead .. ':cl'
for _, item in ipairs(redis.call('SMEMBERS', clients)) do
  local app, client = string.match(item, '^([^\n]*)\n(.*)$')
  if app then redis.call('HDEL', P .. ':cl:' .. app .. ':' .. client, dead) end
end
redis.call('DEL', clients)
redis.call('ZREM', P .. ':nodes', dead)
redis.call('SET', P .. ':reaped:' .. dead, '1', 'PX', 86400000)
out[1] = 0
return out
",
    )
});

/// Puts back one channel's entries of this node after Redis lost them: ARGV 4 node, 5 its
/// subscriber count, 6 the highest sequence number the node has delivered (the channel's
/// number never goes below it), 7 now, 8 `silent` (1: nobody saw these members leave, so no
/// event; 0: they were reaped, so they join again), then (conn, client, data, joined at)
/// quadruples: a member put back silently keeps the times it had.
pub(super) static RESTORE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local k = keys(ARGV[2], ARGV[3])
local node = ARGV[4]
if current_seq(k) < tonumber(ARGV[6]) then redis.call('SET', k.s, ARGV[6]) end
if tonumber(ARGV[5]) > 0 then
  redis.call('HSET', k.n, node, ARGV[5])
  redis.call('SADD', k.chans, k.name)
  redis.call('SADD', P .. ':node:' .. node .. ':s', k.app .. '\n' .. k.name)
end
local restored = 0
for i = 9, #ARGV, 4 do
  local conn, client = ARGV[i], ARGV[i + 1]
  if redis.call('HEXISTS', k.c, conn) == 0 then
    local at = ARGV[7]
    if ARGV[8] == '1' then at = ARGV[i + 3] end
    local kind, reason = add_conn(k, conn, client, 'initial', ARGV[i + 2], at)
    if ARGV[8] ~= '1' then emit(k, at, kind, conn, reason, member_json(k, client)) end
    restored = restored + 1
  end
end
return restored
",
    )
});

/// A client's connection count on this node: ARGV 2 app, 3 client, 4 node, 5 the number, 6
/// `add` (change by the number) or `set`.
pub(super) static CLIENT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
count_client(ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6] == 'add')
return 1
",
    )
});

/// How many connections a client has open over every node: ARGV 2 app, 3 client.
pub(super) static CLIENT_CONNECTIONS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local total = 0
for _, n in ipairs(redis.call('HVALS', P .. ':cl:' .. ARGV[2] .. ':' .. ARGV[3])) do
  total = total + tonumber(n)
end
return total
",
    )
});

/// The channel's log of recent sequenced events: returns `{seq, event, seq, event, ...}`,
/// oldest first.
pub(super) static LOG: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local out = {}
for _, entry in ipairs(redis.call('XRANGE', keys(ARGV[2], ARGV[3]).log, '-', '+')) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 's' then table.insert(out, fields[i + 1]) end
  end
  for i = 1, #fields, 2 do
    if fields[i] == 'e' then table.insert(out, fields[i + 1]) end
  end
end
return out
",
    )
});

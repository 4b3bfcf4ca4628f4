-- The part every rollcall script starts with (crates/server/src/cluster/scripts.rs appends one
-- body to it). ARGV[1] is always the key prefix. Keys are built here rather than passed in
-- KEYS because a node's reap touches channels the caller cannot list in advance; this is why
-- the engine needs a single Redis (or one shard) — see docs/cluster.md.
--
-- Per channel, under P:ch:APP:CHANNEL —
--   :m   hash  client id -> member data (JSON text, stored as received, never re-encoded)
--   :t   hash  client id -> "joined_at:updated_at" (Unix ms)
--   :k   hash  client id -> the member's connections, oldest first: "conn=joined_at,..."
--   :c   hash  connection id -> client id (connections in the channel's presence)
--   :s   string  the channel's sequence number
--   :n   hash  node -> how many of its connections subscribe (join or watch)
--   :ids zset  "sender\nmessage id" -> seq, the last 1024 published ids (de-duplication)
--   :log stream  the last ~64 sequenced events (fields s = seq, e = event), kept 2 minutes after
--        the last one: what a node whose pub/sub connection dropped missed meanwhile
-- P:app:APP:chans  set of the app's channels with a subscriber on some node
-- P:node:N:e       set of "APP\nCHANNEL\nCONN": node N's connections in presence (for the reap)
-- P:node:N:s       set of "APP\nCHANNEL": channels node N counts subscribers in
-- P:node:N:cl      set of "APP\nCLIENT": clients node N counts connections of
-- P:cl:APP:CLIENT  hash node -> the client's open connections on that node (for invitations)
-- P:inv:APP:ID     a pending invitation: "CLIENT\nCHANNEL" (expires with the invitation)
-- P:nodes          zset node -> lease expiry (Redis clock, ms)
-- P:reaped:N       marker: node N's entries were removed by another node
-- Events go out on the pub/sub channel P:ev:APP:CHANNEL, in sequence order; invitations and
-- their replies on P:ctl:APP, which every node subscribes to.

local P = ARGV[1]

local function keys(app, channel)
  local base = P .. ':ch:' .. app .. ':' .. channel
  return {
    m = base .. ':m', t = base .. ':t', k = base .. ':k', c = base .. ':c', s = base .. ':s',
    n = base .. ':n', ids = base .. ':ids', log = base .. ':log',
    chans = P .. ':app:' .. app .. ':chans',
    ev = P .. ':ev:' .. app .. ':' .. channel, app = app, name = channel,
  }
end

local function node_of(conn)
  return string.match(conn, '^(%d+)%.')
end

local function member_json(k, client)
  local ja, ua = string.match(redis.call('HGET', k.t, client), '^(%d+):(%d+)$')
  return '{"client_id":' .. cjson.encode(client) .. ',"data":' .. redis.call('HGET', k.m, client)
    .. ',"joined_at":' .. ja .. ',"updated_at":' .. ua
    .. ',"conns":' .. cjson.encode(redis.call('HGET', k.k, client) or '') .. '}'
end

local function current_seq(k)
  return tonumber(redis.call('GET', k.s) or '0')
end

-- Publishes a sequenced event, and keeps it in the channel's short log for nodes that missed it.
local function send(k, seq, event)
  redis.call('XADD', k.log, 'MAXLEN', '~', 64, '*', 's', seq, 'e', event)
  redis.call('PEXPIRE', k.log, 120000)
  redis.call('PUBLISH', k.ev, event)
end

-- Takes the next sequence number and publishes a presence event with it.
local function emit(k, ts, kind, conn, reason, member)
  local seq = redis.call('INCR', k.s)
  local event = '{"seq":' .. seq .. ',"ts":' .. ts .. ',"kind":"' .. kind .. '","conn":"' .. conn .. '"'
  if reason then
    event = event .. ',"reason":"' .. reason .. '"'
  end
  send(k, seq, event .. ',"member":' .. member .. '}')
  return seq
end

local function touch(k, client, ts)
  local ja = string.match(redis.call('HGET', k.t, client) or '', '^(%d+):') or ts
  redis.call('HSET', k.t, client, ja .. ':' .. ts)
end

-- Enters `conn` into presence as `client`: the registry rule of rollcall-core, first connection
-- joins, later ones add a connection. mode: replace | initial | keep. Returns kind, reason.
local function add_conn(k, conn, client, mode, data, ts)
  redis.call('HSET', k.c, conn, client)
  redis.call('SADD', P .. ':node:' .. node_of(conn) .. ':e', k.app .. '\n' .. k.name .. '\n' .. conn)
  if redis.call('HEXISTS', k.m, client) == 1 then
    redis.call('HSET', k.k, client, redis.call('HGET', k.k, client) .. ',' .. conn .. '=' .. ts)
    if mode == 'replace' then
      redis.call('HSET', k.m, client, data)
    end
    touch(k, client, ts)
    return 'updated', 'connection_added'
  end
  if mode == 'keep' then
    data = '{}'
  end
  redis.call('HSET', k.m, client, data)
  redis.call('HSET', k.t, client, ts .. ':' .. ts)
  redis.call('HSET', k.k, client, conn .. '=' .. ts)
  return 'joined', nil
end

-- Removes `conn` from presence and publishes what that means. Returns kind ('' when the
-- connection was not in presence), seq and the client id.
local function leave_conn(k, conn, ts)
  local client = redis.call('HGET', k.c, conn)
  if not client then
    return '', 0, ''
  end
  redis.call('HDEL', k.c, conn)
  redis.call('SREM', P .. ':node:' .. node_of(conn) .. ':e', k.app .. '\n' .. k.name .. '\n' .. conn)
  local rest = {}
  local mine = conn .. '='
  for item in string.gmatch(redis.call('HGET', k.k, client) or '', '[^,]+') do
    if string.sub(item, 1, #mine) ~= mine then
      table.insert(rest, item)
    end
  end
  redis.call('HSET', k.k, client, table.concat(rest, ','))
  touch(k, client, ts)
  local member = member_json(k, client)
  if #rest > 0 then
    return 'updated', emit(k, ts, 'updated', conn, 'connection_removed', member), client
  end
  redis.call('HDEL', k.m, client)
  redis.call('HDEL', k.t, client)
  redis.call('HDEL', k.k, client)
  return 'left', emit(k, ts, 'left', conn, nil, member), client
end

-- Counts one more subscriber on `node`. Returns 1 when the channel had none anywhere.
local function subscribe(k, node)
  local was = redis.call('SISMEMBER', k.chans, k.name)
  redis.call('HINCRBY', k.n, node, 1)
  redis.call('SADD', k.chans, k.name)
  redis.call('SADD', P .. ':node:' .. node .. ':s', k.app .. '\n' .. k.name)
  return 1 - was
end

-- Counts one subscriber fewer on `node` (all of them when `all`). Returns 1 when the channel
-- has none left anywhere; its sequence number is then forgotten, as nobody holds one.
local function unsubscribe(k, node, all)
  local left = 0
  if not all then
    left = redis.call('HINCRBY', k.n, node, -1)
  end
  if left <= 0 then
    redis.call('HDEL', k.n, node)
    redis.call('SREM', P .. ':node:' .. node .. ':s', k.app .. '\n' .. k.name)
  end
  if redis.call('HLEN', k.n) > 0 then
    return 0
  end
  redis.call('SREM', k.chans, k.name)
  if redis.call('HLEN', k.m) == 0 then
    redis.call('DEL', k.s, k.ids, k.log)
  end
  return 1
end

-- How many connections subscribe to the channel over every node.
local function subscriptions(k)
  local total = 0
  for _, n in ipairs(redis.call('HVALS', k.n)) do
    total = total + tonumber(n)
  end
  return total
end

local function snapshot(k)
  return {
    current_seq(k), redis.call('HGETALL', k.m), redis.call('HGETALL', k.t),
    redis.call('HGETALL', k.k),
  }
end

-- Sets (or changes by `delta`) how many connections `client` has open on `node`.
local function count_client(app, client, node, value, delta)
  local key = P .. ':cl:' .. app .. ':' .. client
  local n = value
  if delta then
    n = redis.call('HINCRBY', key, node, value)
  end
  if n > 0 then
    redis.call('HSET', key, node, n)
    redis.call('SADD', P .. ':node:' .. node .. ':cl', app .. '\n' .. client)
  else
    redis.call('HDEL', key, node)
    redis.call('SREM', P .. ':node:' .. node .. ':cl', app .. '\n' .. client)
  end
end

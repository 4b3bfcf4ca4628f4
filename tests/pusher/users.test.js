// The real pusher-js 8.x against a real rollcall: watchlist events on `pusher.user.watchlist`,
// authorized connections, and subscription counts on `pusher:subscription_count`.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  once, never, startServer, connectClient, subscribe, disconnect, within,
} = require('./helpers');

let server;
let strict;
const clients = [];

async function client(port, options) {
  const c = await connectClient(port, options);
  clients.push(c);
  return c;
}

/** Signs in and waits for `pusher:signin_success`. */
async function signin(c) {
  const done = within(new Promise((resolve) => {
    c.connection.bind('message', (m) => { if (m.event === 'pusher:signin_success') resolve(); });
  }), 'signin');
  c.signin();
  await done;
}

test.before(async () => {
  server = await startServer({ extraApp: 'enable_subscription_count = true' });
  strict = await startServer({
    extraApp: 'enable_authorized_connections = true\nauthorized_connection_timeout_ms = 500',
  });
});

test.afterEach(async () => {
  await Promise.all(clients.splice(0).map(disconnect));
});

test.after(async () => {
  await Promise.all([server.stop(), strict.stop()]);
});

test('watchlist: the current status at signin, then online and offline as users come and go', async () => {
  const carol = await client(server.port, { user: { user_id: 'carol' } });
  await signin(carol);

  const ann = await client(server.port, { user: { user_id: 'ann', watchlist: ['bob', 'carol'] } });
  const firstOnline = once(ann.user.watchlist, 'online', 'the initial online event');
  const firstOffline = once(ann.user.watchlist, 'offline', 'the initial offline event');
  ann.signin();
  assert.deepEqual(await firstOnline, { name: 'online', user_ids: ['carol'] });
  assert.deepEqual(await firstOffline, { name: 'offline', user_ids: ['bob'] });

  const online = once(ann.user.watchlist, 'online', 'bob online');
  const bob = await client(server.port, { user: { user_id: 'bob' } });
  await signin(bob);
  assert.deepEqual(await online, { name: 'online', user_ids: ['bob'] });

  // A second connection of bob's changes nothing; his last one going takes him offline.
  const bobTab = await client(server.port, { user: { user_id: 'bob' } });
  await signin(bobTab);
  await never(ann.user.watchlist, 'online', 300);
  const offline = once(ann.user.watchlist, 'offline', 'bob offline');
  await disconnect(bob);
  await never(ann.user.watchlist, 'offline', 300);
  await disconnect(bobTab);
  assert.deepEqual(await offline, { name: 'offline', user_ids: ['bob'] });
});

test('subscription_count: pusher-js sees the channel\'s count change', async () => {
  const a = await client(server.port, { user: { user_id: 'a' } });
  const { channel } = await subscribe(a, 'counted');
  const two = within(new Promise((resolve) => {
    channel.bind('pusher:subscription_count', (d) => { if (d.subscription_count === 2) resolve(d); });
  }), 'a count of 2');
  const b = await client(server.port, { user: { user_id: 'b' } });
  await subscribe(b, 'counted');
  assert.deepEqual(await two, { subscription_count: 2 });
  assert.equal(channel.subscriptionCount, 2);
});

test('authorized connections: a socket that never signs in is closed with 4009', async () => {
  const idle = await client(strict.port, { user: { user_id: 'idle' } });
  await subscribe(idle, 'public-only');
  const errors = [];
  idle.connection.bind('error', (e) => errors.push(e));
  await once(idle.connection, 'disconnected', 'the unauthorized connection to be closed');
  assert.ok(errors.some((e) => e.data && e.data.code === 4009), JSON.stringify(errors));
  // 4009 is in Pusher's "do not reconnect" range: pusher-js stays disconnected.
  await never(idle.connection, 'connected', 500);
});

test('authorized connections: signing in or a private subscription keeps the socket', async () => {
  const signed = await client(strict.port, { user: { user_id: 'ann' } });
  await signin(signed);
  const priv = await client(strict.port, { user: { user_id: 'bob' } });
  await subscribe(priv, 'private-room');
  await Promise.all([
    never(signed.connection, 'disconnected', 900),
    never(priv.connection, 'disconnected', 900),
  ]);
  assert.equal(signed.connection.state, 'connected');
  assert.equal(priv.connection.state, 'connected');
});

// The real Laravel Echo 2.x (on pusher-js) against a real rollcall: presence via join/here/
// joining/leaving, whispers, and server-triggered broadcasts.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { APP, Pusher, startServer, serverSdk, within, once } = require('./helpers');

// laravel-echo ships ES modules only (its CommonJS build is not loadable by Node).
let Echo;
let server;
let sdk;
const echos = [];

function echo(user) {
  const signer = serverSdk(server.port);
  const instance = new Echo({
    broadcaster: 'pusher',
    key: APP.key,
    cluster: '',
    wsHost: '127.0.0.1',
    wsPort: server.port,
    wssPort: server.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    Pusher,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        const data = channelName.startsWith('presence-')
          ? { user_id: user.id, user_info: user } : undefined;
        callback(null, signer.authorizeChannel(socketId, channelName, data));
      },
    },
  });
  echos.push(instance);
  return instance;
}

/** Resolves with the first value a callback-registering Echo method passes. */
function first(register, what) {
  return within(new Promise((resolve) => register(resolve)), what);
}

test.before(async () => {
  ({ default: Echo } = await import('laravel-echo'));
  server = await startServer();
  sdk = serverSdk(server.port);
});

test.afterEach(() => {
  for (const e of echos.splice(0)) e.disconnect();
});

test.after(async () => {
  await server.stop();
});

test('join: here lists user_info values, joining and leaving follow the others', async () => {
  const ann = echo({ id: 1, name: 'Ann' });
  const annRoom = ann.join('lobby');
  const here = await first((cb) => annRoom.here(cb), 'here()');
  assert.deepEqual(here, [{ id: 1, name: 'Ann' }]);

  const joining = first((cb) => annRoom.joining(cb), 'joining()');
  const bob = echo({ id: 2, name: 'Bob' });
  const bobRoom = bob.join('lobby');
  const bobHere = await first((cb) => bobRoom.here(cb), 'bob here()');
  assert.deepEqual(bobHere.map((u) => u.name).sort(), ['Ann', 'Bob']);
  assert.deepEqual(await joining, { id: 2, name: 'Bob' });

  const leaving = first((cb) => annRoom.leaving(cb), 'leaving()');
  bob.leave('lobby');
  assert.deepEqual(await leaving, { id: 2, name: 'Bob' });
});

test('whisper reaches the other members via listenForWhisper', async () => {
  const ann = echo({ id: 1, name: 'Ann' });
  const bob = echo({ id: 2, name: 'Bob' });
  const annRoom = ann.join('typing');
  const bobRoom = bob.join('typing');
  // Both callbacks are registered before either subscription can succeed.
  await Promise.all([
    first((cb) => annRoom.here(cb), 'ann here()'),
    first((cb) => bobRoom.here(cb), 'bob here()'),
  ]);
  const heard = first((cb) => bobRoom.listenForWhisper('typing', cb), 'a whisper');
  annRoom.whisper('typing', { name: 'Ann' });
  assert.deepEqual(await heard, { name: 'Ann' });
});

test('a private channel receives a broadcast triggered by the server SDK', async () => {
  const ann = echo({ id: 1, name: 'Ann' });
  const channel = ann.private('orders.1');
  await once(channel.subscription, 'pusher:subscription_succeeded', 'private subscription');
  const got = first((cb) => channel.listen('.OrderShipped', cb), 'the broadcast');
  await sdk.trigger('private-orders.1', 'OrderShipped', { order: 42 });
  assert.deepEqual(await got, { order: 42 });
});

// The real pusher-js 8.x against a real rollcall: connection, subscriptions of every kind,
// presence with member events, client events, and events triggered with the server SDK.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  APP, once, onceWithMeta, never, startServer, serverSdk, connectClient, subscribe, disconnect, within,
} = require('./helpers');

let server;
let sdk;
const clients = [];

async function client(options) {
  const c = await connectClient(server.port, options);
  clients.push(c);
  return c;
}

test.before(async () => {
  server = await startServer();
  sdk = serverSdk(server.port);
});

test.afterEach(async () => {
  await Promise.all(clients.splice(0).map(disconnect));
});

test.after(async () => {
  await server.stop();
});

test('connects and gets a socket id of the form digits.digits', async () => {
  const c = await client({ user: { user_id: 'u1' } });
  assert.match(c.connection.socket_id, /^\d+\.\d+$/);
  assert.equal(c.connection.state, 'connected');
});

test('public channel: subscribe, then receive an event triggered with the server SDK', async () => {
  const c = await client({ user: { user_id: 'u1' } });
  const { channel } = await subscribe(c, 'news');
  const got = once(channel, 'headline');
  const response = await sdk.trigger('news', 'headline', { title: 'hello' });
  assert.equal(response.status, 200);
  assert.deepEqual(await got, { title: 'hello' });
});

test('socket_id on trigger excludes that connection only', async () => {
  const a = await client({ user: { user_id: 'a' } });
  const b = await client({ user: { user_id: 'b' } });
  const { channel: ca } = await subscribe(a, 'scores');
  const { channel: cb } = await subscribe(b, 'scores');
  const toB = once(cb, 'goal');
  const silentA = never(ca, 'goal');
  await sdk.trigger('scores', 'goal', { n: 1 }, { socket_id: a.connection.socket_id });
  assert.deepEqual(await toB, { n: 1 });
  await silentA;
});

test('private channel: a valid signature subscribes, a bad one is refused', async () => {
  const good = await client({ user: { user_id: 'u1' } });
  await subscribe(good, 'private-orders');

  const bad = await client({ user: { user_id: 'u2' }, secret: 'not-the-secret' });
  const errors = [];
  bad.connection.bind('error', (e) => errors.push(e));
  const channel = bad.subscribe('private-orders');
  const failure = await once(channel, 'pusher:subscription_error', 'subscription_error');
  assert.equal(failure.type, 'AuthError');
  assert.equal(failure.status, 401);
  assert.match(failure.error, /^Invalid signature: Expected HMAC SHA256 hex digest of \d+\.\d+:private-orders, but got [0-9a-f]{64}$/);
  // pusher-js surfaces the pusher:error real Pusher also sends.
  await within((async () => { while (!errors.length) await new Promise((r) => setTimeout(r, 20)); })(), 'pusher:error');
  assert.equal(errors[0].data.code, null);
  assert.match(errors[0].data.message, /Invalid signature/);
});

test('encrypted channel: the server relays without decrypting', async () => {
  const c = await client({ user: { user_id: 'u1' } });
  // pusher-js refuses private-encrypted- without tweetnacl, so subscribe at the protocol level.
  const frames = [];
  c.connection.bind('message', (m) => frames.push(m));
  const auth = sdk.authorizeChannel(c.connection.socket_id, 'private-encrypted-vault').auth;
  c.send_event('pusher:subscribe', { channel: 'private-encrypted-vault', auth });
  await within((async () => {
    while (!frames.some((f) => f.event === 'pusher_internal:subscription_succeeded')) await new Promise((r) => setTimeout(r, 20));
  })(), 'encrypted subscription');
  // The SDK encrypts for private-encrypted- channels; the server must pass the box through.
  await sdk.trigger('private-encrypted-vault', 'secret', { plain: 'text' });
  await within((async () => {
    while (!frames.some((f) => f.event === 'secret')) await new Promise((r) => setTimeout(r, 20));
  })(), 'encrypted event');
  const box = frames.find((f) => f.event === 'secret').data;
  assert.deepEqual(Object.keys(box).sort(), ['ciphertext', 'nonce']);
  assert.ok(!JSON.stringify(box).includes('plain'));
});

test('presence: the member list includes me; member_added and member_removed reach the others', async () => {
  const ann = await client({ user: { user_id: 'ann', user_info: { name: 'Ann' } } });
  const { channel: annRoom, data: first } = await subscribe(ann, 'presence-room');
  assert.equal(first.count, 1);
  assert.deepEqual(first.me, { id: 'ann', info: { name: 'Ann' } });

  const added = once(annRoom, 'pusher:member_added');
  const bob = await client({ user: { user_id: 7, user_info: { name: 'Bob' } } });
  const { data: members } = await subscribe(bob, 'presence-room');
  assert.equal(members.count, 2);
  // pusher-js takes `me` from the channel_data it sent, where the id is the number 7.
  assert.deepEqual(members.me, { id: 7, info: { name: 'Bob' } });
  assert.deepEqual(members.get('ann').info, { name: 'Ann' });
  assert.deepEqual(await added, { id: '7', info: { name: 'Bob' } });

  const removed = once(annRoom, 'pusher:member_removed');
  await disconnect(bob);
  assert.deepEqual(await removed, { id: '7', info: { name: 'Bob' } });
  assert.equal(annRoom.members.count, 1);
});

test('presence: the same user in two tabs is one member; closing one tab removes nothing', async () => {
  const watcher = await client({ user: { user_id: 'watcher' } });
  const { channel: room } = await subscribe(watcher, 'presence-tabs');
  const tab1 = await client({ user: { user_id: 'carol', user_info: { tab: 1 } } });
  const added = once(room, 'pusher:member_added');
  await subscribe(tab1, 'presence-tabs');
  assert.deepEqual(await added, { id: 'carol', info: { tab: 1 } });

  const noSecondAdd = never(room, 'pusher:member_added');
  const tab2 = await client({ user: { user_id: 'carol', user_info: { tab: 2 } } });
  const { data: seen } = await subscribe(tab2, 'presence-tabs');
  await noSecondAdd;
  assert.equal(seen.count, 2);
  // The first connection's user_info stays until the user has fully left.
  assert.deepEqual(seen.get('carol').info, { tab: 1 });

  const noRemoval = never(room, 'pusher:member_removed');
  await disconnect(tab1);
  await noRemoval;
  assert.equal(room.members.count, 2);

  const removed = once(room, 'pusher:member_removed');
  await disconnect(tab2);
  assert.equal((await removed).id, 'carol');
});

test('presence: a full channel refuses a new member with LimitReached', async () => {
  // The test app allows 3 members.
  for (const id of ['m1', 'm2', 'm3']) {
    await subscribe(await client({ user: { user_id: id } }), 'presence-full');
  }
  const late = await client({ user: { user_id: 'm4' } });
  const failure = await once(late.subscribe('presence-full'), 'pusher:subscription_error');
  assert.equal(failure.type, 'LimitReached');
  assert.equal(failure.status, 4100);
});

test('client events: delivered to others with user_id on presence, never echoed', async () => {
  const ann = await client({ user: { user_id: 'ann' } });
  const bob = await client({ user: { user_id: 'bob' } });
  const { channel: annRoom } = await subscribe(ann, 'presence-chat');
  const { channel: bobRoom } = await subscribe(bob, 'presence-chat');
  const got = onceWithMeta(bobRoom, 'client-typing', 'client event');
  const noEcho = never(annRoom, 'client-typing');
  assert.equal(annRoom.trigger('client-typing', { typing: true }), true);
  const { data, meta } = await got;
  assert.deepEqual(data, { typing: true });
  assert.equal(meta.user_id, 'ann');
  await noEcho;
});

test('client events: refused on public channels and over 10 per second (4301)', async () => {
  const ann = await client({ user: { user_id: 'ann' } });
  const bob = await client({ user: { user_id: 'bob' } });
  const { channel: pub } = await subscribe(ann, 'lobby');
  const errors = [];
  ann.connection.bind('error', (e) => errors.push(e.data));
  pub.trigger('client-x', {});
  const { channel: annPriv } = await subscribe(ann, 'private-burst');
  const { channel: bobPriv } = await subscribe(bob, 'private-burst');
  let delivered = 0;
  bobPriv.bind('client-burst', () => { delivered += 1; });
  for (let i = 0; i < 15; i++) annPriv.trigger('client-burst', { i });
  await within((async () => {
    while (!errors.some((e) => e.code === 4301)) await new Promise((r) => setTimeout(r, 20));
  })(), 'a 4301 error');
  assert.match(errors[0].message, /only supported on private and presence channels/);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(delivered, 10);
  assert.equal(errors.filter((e) => e.code === 4301).length, 5);
  assert.equal(ann.connection.state, 'connected', 'a rate-limited client stays connected');
});

test('unsubscribing a presence channel removes the member', async () => {
  const ann = await client({ user: { user_id: 'ann' } });
  const dan = await client({ user: { user_id: 'dan' } });
  const { channel: room } = await subscribe(ann, 'presence-leave');
  await subscribe(dan, 'presence-leave');
  const removed = once(room, 'pusher:member_removed');
  dan.unsubscribe('presence-leave');
  assert.equal((await removed).id, 'dan');
});

test('pusher:ping is answered with pusher:pong', async () => {
  const c = await client({ user: { user_id: 'p' } });
  const pong = within(new Promise((resolve) => {
    c.connection.bind('message', (m) => { if (m.event === 'pusher:pong') resolve(m); });
  }), 'pusher:pong');
  c.send_event('pusher:ping', {});
  assert.equal((await pong).event, 'pusher:pong');
});

test('signin, then sendToUser reaches every signed-in connection of that user', async () => {
  const tab1 = await client({ user: { user_id: 'signed' } });
  const tab2 = await client({ user: { user_id: 'signed' } });
  for (const c of [tab1, tab2]) {
    const subscribed = within(new Promise((resolve) => {
      c.connection.bind('message', (m) => {
        if (m.event === 'pusher_internal:subscription_succeeded' && m.channel === '#server-to-user-signed') resolve();
      });
    }), 'the server-to-user subscription');
    c.signin();
    await subscribed;
  }
  const got1 = once(tab1.user, 'notice');
  const got2 = once(tab2.user, 'notice');
  await sdk.sendToUser('signed', 'notice', { hello: 'you' });
  assert.deepEqual(await got1, { hello: 'you' });
  assert.deepEqual(await got2, { hello: 'you' });
});

test('terminateUserConnections closes the user\'s connections with 4009', async () => {
  const c = await client({ user: { user_id: 'doomed' } });
  const subscribed = within(new Promise((resolve) => {
    c.connection.bind('message', (m) => { if (m.event === 'pusher:signin_success') resolve(); });
  }), 'signin');
  c.signin();
  await subscribed;
  const errors = [];
  c.connection.bind('error', (e) => errors.push(e));
  const gone = once(c.connection, 'disconnected', 'disconnection by the app');
  await sdk.terminateUserConnections('doomed');
  await gone;
  assert.ok(errors.some((e) => e.data && e.data.code === 4009), JSON.stringify(errors));
});

test('REST: channels, channel info and users, as the server SDK reads them', async () => {
  const ann = await client({ user: { user_id: 'ann' } });
  const bob = await client({ user: { user_id: 'bob' } });
  await subscribe(ann, 'presence-stats');
  await subscribe(bob, 'presence-stats');
  await subscribe(ann, 'plain-stats');

  let res = await sdk.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } });
  let body = await res.json();
  assert.deepEqual(body.channels['presence-stats'], { user_count: 2 });
  assert.equal(body.channels['plain-stats'], undefined);

  res = await sdk.get({ path: '/channels/presence-stats', params: { info: 'user_count,subscription_count' } });
  assert.deepEqual(await res.json(), { occupied: true, user_count: 2, subscription_count: 2 });

  res = await sdk.get({ path: '/channels/presence-stats/users' });
  body = await res.json();
  assert.deepEqual(body.users.map((u) => u.id).sort(), ['ann', 'bob']);

  res = await sdk.get({ path: '/channels/nobody-here' });
  assert.deepEqual(await res.json(), { occupied: false });

  await assert.rejects(sdk.get({ path: '/channels', params: { info: 'user_count' } }), (e) => e.status === 400);
  await assert.rejects(sdk.get({ path: '/channels/plain-stats/users' }), (e) => e.status === 400);
});

test('REST: a wrong signature is 401 with a message naming what to sign; large data is 413', async () => {
  const wrong = serverSdk(server.port, 'wrong-secret-123');
  await assert.rejects(wrong.trigger('x', 'e', {}), (e) => {
    assert.equal(e.status, 401);
    assert.match(e.body, /Invalid signature: you should have sent HmacSHA256Hex\("POST\\n\/apps\/123\/events\\nauth_key=app-key&auth_timestamp=\d+&auth_version=1\.0&body_md5=[0-9a-f]{32}"/);
    return true;
  });
  await assert.rejects(sdk.trigger('x', 'e', 'x'.repeat(20000)), (e) => e.status === 413);
  const batch = await sdk.triggerBatch([{ channel: 'a', name: 'e', data: '1' }, { channel: 'b', name: 'e', data: '2' }]);
  assert.equal(batch.status, 200);
});

test('cache channels replay the last event to new subscribers, or say cache_miss', async () => {
  const c = await client({ user: { user_id: 'cache' } });
  const miss = within(new Promise((resolve) => {
    c.connection.bind('message', (m) => { if (m.event === 'pusher:cache_miss') resolve(m.channel); });
  }), 'cache_miss');
  c.subscribe('cache-empty');
  assert.equal(await miss, 'cache-empty');

  await sdk.trigger('cache-prices', 'price', { eur: 1 });
  await sdk.trigger('cache-prices', 'price', { eur: 2 });
  const late = await client({ user: { user_id: 'late' } });
  const channel = late.subscribe('cache-prices');
  assert.deepEqual(await once(channel, 'price'), { eur: 2 });
  const res = await sdk.get({ path: '/channels/cache-prices', params: { info: 'cache' } });
  const body = await res.json();
  assert.equal(body.cache.data, JSON.stringify({ eur: 2 }));
  assert.ok(body.cache.ttl > 0);
});

test('an unknown app key is refused with 4001', async () => {
  const { Pusher } = require('./helpers');
  const c = new Pusher('no-such-key', {
    cluster: '', wsHost: '127.0.0.1', wsPort: server.port, forceTLS: false, enabledTransports: ['ws'],
  });
  const errors = [];
  c.connection.bind('error', (e) => errors.push(JSON.stringify(e)));
  try {
    await within((async () => {
      while (!errors.some((e) => e.includes('"code":4001'))) await new Promise((r) => setTimeout(r, 20));
    })(), 'a 4001 error');
    assert.match(errors.find((e) => e.includes('4001')), /App key no-such-key not in this cluster/);
    // 4001 is in the "do not reconnect" range: pusher-js gives up.
    await within((async () => {
      while (c.connection.state !== 'disconnected') await new Promise((r) => setTimeout(r, 20));
    })(), 'pusher-js to give up');
  } finally {
    c.disconnect();
  }
});

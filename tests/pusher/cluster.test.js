// The real pusher-js 8.x and npm `pusher` against two rollcall nodes sharing one Redis
// (docs/cluster.md): presence members, events and the HTTP API behave as on one server,
// whichever node each client and each HTTP request reaches. Needs redis-server (apt-get install
// redis-server); the tests fail, they are not skipped, without it.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  once, onceWithMeta, never, serverSdk, connectClient, subscribe, disconnect, within,
  webhookReceiver,
} = require('./helpers');
const { startCluster } = require('./cluster-helpers');

let cluster;
let nodeA;
let nodeB;
const clients = [];

async function client(node, user) {
  const c = await connectClient(node.port, { user });
  clients.push(c);
  return c;
}

/** The sorted ids of a pusher-js Members object. */
function memberIds(members) {
  const ids = [];
  members.each((m) => ids.push(String(m.id)));
  return ids.sort();
}

test.before(async () => {
  cluster = await startCluster(2);
  [nodeA, nodeB] = cluster.nodes;
});

test.afterEach(async () => {
  await Promise.all(clients.splice(0).map(disconnect));
});

test.after(async () => {
  if (cluster) await cluster.stop();
});

test('member_added and member_removed reach a client on the other node', async () => {
  const ann = await client(nodeA, { user_id: 'ann', user_info: { name: 'Ann' } });
  const { channel: annRoom, data: first } = await subscribe(ann, 'presence-x');
  assert.equal(first.count, 1);

  const added = once(annRoom, 'pusher:member_added', 'member_added from node B');
  const bob = await client(nodeB, { user_id: 'bob', user_info: { name: 'Bob' } });
  const { data: members } = await subscribe(bob, 'presence-x');
  assert.deepEqual(await added, { id: 'bob', info: { name: 'Bob' } });
  // Node B's snapshot holds node A's member.
  assert.equal(members.count, 2);
  assert.deepEqual(members.get('ann').info, { name: 'Ann' });

  const removed = once(annRoom, 'pusher:member_removed', 'member_removed from node B');
  await disconnect(bob);
  assert.deepEqual(await removed, { id: 'bob', info: { name: 'Bob' } });
  assert.equal(annRoom.members.count, 1);
});

test('subscription_succeeded lists the users of both nodes', async () => {
  const users = [
    [nodeA, 'u1'], [nodeB, 'u2'], [nodeA, 'u3'], [nodeB, 'u4'],
  ];
  for (const [node, id] of users) {
    await subscribe(await client(node, { user_id: id, user_info: { id } }), 'presence-roll');
  }
  const present = users.map(([, id]) => id);
  for (const node of [nodeA, nodeB]) {
    const id = `late-${present.length}`;
    const late = await client(node, { user_id: id });
    const { data: members } = await subscribe(late, 'presence-roll');
    present.push(id);
    assert.deepEqual(memberIds(members), [...present].sort(), `as node ${node.nodeId} tells it`);
    assert.deepEqual(members.get('u2').info, { id: 'u2' });
    assert.deepEqual(members.get('u3').info, { id: 'u3' });
  }
});

test('one user on both nodes is one member: one member_added, one member_removed', async () => {
  const watcher = await client(nodeA, { user_id: 'watcher' });
  const { channel: room } = await subscribe(watcher, 'presence-tabs');

  const added = once(room, 'pusher:member_added');
  const tab1 = await client(nodeA, { user_id: 'carol', user_info: { tab: 1 } });
  await subscribe(tab1, 'presence-tabs');
  assert.deepEqual(await added, { id: 'carol', info: { tab: 1 } });

  const noSecondAdd = never(room, 'pusher:member_added', 1000);
  const tab2 = await client(nodeB, { user_id: 'carol', user_info: { tab: 2 } });
  const { data: seen } = await subscribe(tab2, 'presence-tabs');
  await noSecondAdd;
  assert.equal(seen.count, 2);
  // The first connection's user_info stays, whichever node the second one is on.
  assert.deepEqual(seen.get('carol').info, { tab: 1 });

  const noRemoval = never(room, 'pusher:member_removed', 1000);
  await disconnect(tab1);
  await noRemoval;
  assert.equal(room.members.count, 2);

  const removed = once(room, 'pusher:member_removed');
  await disconnect(tab2);
  assert.equal((await removed).id, 'carol');
  await never(room, 'pusher:member_removed', 500);
});

test('the HTTP API of either node lists the users of both', async () => {
  await subscribe(await client(nodeA, { user_id: 'ann' }), 'presence-rest');
  await subscribe(await client(nodeB, { user_id: 'bob' }), 'presence-rest');
  for (const node of [nodeA, nodeB]) {
    const sdk = serverSdk(node.port);
    let res = await sdk.get({ path: '/channels/presence-rest/users' });
    const body = await res.json();
    assert.deepEqual(body.users.map((u) => u.id).sort(), ['ann', 'bob'], `node ${node.nodeId}`);

    res = await sdk.get({ path: '/channels/presence-rest', params: { info: 'user_count' } });
    assert.deepEqual(await res.json(), { occupied: true, user_count: 2 }, `node ${node.nodeId}`);

    res = await sdk.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } });
    assert.deepEqual((await res.json()).channels['presence-rest'], { user_count: 2 }, `node ${node.nodeId}`);
  }
});

test('events triggered on node A and client events from node A reach node B', async () => {
  const ann = await client(nodeA, { user_id: 'ann' });
  const bob = await client(nodeB, { user_id: 'bob' });
  const { channel: bobNews } = await subscribe(bob, 'news');
  const got = once(bobNews, 'headline', 'the triggered event on node B');
  const response = await serverSdk(nodeA.port).trigger('news', 'headline', { title: 'hello' });
  assert.equal(response.status, 200);
  assert.deepEqual(await got, { title: 'hello' });

  const { channel: annRoom } = await subscribe(ann, 'presence-chat');
  const { channel: bobRoom } = await subscribe(bob, 'presence-chat');
  const typed = onceWithMeta(bobRoom, 'client-typing', 'the client event on node B');
  const noEcho = never(annRoom, 'client-typing');
  assert.equal(annRoom.trigger('client-typing', { typing: true }), true);
  const { data, meta } = await typed;
  assert.deepEqual(data, { typing: true });
  assert.equal(meta.user_id, 'ann');
  await noEcho;
});

test('a killed node\'s users are removed once at the other node, webhooks included', async () => {
  // A cluster of its own: this test kills a node.
  const hooks = await webhookReceiver();
  const own = await startCluster(2, { webhookUrl: hooks.url });
  const [survivor, doomed] = own.nodes;
  try {
    const watcher = await client(survivor, { user_id: 'watcher' });
    const { channel: room } = await subscribe(watcher, 'presence-doom');
    for (const id of ['d1', 'd2']) {
      const added = once(room, 'pusher:member_added');
      await subscribe(await client(doomed, { user_id: id, user_info: { id } }), 'presence-doom');
      assert.equal((await added).id, id);
    }
    const removed = [];
    room.bind('pusher:member_removed', (m) => removed.push(m.id));
    await doomed.kill();
    // Lease 2 s (startCluster's default): removals within 8 s of the kill.
    await within((async () => {
      while (removed.length < 2) await new Promise((r) => setTimeout(r, 50));
    })(), 'member_removed for both users of the killed node', 8000);
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(removed.sort(), ['d1', 'd2'], 'each exactly once');
    assert.deepEqual(memberIds(room.members), ['watcher']);
    // The survivor that reaped them sends their member_removed webhooks, once each.
    const removedHooks = hooks.received
      .flatMap((r) => JSON.parse(r.rawBody).events)
      .filter((e) => e.name === 'member_removed' && e.channel === 'presence-doom')
      .map((e) => e.user_id);
    assert.deepEqual(removedHooks.sort(), ['d1', 'd2']);
  } finally {
    await Promise.all(clients.splice(0).map(disconnect));
    await own.stop();
    await hooks.close();
  }
});

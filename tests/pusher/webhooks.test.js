// Webhooks from a real rollcall, received over HTTP and validated with the npm `pusher` SDK's
// own webhook validator; plus the PyPI `pusher` SDK (GET with body_md5, terminate path).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');
const {
  startServer, serverSdk, connectClient, subscribe, disconnect, webhookReceiver, within, once, ROOT,
} = require('./helpers');

let server;
let sdk;
let hooks;
const clients = [];

async function client(user) {
  const c = await connectClient(server.port, { user });
  clients.push(c);
  return c;
}

/** Every webhook event received so far, each request checked with the SDK's validator. */
function events() {
  return hooks.received.flatMap((r) => {
    const webhook = sdk.webhook({ headers: r.headers, rawBody: r.rawBody });
    assert.ok(webhook.isValid(), `invalid webhook: ${JSON.stringify(r.headers)} ${r.rawBody}`);
    return webhook.getEvents();
  });
}

async function eventually(predicate, what) {
  return within((async () => {
    for (;;) {
      const hit = events().find(predicate);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 25));
    }
  })(), what);
}

test.before(async () => {
  hooks = await webhookReceiver();
  server = await startServer({ webhookUrl: hooks.url });
  sdk = serverSdk(server.port);
});

test.afterEach(async () => {
  await Promise.all(clients.splice(0).map(disconnect));
});

test.after(async () => {
  await server.stop();
  await hooks.close();
});

test('webhooks: signed, batched bodies for occupied/member_added/client_event/member_removed/vacated', async () => {
  const ann = await client({ user_id: 'hook-ann' });
  const bob = await client({ user_id: 'hook-bob' });
  const { channel } = await subscribe(ann, 'presence-hooks');
  await subscribe(bob, 'presence-hooks');
  await eventually((e) => e.name === 'channel_occupied' && e.channel === 'presence-hooks', 'channel_occupied');
  await eventually((e) => e.name === 'member_added' && e.user_id === 'hook-bob', 'member_added');

  channel.trigger('client-ping', { n: 1 });
  const clientEvent = await eventually((e) => e.name === 'client_event', 'client_event');
  assert.equal(clientEvent.channel, 'presence-hooks');
  assert.equal(clientEvent.event, 'client-ping');
  assert.equal(clientEvent.data, JSON.stringify({ n: 1 }));
  assert.equal(clientEvent.socket_id, ann.connection.socket_id);
  assert.equal(clientEvent.user_id, 'hook-ann');

  const request = hooks.received[0];
  assert.equal(request.headers['content-type'], 'application/json');
  assert.equal(request.headers['x-pusher-key'], 'app-key');
  assert.ok(JSON.parse(request.rawBody).time_ms > 0);

  await disconnect(bob);
  await disconnect(ann);
  await eventually((e) => e.name === 'member_removed' && e.user_id === 'hook-bob', 'member_removed');
  await eventually((e) => e.name === 'channel_vacated' && e.channel === 'presence-hooks', 'channel_vacated');
});

test('webhooks: a member back within the delay sends neither member_removed nor member_added', async () => {
  const stay = await client({ user_id: 'stayer' });
  await subscribe(stay, 'presence-flap');
  const first = await client({ user_id: 'flapper' });
  await subscribe(first, 'presence-flap');
  await eventually((e) => e.name === 'member_added' && e.user_id === 'flapper', 'the first member_added');
  const before = events().filter((e) => e.user_id === 'flapper').length;
  await disconnect(first);
  const again = await client({ user_id: 'flapper' });
  await subscribe(again, 'presence-flap');
  // Longer than the configured 300 ms delay plus batching.
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(events().filter((e) => e.user_id === 'flapper').length, before);
});

test('PyPI pusher: GET with body_md5, trigger, and the terminate path without /apps', async () => {
  const py = await client({ user_id: 'py-user', user_info: { lang: 'python' } });
  await subscribe(py, 'presence-py');
  const signedIn = within(new Promise((resolve) => {
    py.connection.bind('message', (m) => { if (m.event === 'pusher:signin_success') resolve(); });
  }), 'signin');
  py.signin();
  await signedIn;
  const gotTrigger = once(py.subscribe('py-news'), 'py-event', 'the Python trigger');
  await once(py.channel('py-news'), 'pusher:subscription_succeeded');
  const disconnected = once(py.connection, 'disconnected', 'termination by Python');

  const python = process.env.ROLLCALL_PYTHON || path.join(ROOT, 'target', 'pusher-venv', 'bin', 'python');
  const output = await within(new Promise((resolve, reject) => {
    execFile(python, [path.join(__dirname, 'python_check.py')], {
      env: { ...process.env, ROLLCALL_PORT: String(server.port) }, timeout: 20000,
    }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)));
  }), 'the Python check', 25000);
  const result = JSON.parse(output);
  assert.deepEqual(result.channels.channels['presence-py'], { user_count: 1 });
  assert.deepEqual(result.channel, { occupied: true, user_count: 1 });
  assert.deepEqual(result.users, { users: [{ id: 'py-user' }] });
  assert.deepEqual(await gotTrigger, { x: 1 });
  await disconnected;
});

// Shared helpers: a real rollcall on port 0, a webhook receiver, and pusher-js clients.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const Pusher = require('pusher-js');
const PusherServer = require('pusher');

const ROOT = path.resolve(__dirname, '..', '..');
const BINARY = process.env.ROLLCALL_BIN || path.join(ROOT, 'target', 'debug', 'rollcall');

const APP = { id: '123', key: 'app-key', secret: 'app-secret-123' };
/** Every wait in the suite is bounded by this. */
const PATIENCE_MS = 5000;

/** Resolves with `promise`, or rejects after `ms` naming `what`. */
function within(promise, what, ms = PATIENCE_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The data of the first `event` on a pusher-js emitter (channel, connection, user...). */
function once(emitter, event, what = event) {
  return onceWithMeta(emitter, event, what).then(({ data }) => data);
}

/** Like `once`, with the event's metadata too (`{ data, meta }`). */
function onceWithMeta(emitter, event, what = event) {
  return within(new Promise((resolve) => {
    const handler = (data, meta) => {
      emitter.unbind(event, handler);
      resolve({ data, meta });
    };
    emitter.bind(event, handler);
  }), what);
}

/** Asserts that `event` does not fire on `emitter` within `ms`. */
async function never(emitter, event, ms = 500) {
  let fired = null;
  const handler = (data) => { fired = data; };
  emitter.bind(event, handler);
  await new Promise((r) => setTimeout(r, ms));
  emitter.unbind(event, handler);
  if (fired !== null) throw new Error(`unexpected ${event}: ${JSON.stringify(fired)}`);
}

/** A local HTTP server collecting webhook requests (raw body and headers). */
async function webhookReceiver() {
  const received = [];
  const waiters = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      received.push({ headers: req.headers, rawBody });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    /** Waits until some received request satisfies `predicate`; returns it. */
    async waitFor(predicate, what) {
      return within((async () => {
        for (;;) {
          const hit = received.find(predicate);
          if (hit) return hit;
          await new Promise((r) => waiters.push(r));
        }
      })(), what);
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

/** Starts `rollcall serve` with a config file; resolves with `{ port, stop }`. */
async function startServer({ webhookUrl, extraApp = '' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-pusher-'));
  const config = path.join(dir, 'rollcall.toml');
  const hooks = webhookUrl ? `
[[apps.pusher.webhooks]]
url = "${webhookUrl}"
` : '';
  fs.writeFileSync(config, `
listen = "127.0.0.1:0"

[pusher]
webhook_delay_ms = 300

[[apps]]
id = "${APP.id}"
key = "${APP.key}"
secret = "${APP.secret}"

[apps.pusher]
enable_client_events = true
max_presence_members = 3
${hooks}
${extraApp}
`);
  const child = spawn(BINARY, ['serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await within(new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      const match = output.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (match) resolve(Number(match[1]));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => { output += c; });
    child.on('exit', (code) => reject(new Error(`rollcall exited (${code}): ${output}`)));
  }), 'the server banner', 20000);
  return {
    port,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.on('exit', () => resolve());
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGKILL'), 7000).unref();
    }),
  };
}

/** The npm `pusher` server SDK pointed at the test server. */
function serverSdk(port, secret = APP.secret) {
  return new PusherServer({
    appId: APP.id, key: APP.key, secret, host: '127.0.0.1', port, useTLS: false,
    // Only needed to authorize private-encrypted- channels (the shared secret is client-side).
    encryptionMasterKeyBase64: Buffer.alloc(32, 7).toString('base64'),
    // No keep-alive: idle pooled sockets would keep each test process alive after its tests.
    agent: new http.Agent({ keepAlive: false }),
  });
}

/**
 * A connected pusher-js client. `user` is the presence member `{ user_id, user_info }` it
 * authorizes as (and signs in as, by id, with `user.watchlist` when given); `secret` lets a test
 * sign with the wrong secret.
 */
async function connectClient(port, { user, secret, options = {} } = {}) {
  const signer = serverSdk(port, secret);
  const client = new Pusher(APP.key, {
    cluster: '',
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        const data = channelName.startsWith('presence-') ? user : undefined;
        callback(null, signer.authorizeChannel(socketId, channelName, data));
      },
    },
    userAuthentication: {
      customHandler: ({ socketId }, callback) => {
        const userData = { id: String(user.user_id) };
        if (user.watchlist) userData.watchlist = user.watchlist;
        callback(null, signer.authenticateUser(socketId, userData));
      },
    },
    ...options,
  });
  await once(client.connection, 'connected', 'pusher-js to connect');
  return client;
}

/** Subscribes and waits for success; resolves with the channel and what succeeded carried. */
async function subscribe(client, name) {
  const channel = client.subscribe(name);
  const data = await once(channel, 'pusher:subscription_succeeded', `subscription to ${name}`);
  return { channel, data };
}

/** Disconnects and waits until the client has seen the socket close. */
async function disconnect(client) {
  if (client.connection.state !== 'connected') {
    client.disconnect();
    return;
  }
  const closed = once(client.connection, 'disconnected', 'disconnection');
  client.disconnect();
  await closed;
}

module.exports = {
  APP, PATIENCE_MS, Pusher, PusherServer, within, once, onceWithMeta, never, webhookReceiver,
  startServer, serverSdk, connectClient, subscribe, disconnect, ROOT,
};

// Helpers for the multi-node tests: a throw-away redis-server on a free loopback port and
// `rollcall serve --engine redis` nodes sharing it, configured with the same app as helpers.js.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const { APP, within } = require('./helpers');

const ROOT = path.resolve(__dirname, '..', '..');
const BINARY = process.env.ROLLCALL_BIN || path.join(ROOT, 'target', 'debug', 'rollcall');

/** The redis-server binary: ROLLCALL_TEST_REDIS_SERVER, or the first on PATH. Throws if none. */
function redisServerBinary() {
  if (process.env.ROLLCALL_TEST_REDIS_SERVER) return process.env.ROLLCALL_TEST_REDIS_SERVER;
  const dirs = (process.env.PATH || '').split(path.delimiter).concat(['/usr/bin', '/usr/sbin']);
  for (const dir of dirs) {
    const candidate = path.join(dir, 'redis-server');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch { /* next */ }
  }
  throw new Error('redis-server was not found on PATH: the cluster tests need a real Redis. '
    + 'Install it with `sudo apt-get install redis-server` (./scripts/test does this), or point '
    + 'ROLLCALL_TEST_REDIS_SERVER at the binary.');
}

/** A TCP port that was free a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Whether redis on `port` answers PING. */
function ping(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    const done = (ok) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk;
      if (answer.includes('PONG')) done(true);
    });
  });
}

/**
 * Starts a redis-server without persistence on a free loopback port; resolves with
 * `{ port, url, stop }`. Rejects (the test fails) when redis-server is missing.
 */
async function startRedis() {
  const binary = redisServerBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-redis-'));
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const port = await freePort();
    const child = spawn(binary, [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--daemonize', 'no', '--dir', dir,
    ], { stdio: 'ignore' });
    let exited = false;
    child.on('exit', () => { exited = true; });
    const deadline = Date.now() + 10000;
    while (!exited && Date.now() < deadline) {
      if (await ping(port)) {
        return {
          port,
          url: `redis://127.0.0.1:${port}`,
          stop: () => new Promise((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.on('exit', () => resolve());
            child.kill('SIGKILL');
          }),
        };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    if (!exited) throw new Error(`redis-server on port ${port} did not answer PING in time`);
  }
  throw new Error('redis-server did not start on any of 5 free ports');
}

/**
 * Starts `rollcall serve --engine redis` as node `nodeId` with the suite's app; resolves with
 * `{ port, nodeId, stop, kill, output }`.
 */
async function startNode({ redisUrl, nodeId, leaseMs = 2000, webhookUrl }) {
  const hooks = webhookUrl ? `
[[apps.pusher.webhooks]]
url = "${webhookUrl}"
event_types = ["member_removed", "channel_vacated"]
` : '';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-cluster-'));
  const config = path.join(dir, 'rollcall.toml');
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
max_presence_members = 10
${hooks}`);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ROLLCALL_')));
  const child = spawn(BINARY, [
    'serve', '--config', config, '--node-id', String(nodeId),
    '--engine', 'redis', '--redis-url', redisUrl, '--node-lease-ms', String(leaseMs),
  ], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  const port = await within(new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = output.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (match) resolve(Number(match[1]));
    });
    child.stderr.on('data', (chunk) => { output += chunk; });
    child.on('exit', (code) => reject(new Error(`rollcall node ${nodeId} exited (${code}): ${output}`)));
  }), `node ${nodeId}'s banner`, 20000);
  await waitReady(port);
  const stopWith = (signal) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.on('exit', () => resolve());
    child.kill(signal);
    setTimeout(() => child.kill('SIGKILL'), 7000).unref();
  });
  return {
    port,
    nodeId,
    output: () => output,
    stop: () => stopWith('SIGINT'),
    kill: () => stopWith('SIGKILL'),
  };
}

/** Resolves once `GET /readyz` on `port` answers 200. */
async function waitReady(port, ms = 10000) {
  const deadline = Date.now() + ms;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`127.0.0.1:${port}/readyz did not answer 200 within ${ms} ms (last: ${last})`);
}

/** Redis and `count` nodes (ids 1..count); `stop()` stops them all. */
async function startCluster(count = 2, options = {}) {
  const redis = await startRedis();
  const nodes = [];
  try {
    for (let id = 1; id <= count; id += 1) {
      nodes.push(await startNode({ redisUrl: redis.url, nodeId: id, ...options }));
    }
  } catch (e) {
    await Promise.all(nodes.map((n) => n.kill()));
    await redis.stop();
    throw e;
  }
  return {
    redis,
    nodes,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
      await redis.stop();
    },
  };
}

module.exports = { redisServerBinary, startRedis, startNode, startCluster, waitReady };

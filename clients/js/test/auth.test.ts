// Tokens against a real server configured with a token-only app: good tokens connect (and their
// data is laid over the member's), bad ones are refused with the documented error and close code.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";

import { RollcallClient, RollcallError } from "../src/index.js";
import { Clients, TestServer, channelName, mintToken, waitUntil, withTimeout } from "./harness.js";

const SECRET = "chat-secret-for-tests";
let server: TestServer;
const clients = new Clients(() => server);

before(async () => {
  server = await TestServer.start({
    config: `
[[apps]]
id = "chat"
key = "chat-key"
secret = "${SECRET}"
`,
  });
});

after(async () => {
  await clients.closeAll();
  await server?.dispose();
});

function now(): number {
  return Math.floor(Date.now() / 1000);
}

async function refusal(client: RollcallClient): Promise<RollcallError> {
  const error = await withTimeout(
    client.connect().then(
      () => undefined,
      (e: unknown) => e,
    ),
    5_000,
    "the refusal",
  );
  assert.ok(error instanceof RollcallError, `expected a RollcallError, got ${String(error)}`);
  return error;
}

describe("tokens", () => {
  it("a valid token connects as its sub, and its data wins over the client's", async () => {
    const token = mintToken({ sub: "ann", app: "chat", exp: now() + 600, data: { name: "Ann", role: "mod" } }, SECRET);
    const ann = clients.make({ token });
    const session = await withTimeout(ann.connect(), 5_000, "connect with a token");
    assert.equal(session.clientId, "ann");
    assert.equal(ann.clientId, "ann");
    const room = ann.channel(channelName());
    await room.enter({ name: "Mallory", status: "online" });
    assert.deepEqual(room.get("ann")?.data, { name: "Ann", role: "mod", status: "online" });
  });

  it("a token with a bad signature is refused: invalid_token, close 4003, and the client is closed", async () => {
    const forged = mintToken({ sub: "ann", exp: now() + 600 }, "not-the-secret");
    const client = clients.make({ token: forged });
    const error = await refusal(client);
    assert.equal(error.code, "invalid_token");
    assert.equal(error.closeCode, 4003);
    assert.equal(client.state, "closed");
  });

  it("garbage and expired tokens are refused with their codes", async () => {
    const garbage = await refusal(clients.make({ token: "not-a-jwt" }));
    assert.equal(garbage.code, "invalid_token");
    assert.equal(garbage.closeCode, 4003);
    const expired = await refusal(clients.make({ token: mintToken({ sub: "ann", exp: now() - 10 }, SECRET) }));
    assert.equal(expired.code, "token_expired");
    assert.equal(expired.closeCode, 4003);
  });

  it("without a token, the token-only app refuses: anonymous_not_allowed; an unknown app key: unknown_app", async () => {
    const anonymous = await refusal(clients.make({ clientId: "eve" }));
    assert.equal(anonymous.code, "anonymous_not_allowed");
    assert.equal(anonymous.closeCode, 4003);
    const unknown = await refusal(clients.make({ clientId: "eve", appKey: "nope" }));
    assert.equal(unknown.code, "unknown_app");
    assert.equal(unknown.closeCode, 4001);
  });

  it("a token function is asked again on every connection attempt", async () => {
    let calls = 0;
    const client = clients.make({
      token: () => {
        calls += 1;
        return mintToken({ sub: "fn", exp: now() + 600 }, SECRET);
      },
      reconnect: { initialMs: 20, maxMs: 100 },
    });
    await withTimeout(client.connect(), 5_000, "connect");
    const first = client.session?.connectionId;
    await server.restart();
    await waitUntil(() => client.state === "connected" && client.session?.connectionId !== first, "reconnected", 10_000);
    assert.ok(calls >= 2, `called ${calls} times`);
  });

  it("without any WebSocket implementation, connect says how to provide one", async () => {
    const hadGlobal = "WebSocket" in globalThis;
    if (hadGlobal) return; // Node 22+ has one; the platform path is covered below.
    const client = new RollcallClient({ url: server.url, token: "x", reconnect: false });
    await assert.rejects(client.connect(), { code: "no_websocket" });
  });

  it("uses the platform WebSocket (globalThis.WebSocket) when none is passed", async () => {
    const saved = (globalThis as { WebSocket?: unknown }).WebSocket;
    (globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
    try {
      const client = new RollcallClient({ url: server.url, token: mintToken({ sub: "web" }, SECRET), reconnect: false });
      const session = await withTimeout(client.connect(), 5_000, "connect via the global");
      assert.equal(session.clientId, "web");
      await client.close();
    } finally {
      (globalThis as { WebSocket?: unknown }).WebSocket = saved;
    }
  });
});

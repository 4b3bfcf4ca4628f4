// Reconnecting after the server restarts: backoff, re-entering with the latest data, and a
// member-list reconciliation that emits only real changes.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { ConnectionStateChange, PresenceEvent, ResyncInfo, RollcallError } from "../src/index.js";
import { Clients, TestServer, channelName, collect, lossyWebSocket, waitUntil, withTimeout } from "./harness.js";

let server: TestServer;
const clients = new Clients(() => server);

before(async () => {
  server = await TestServer.start();
});

after(async () => {
  await clients.closeAll();
  await server?.dispose();
});

function describeEvent(e: PresenceEvent): string {
  return `${e.action}:${e.clientId}${e.reason ? `:${e.reason}` : ""}`;
}

describe("reconnect", () => {
  it("after a server restart (kill -9, same port) every channel is entered again and the member list reconciled", async () => {
    const name = channelName();
    // Alice comes back quickly, Bob only after Alice is in again, so what each sees is known.
    const alice = await clients.connect("alice", { reconnect: { initialMs: 50, maxMs: 200, jitter: 0 } });
    const bob = await clients.connect("bob", { reconnect: { initialMs: 2_500, maxMs: 2_500, jitter: 0 } });
    const carol = await clients.connect("carol", { reconnect: false });
    const a = alice.channel(name);
    const b = bob.channel(name);
    await a.enter({ name: "Alice", status: "online" });
    await b.enter({ name: "Bob" });
    await carol.channel(name).enter({ name: "Carol" });
    await waitUntil(() => a.count === 3 && b.count === 3, "everyone sees everyone");
    const oldSession = alice.session?.connectionId;

    const aliceStates = collect<ConnectionStateChange>((l) => alice.on("state", l));
    const aliceEvents = collect<PresenceEvent>((l) => a.subscribe(l));
    const bobEvents = collect<PresenceEvent>((l) => b.subscribe(l));
    const bobResyncs = collect<ResyncInfo>((l) => b.on("resync", l));
    const carolClosed = collect<ConnectionStateChange>((l) => carol.on("state", l));

    await server.stop("SIGKILL");
    await waitUntil(() => alice.state === "reconnecting" && a.status === "suspended", "alice notices");
    await waitUntil(() => carol.state === "closed", "carol (no reconnect) closes");
    assert.equal(carolClosed.at(-1)?.error?.code, "disconnected");
    // The member list is kept while suspended.
    assert.deepEqual(a.get().map((m) => m.clientId), ["alice", "bob", "carol"]);
    // An update while disconnected waits for the re-entry, which already carries it.
    const updated = a.update({ status: "away" }, { merge: true });

    await server.restart();
    await withTimeout(updated, 10_000, "the update made while disconnected");
    await waitUntil(() => a.status === "attached" && b.status === "attached", "both attached again", 10_000);
    await waitUntil(() => a.count === 2 && b.count === 2, "alice and bob see each other again", 10_000);
    assert.ok(aliceStates.some((s) => s.state === "reconnecting" && (s.retryInMs ?? -1) >= 0));
    assert.equal(aliceStates.at(-1)?.state, "connected");
    assert.notEqual(alice.session?.connectionId, oldSession, "a new session");

    // Re-entered with the latest data, which the server now has.
    assert.deepEqual((await bob.member(name, "alice"))?.data, { name: "Alice", status: "away" });
    assert.deepEqual(b.get("alice")?.data, { name: "Alice", status: "away" });
    assert.deepEqual(a.get().map((m) => m.clientId), ["alice", "bob"]);

    // Bob re-entered after Alice: his snapshot had Alice (changed) and no Carol. Bob himself and
    // Alice's new connection id are not changes.
    assert.deepEqual(bobEvents.map(describeEvent), ["leave:carol", "update:alice:reconciled"]);
    assert.deepEqual(bobResyncs.map((r) => [r.cause, r.changes]), [["reconnected", 2]]);
    // Alice re-entered into an empty channel: Bob and Carol were really gone, then Bob came back.
    assert.deepEqual(aliceEvents.map(describeEvent), ["leave:bob", "leave:carol", "update:alice:reconciled", "join:bob"]);
    assert.equal(a.gapCount + b.gapCount, 0);
  });

  it("a graceful shutdown (1001 server_shutdown) is reported and reconnected from", async () => {
    const name = channelName();
    const alice = await clients.connect("alice", { reconnect: { initialMs: 50, maxMs: 200 } });
    const a = alice.channel(name);
    await a.watch();
    const errors = collect<RollcallError>((l) => alice.on("error", l));
    const states = collect<ConnectionStateChange>((l) => alice.on("state", l));
    await server.stop("SIGINT");
    await waitUntil(() => states.some((s) => s.state === "reconnecting"), "alice reconnects");
    assert.equal(errors[0]?.code, "server_shutdown");
    const reconnecting = states.find((s) => s.state === "reconnecting");
    assert.equal(reconnecting?.error?.code, "server_shutdown");
    assert.equal(reconnecting?.error?.closeCode, 1001);
    // The first attempt waits as long as the server asked (its random share of the window),
    // not the client's own backoff.
    const hint = reconnecting?.error?.retryAfterMs;
    assert.equal(typeof hint, "number");
    assert.equal(errors[0]?.retryAfterMs, hint);
    assert.equal(reconnecting?.retryInMs, hint);
    await server.restart();
    await waitUntil(() => alice.state === "connected" && a.status === "attached", "watching again", 10_000);
  });

  it("gives up after maxAttempts and closes", async () => {
    const alice = await clients.connect("alice", { reconnect: { initialMs: 20, maxMs: 40, maxAttempts: 2 } });
    const a = alice.channel(channelName());
    await a.enter();
    await server.stop("SIGKILL");
    try {
      await waitUntil(() => alice.state === "closed", "alice gives up", 10_000);
      assert.equal(a.status, "failed");
      assert.equal(a.count, 0);
      await assert.rejects(a.messages.publish("x"), { code: "not_subscribed" });
    } finally {
      await server.restart();
    }
  });

  it("a connection that goes silent without closing is noticed by the keep-alive and replaced", async () => {
    // Short heartbeats, so that silence is noticed quickly (timeout 600 ms + 1 s of slack).
    const quick = await TestServer.start({ args: ["--heartbeat-interval-ms", "200", "--heartbeat-timeout-ms", "600"] });
    const local = new Clients(() => quick);
    try {
      const name = channelName();
      const Lossy = lossyWebSocket();
      const alice = await local.connect("alice", { WebSocket: Lossy });
      const bob = await local.connect("bob");
      assert.equal(alice.session?.heartbeatTimeoutMs, 600);
      await alice.channel(name).enter({ name: "Alice" });
      await bob.channel(name).watch();
      const first = alice.session?.connectionId;
      const states = collect<ConnectionStateChange>((l) => alice.on("state", l));
      Lossy.sockets.at(-1)?.silence();
      await waitUntil(() => alice.session?.connectionId !== first && alice.channel(name).status === "attached", "alice is back on a new connection", 10_000);
      assert.equal(Lossy.sockets.length, 2);
      assert.ok(states.some((s) => s.state === "reconnecting"));
      await waitUntil(
        () => bob.channel(name).get("alice")?.connections[0]?.connectionId === alice.session?.connectionId,
        "bob sees alice through her new connection",
      );
      assert.equal(bob.channel(name).get("alice")?.connections.length, 1);
    } finally {
      await local.closeAll();
      await quick.dispose();
    }
  });
});

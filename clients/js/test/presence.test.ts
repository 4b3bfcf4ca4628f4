// Presence against a real server: enter, update, leave, get, isPresent, subscriptions, watch.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { PresenceEvent } from "../src/index.js";
import { Clients, TestServer, channelName, collect, waitUntil, withTimeout } from "./harness.js";

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

describe("presence", () => {
  it("two clients see each other, with their data", async () => {
    const name = channelName();
    const alice = await clients.connect("alice");
    const bob = await clients.connect("bob");
    const room = alice.channel(name);
    const joined = collect<PresenceEvent>((l) => room.subscribe("join", l));
    const first = await room.enter({ name: "Alice" });
    assert.deepEqual(first.map((m) => m.clientId), ["alice"]);
    assert.deepEqual(first[0]?.data, { name: "Alice" });

    const bobs = await bob.channel(name).enter({ name: "Bob" });
    assert.deepEqual(bobs.map((m) => m.clientId), ["alice", "bob"]);
    await waitUntil(() => room.isPresent("bob"), "alice sees bob");
    assert.deepEqual(joined.map(describeEvent), ["join:bob"]);
    assert.deepEqual(room.get("bob")?.data, { name: "Bob" });
    assert.equal(room.get("bob")?.connections.length, 1);
    assert.equal(room.get("bob")?.connections[0]?.connectionId, bob.session?.connectionId);
    assert.deepEqual(room.get().map((m) => m.clientId), ["alice", "bob"]);
    assert.equal(room.count, 2);
    assert.equal(room.status, "attached");
    assert.equal(bob.channel(name).isPresent("alice"), true);
    assert.equal(room.isPresent("carol"), false);
    assert.equal(room.get("carol"), undefined);
  });

  it("update replaces or merges, and every subscriber (the updater too) gets the event", async () => {
    const name = channelName();
    const alice = await clients.connect("alice");
    const bob = await clients.connect("bob");
    const a = alice.channel(name);
    const b = bob.channel(name);
    await a.enter({ name: "Alice", status: "online", pos: { x: 1, y: 2 } });
    await b.enter({ name: "Bob" });
    await waitUntil(() => a.isPresent("bob"), "alice sees bob");
    const seenByBob = collect<PresenceEvent>((l) => b.subscribe("update", l));
    const seenByAlice = collect<PresenceEvent>((l) => a.subscribe(["update"], l));

    const merged = await a.update({ status: "away", pos: { y: 3 } }, { merge: true });
    assert.equal(merged.changed, true);
    await waitUntil(() => seenByBob.length === 1, "bob gets the update");
    assert.deepEqual(b.get("alice")?.data, { name: "Alice", status: "away", pos: { x: 1, y: 3 } });
    assert.equal(seenByBob[0]?.reason, "data");
    assert.deepEqual(seenByBob[0]?.previous?.data, { name: "Alice", status: "online", pos: { x: 1, y: 2 } });
    assert.equal(seenByBob[0]?.seq, merged.seq);
    // The updater's own event came before its ack, so its list is already current.
    assert.equal(seenByAlice.length, 1);
    assert.deepEqual(a.get("alice")?.data, b.get("alice")?.data);

    const replaced = await a.update({ name: "Alice" });
    assert.equal(replaced.changed, true);
    await waitUntil(() => seenByBob.length === 2, "bob gets the replace");
    assert.deepEqual(b.get("alice")?.data, { name: "Alice" });

    const patched = await a.patch({ pos: null });
    assert.equal(patched.changed, false, "removing a missing key changes nothing");
    const unchanged = await a.update({ name: "Alice" });
    assert.equal(unchanged.changed, false);
    await a.update({ name: "Alice", mood: "ok" });
    await waitUntil(() => seenByBob.length === 3, "bob gets the third real change");
    assert.equal(seenByBob.length, 3, "no event for the unchanged updates");
    assert.equal(a.gapCount + b.gapCount, 0);
  });

  it("leave: others get a leave event with the member as it was, the leaver's list empties", async () => {
    const name = channelName();
    const alice = await clients.connect("alice");
    const bob = await clients.connect("bob");
    const a = alice.channel(name);
    const b = bob.channel(name);
    await a.enter({ name: "Alice" });
    await b.enter({ name: "Bob" });
    await waitUntil(() => a.isPresent("bob"), "alice sees bob");
    const leaves = collect<PresenceEvent>((l) => a.subscribe("leave", l));
    await b.leave();
    assert.equal(b.status, "detached");
    assert.equal(b.count, 0);
    await waitUntil(() => leaves.length === 1, "alice gets the leave");
    assert.equal(leaves[0]?.clientId, "bob");
    assert.deepEqual(leaves[0]?.member.data, { name: "Bob" });
    assert.equal(leaves[0]?.member.connections.length, 0);
    assert.equal(a.isPresent("bob"), false);
    assert.deepEqual(a.get().map((m) => m.clientId), ["alice"]);

    // A disconnect counts as leaving too.
    await b.enter({ name: "Bob" });
    await waitUntil(() => a.isPresent("bob"), "bob is back");
    await bob.close();
    await waitUntil(() => leaves.length === 2, "alice sees bob's disconnect as a leave");
    assert.equal(a.isPresent("bob"), false);
  });

  it("subscribe to a subset, unsubscribe functions and unsubscribeAll", async () => {
    const name = channelName();
    const alice = await clients.connect("alice");
    const bob = await clients.connect("bob");
    const a = alice.channel(name);
    await a.enter();
    const all = collect<PresenceEvent>((l) => a.subscribe(l));
    const joinsAndLeaves = collect<PresenceEvent>((l) => a.subscribe(["join", "leave"], l));
    const updatesOnly = collect<PresenceEvent>((l) => a.subscribe("update", l));
    const stoppedEarly = collect<PresenceEvent>((l) => a.subscribe(l));
    stoppedEarly.stop();
    stoppedEarly.stop(); // twice is harmless

    const b = bob.channel(name);
    await b.enter({ n: 1 });
    await b.update({ n: 2 });
    await b.leave();
    await waitUntil(() => all.length === 3, "all three events");
    assert.deepEqual(all.map((e) => e.action), ["join", "update", "leave"]);
    assert.deepEqual(joinsAndLeaves.map((e) => e.action), ["join", "leave"]);
    assert.deepEqual(updatesOnly.map((e) => e.action), ["update"]);
    assert.equal(stoppedEarly.length, 0);

    // unsubscribe(listener) from some actions only, then unsubscribeAll.
    const partial: string[] = [];
    const listener = (e: PresenceEvent) => partial.push(e.action);
    a.subscribe(listener);
    a.unsubscribe(["join"], listener);
    await b.enter();
    await b.leave();
    await waitUntil(() => all.length === 5, "two more events");
    assert.deepEqual(partial, ["leave"]);
    a.unsubscribeAll();
    await b.enter();
    await waitUntil(() => a.isPresent("bob"), "bob entered again");
    assert.equal(all.length, 5, "no listener after unsubscribeAll");
    assert.deepEqual(partial, ["leave"]);
  });

  it("watch sees members and events without entering", async () => {
    const name = channelName();
    const alice = await clients.connect("alice");
    const watcher = await clients.connect("watcher");
    await alice.channel(name).enter({ name: "Alice" });
    const w = watcher.channel(name);
    const members = await w.watch();
    assert.deepEqual(members.map((m) => m.clientId), ["alice"]);
    assert.equal(w.mode, "watch");
    assert.equal(alice.channel(name).isPresent("watcher"), false);
    assert.equal(await alice.isPresent(name, "watcher"), false);
    const events = collect<PresenceEvent>((l) => w.subscribe(l));
    await alice.channel(name).update({ name: "Alice", status: "busy" });
    await waitUntil(() => events.length === 1, "the watcher gets the update");
    assert.deepEqual(w.get("alice")?.data, { name: "Alice", status: "busy" });
    await assert.rejects(w.update({ x: 1 }), { code: "not_joined" });

    // Entering while watching: the watcher's own arrival shows as a join.
    await w.enter({ name: "W" });
    assert.equal(w.mode, "join");
    assert.deepEqual(w.get().map((m) => m.clientId), ["alice", "watcher"]);
    assert.deepEqual(events.map(describeEvent), ["update:alice:data", "join:watcher"]);
    await waitUntil(() => alice.channel(name).isPresent("watcher"), "alice sees the watcher join");
  });

  it("several devices of one client are one member; leaving one is an update", async () => {
    const name = channelName();
    const watcher = await clients.connect("watcher");
    const phone = await clients.connect("ann");
    const laptop = await clients.connect("ann");
    const w = watcher.channel(name);
    await w.watch();
    const events = collect<PresenceEvent>((l) => w.subscribe(l));
    await phone.channel(name).enter({ name: "Ann" });
    await laptop.channel(name).enter();
    await waitUntil(() => events.length === 2, "join then connection_added");
    assert.equal(w.get("ann")?.connections.length, 2);
    assert.deepEqual(w.get("ann")?.data, { name: "Ann" }, "entering without data keeps the data");
    await phone.channel(name).leave();
    await waitUntil(() => events.length === 3, "connection_removed");
    await laptop.channel(name).leave();
    await waitUntil(() => events.length === 4, "leave");
    assert.deepEqual(events.map(describeEvent), [
      "join:ann",
      "update:ann:connection_added",
      "update:ann:connection_removed",
      "leave:ann",
    ]);
  });

  it("remote queries: members, member, isPresent; and local errors", async () => {
    const name = channelName();
    const alice = await clients.connect("alice");
    const other = await clients.connect("other");
    await alice.channel(name).enter({ x: 1 });
    assert.deepEqual((await other.members(name)).map((m) => m.clientId), ["alice"]);
    assert.deepEqual((await other.member(name, "alice"))?.data, { x: 1 });
    assert.equal(await other.member(name, "nobody"), undefined);
    assert.equal(await other.isPresent(name, "alice"), true);
    assert.equal(await other.isPresent(name, "nobody"), false);
    assert.ok((await other.ping()) >= 0);
    assert.throws(() => other.channel("bad name"), { code: "invalid_channel" });
    await assert.rejects(other.channel(channelName()).messages.publish("x"), { code: "not_subscribed" });
    await assert.rejects(alice.channel(name).enter([] as never), { code: "invalid_data" });
    const tooBig = { blob: "x".repeat(5000) };
    await assert.rejects(alice.channel(name).update(tooBig), { code: "data_too_large" });
    // A refused update does not poison the data a re-entry would use.
    assert.deepEqual(alice.channel(name).get("alice")?.data, { x: 1 });
  });

  it("connection state and session info", async () => {
    const states: string[] = [];
    const client = clients.make({ clientId: "sessioned" });
    client.on("state", (s) => states.push(s.state));
    assert.equal(client.state, "idle");
    const session = await withTimeout(client.connect(), 5_000, "connect");
    assert.equal(session.clientId, "sessioned");
    assert.equal(session.protocolVersion, 1);
    assert.match(session.connectionId, /^\d+\.\d+$/);
    assert.ok(session.limits.maxMemberDataBytes > 0);
    assert.equal(client.state, "connected");
    await client.close();
    assert.deepEqual(states, ["connecting", "connected", "closed"]);
  });
});

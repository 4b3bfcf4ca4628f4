// Messages and sequence checking against a real server: publish/subscribe, echo, message ids and
// duplicates, no false gaps under un-echoed publishing, and a real gap repaired by a resync.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Message, PresenceEvent, ResyncInfo } from "../src/index.js";
import { Clients, TestServer, channelName, collect, lossyWebSocket, waitUntil } from "./harness.js";

let server: TestServer;
const clients = new Clients(() => server);

before(async () => {
  server = await TestServer.start();
});

after(async () => {
  await clients.closeAll();
  await server?.dispose();
});

describe("messages", () => {
  it("publish reaches every subscriber, the sender too unless echo is false", async () => {
    const name = channelName();
    const alice = await clients.connect("alice");
    const bob = await clients.connect("bob");
    const watcher = await clients.connect("watcher");
    const a = alice.channel(name);
    await a.enter();
    await bob.channel(name).enter();
    await watcher.channel(name).watch();
    const atAlice = collect<Message>((l) => a.messages.subscribe(l));
    const atBob = collect<Message>((l) => bob.channel(name).messages.subscribe(l));
    const atWatcher = collect<Message>((l) => watcher.channel(name).messages.subscribe(l));

    const first = await a.messages.publish({ text: "hi" });
    assert.equal(first.duplicate, false);
    assert.equal(first.attempts, 1);
    const second = await a.messages.publish({ text: "quiet" }, { echo: false });
    const third = await watcher.channel(name).messages.publish("from a watcher");
    assert.equal(second.seq, first.seq + 1);
    assert.equal(third.seq, second.seq + 1);

    await waitUntil(() => atBob.length === 3 && atWatcher.length === 3, "bob and the watcher get all three");
    assert.deepEqual(atBob.map((m) => m.data), [{ text: "hi" }, { text: "quiet" }, "from a watcher"]);
    assert.deepEqual(atBob.map((m) => m.seq), [first.seq, second.seq, third.seq]);
    assert.equal(atBob[0]?.clientId, "alice");
    assert.equal(atBob[0]?.messageId, first.messageId);
    assert.equal(atBob[2]?.clientId, "watcher");
    await waitUntil(() => atAlice.length === 2, "alice gets her echoed message and the watcher's");
    assert.deepEqual(atAlice.map((m) => m.data), [{ text: "hi" }, "from a watcher"]);
    assert.equal(a.gapCount, 0, "the un-echoed message's number came from its ack");
  });

  it("a repeated message id is delivered once; the duplicate's ack carries the original seq", async () => {
    const name = channelName();
    const alice = await clients.connect("alice");
    const bob = await clients.connect("bob");
    const a = alice.channel(name);
    await a.enter();
    await bob.channel(name).enter();
    const atBob = collect<Message>((l) => bob.channel(name).messages.subscribe(l));
    const once = await a.messages.publish({ n: 1 }, { messageId: "m-1", echo: false });
    const again = await a.messages.publish({ n: 1 }, { messageId: "m-1", echo: false });
    assert.equal(once.duplicate, false);
    assert.equal(again.duplicate, true);
    assert.equal(again.seq, once.seq);
    const later = await a.messages.publish({ n: 2 }, { echo: false });
    assert.equal(later.seq, once.seq + 1, "the duplicate took no number");
    await bob.channel(name).update({ touched: true });
    await waitUntil(() => a.get("bob")?.data["touched"] === true, "alice sees bob's update");
    await waitUntil(() => atBob.length === 2, "bob gets two messages");
    assert.deepEqual(atBob.map((m) => m.data), [{ n: 1 }, { n: 2 }]);
    assert.equal(a.gapCount, 0, "neither the duplicate nor the un-echoed publishes look like gaps");
  });

  it("un-echoed publishing interleaved with others' events never triggers a resync", async () => {
    const name = channelName();
    const alice = await clients.connect("alice");
    const bob = await clients.connect("bob");
    const carol = await clients.connect("carol");
    const a = alice.channel(name);
    const b = bob.channel(name);
    await a.enter({ i: 0 });
    await b.enter({ i: 0 });
    const resyncs = collect<ResyncInfo>((l) => a.on("resync", l));
    const atBob = collect<Message>((l) => b.messages.subscribe(l));
    const work: Promise<unknown>[] = [];
    for (let i = 1; i <= 40; i++) {
      work.push(a.messages.publish({ i }, { echo: false }));
      if (i % 4 === 0) work.push(a.update({ i }));
      if (i % 3 === 0) work.push(b.messages.publish({ bob: i }));
      if (i % 5 === 0) work.push(b.update({ i }));
      if (i % 10 === 0) work.push(carol.channel(name).enter().then(() => carol.channel(name).leave()));
    }
    await Promise.all(work);
    // Settle: a final event from bob that alice must apply in order.
    await b.update({ done: true });
    await waitUntil(() => a.get("bob")?.data["done"] === true, "alice sees bob's last update");
    await waitUntil(() => atBob.filter((m) => m.clientId === "alice").length === 40, "bob gets all 40 of alice's messages");
    assert.equal(a.gapCount, 0);
    assert.deepEqual([...resyncs], []);
    const truth = await bob.members(name);
    assert.deepEqual(a.get(), truth, "alice's list equals the server's");
  });

  it("a real gap (a lost event) is repaired from a fresh member list, emitting only the difference", async () => {
    const name = channelName();
    let dropped = 0;
    const lossy = lossyWebSocket((frame) => {
      if (frame["type"] === "update" && frame["client_id"] === "alice" && dropped === 0) {
        dropped += 1;
        return true;
      }
      return false;
    });
    const alice = await clients.connect("alice");
    const bob = await clients.connect("bob", { WebSocket: lossy });
    const a = alice.channel(name);
    const b = bob.channel(name);
    await a.enter({ status: "online" });
    await b.enter();
    const events = collect<PresenceEvent>((l) => b.subscribe(l));
    const messages = collect<Message>((l) => b.messages.subscribe(l));
    const resyncs = collect<ResyncInfo>((l) => b.on("resync", l));
    await a.update({ status: "away" }); // lost on its way to bob
    await a.messages.publish("after the gap"); // bob sees seq jump here
    await waitUntil(() => resyncs.length === 1, "bob resyncs");
    assert.equal(dropped, 1);
    assert.equal(resyncs[0]?.cause, "gap");
    assert.equal(resyncs[0]?.changes, 1);
    assert.deepEqual(b.get("alice")?.data, { status: "away" });
    assert.deepEqual(
      events.map((e) => `${e.action}:${e.clientId}:${e.reason}`),
      ["update:alice:reconciled"],
    );
    assert.deepEqual(messages.map((m) => m.data), ["after the gap"], "the message that revealed the gap is delivered");
    assert.equal(b.gapCount, 1);
    // Back in step: the next events apply normally.
    await a.update({ status: "back" });
    await waitUntil(() => b.get("alice")?.data["status"] === "back", "bob applies the next update");
    assert.equal(resyncs.length, 1);
    assert.equal(b.seq, a.seq);
  });

  it("a publish whose ack is lost is sent again with the same message id and delivered once", async () => {
    const name = channelName();
    let armed = false;
    const lossy = lossyWebSocket((frame) => {
      const result = frame["result"] as Record<string, unknown> | undefined;
      if (armed && frame["type"] === "ack" && typeof result?.["seq"] === "number" && !("members" in result)) {
        armed = false; // lose exactly one publish ack
        return true;
      }
      return false;
    });
    const alice = await clients.connect("alice", { WebSocket: lossy, publishAckTimeoutMs: 300 });
    const bob = await clients.connect("bob");
    const a = alice.channel(name);
    await a.enter();
    await bob.channel(name).enter();
    const atBob = collect<Message>((l) => bob.channel(name).messages.subscribe(l));
    const atAlice = collect<Message>((l) => a.messages.subscribe(l));
    armed = true;
    const published = await a.messages.publish({ text: "once" });
    assert.equal(armed, false, "an ack was lost");
    assert.equal(published.attempts, 2);
    assert.equal(published.duplicate, true, "the retry was recognised");
    await bob.channel(name).update({ after: true });
    await waitUntil(() => a.get("bob")?.data["after"] === true, "alice sees a later event");
    assert.equal(atBob.length, 1);
    assert.equal(atBob[0]?.seq, published.seq, "the duplicate's ack names the first delivery");
    assert.equal(atAlice.length, 1, "alice's echo once");
    assert.equal(a.gapCount, 0);
  });
});

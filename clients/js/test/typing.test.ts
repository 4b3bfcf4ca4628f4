// Typing indicators against a real server: start/stop, refresh, expiry when a typist goes quiet,
// removal when it disconnects, and the automatic stop after idling.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";

import { TYPING_KEY, type EphemeralMessage } from "../src/index.js";
import { Clients, TestServer, channelName, collect, sleep, waitUntil, withTimeout } from "./harness.js";

let server: TestServer;
const clients = new Clients(() => server);

before(async () => {
  server = await TestServer.start();
});

after(async () => {
  await clients.closeAll();
  await server?.dispose();
});

/** A bare protocol connection that joins `channel`, says it is typing once, and then stays silent. */
async function rawTypist(clientId: string, channel: string): Promise<WebSocket> {
  const socket = new WebSocket(`${server.url}?client_id=${clientId}`);
  const frames: Record<string, unknown>[] = [];
  socket.on("message", (data) => frames.push(JSON.parse(String(data)) as Record<string, unknown>));
  await withTimeout(new Promise((resolve) => socket.once("open", resolve)), 5_000, "raw socket opens");
  socket.send(JSON.stringify({ op: "join", id: 1, channel }));
  await waitUntil(() => frames.some((f) => f["type"] === "ack" && f["id"] === 1), "the raw join is acked");
  socket.send(JSON.stringify({ op: "ephemeral", id: 2, channel, data: { [TYPING_KEY]: true } }));
  await waitUntil(() => frames.some((f) => f["type"] === "ack" && f["id"] === 2), "the raw typing is acked");
  return socket;
}

describe("typing indicators", () => {
  it("start shows the typist to others, stop removes it; subscribers see each change", async () => {
    const name = channelName();
    const alice = await clients.connect("alice");
    const bob = await clients.connect("bob");
    const a = alice.channel(name);
    const b = bob.channel(name);
    await a.enter();
    await b.enter();
    const sets = collect<readonly string[]>((l) => b.typing.subscribe(l));
    const plainEphemeral = collect<EphemeralMessage>((l) => b.ephemeral.subscribe(l));
    a.typing.start();
    a.typing.start(); // repeated keystrokes send nothing more
    assert.equal(a.typing.isTyping, true);
    await waitUntil(() => b.typing.current.includes("alice"), "bob sees alice typing");
    assert.deepEqual(a.typing.current, [], "a client does not list itself");
    a.typing.stop();
    assert.equal(a.typing.isTyping, false);
    await waitUntil(() => b.typing.current.length === 0, "bob sees alice stop");
    assert.deepEqual(sets.map((s) => [...s]), [["alice"], []]);

    // Typing indicators are not mixed into the channel's other ephemeral messages.
    await a.ephemeral.send({ cursor: [1, 2] });
    await waitUntil(() => plainEphemeral.length === 1, "bob gets the cursor");
    assert.deepEqual(plainEphemeral[0]?.data, { cursor: [1, 2] });
  });

  it("a typist that goes quiet expires after the timeout", async () => {
    const name = channelName();
    const bob = await clients.connect("bob", { typing: { timeoutMs: 300 } });
    const b = bob.channel(name);
    await b.enter();
    const sets = collect<readonly string[]>((l) => b.typing.subscribe(l));
    const quiet = await rawTypist("quiet", name);
    try {
      await waitUntil(() => b.typing.current.includes("quiet"), "bob sees the raw typist");
      assert.equal(b.isPresent("quiet"), true, "still a member: only the indicator expires");
      await waitUntil(() => b.typing.current.length === 0, "the indicator expires", 5_000);
      assert.equal(b.isPresent("quiet"), true);
      assert.deepEqual(sets.map((s) => [...s]), [["quiet"], []]);
    } finally {
      quiet.terminate();
    }
  });

  it("while typing, the indicator is refreshed so it does not expire", async () => {
    const name = channelName();
    const alice = await clients.connect("alice", { typing: { refreshMs: 100, idleMs: 60_000 } });
    const bob = await clients.connect("bob", { typing: { timeoutMs: 1_000 } });
    await alice.channel(name).enter();
    await bob.channel(name).enter();
    const sets = collect<readonly string[]>((l) => bob.channel(name).typing.subscribe(l));
    alice.channel(name).typing.start();
    await waitUntil(() => bob.channel(name).typing.current.includes("alice"), "bob sees alice typing");
    await sleep(2_500); // well past bob's timeout: only refreshes keep alice listed
    assert.deepEqual([...bob.channel(name).typing.current], ["alice"]);
    assert.equal(sets.length, 1, "no flapping");
    alice.channel(name).typing.stop();
    await waitUntil(() => bob.channel(name).typing.current.length === 0, "alice stopped");
  });

  it("typing stops by itself after idling, and a disconnected typist is removed at once", async () => {
    const name = channelName();
    const alice = await clients.connect("alice", { typing: { idleMs: 200 } });
    const carol = await clients.connect("carol", { typing: { refreshMs: 60_000, idleMs: 60_000 }, reconnect: false });
    // A long timeout: removals below can only come from a stop signal or a leave.
    const bob = await clients.connect("bob", { typing: { timeoutMs: 60_000 } });
    for (const c of [alice, carol, bob]) await c.channel(name).enter();
    const b = bob.channel(name);

    alice.channel(name).typing.start();
    await waitUntil(() => b.typing.current.includes("alice"), "bob sees alice typing");
    await waitUntil(() => !alice.channel(name).typing.isTyping, "alice's typing idles out");
    await waitUntil(() => !b.typing.current.includes("alice"), "bob gets the automatic stop");

    carol.channel(name).typing.start();
    await waitUntil(() => b.typing.current.includes("carol"), "bob sees carol typing");
    await carol.close();
    await waitUntil(() => !b.isPresent("carol"), "carol left");
    assert.deepEqual([...b.typing.current], [], "carol's indicator went with her");
  });
});

// Two users in one room: presence, an update, a message, typing, and leaving.
//
//   rollcall serve                      # in another terminal (development app, port 7070)
//   npm run build && node examples/quickstart.mjs
//
// ROLLCALL_URL overrides the server address.
import { WebSocket } from "ws"; // Node.js 20 has no global WebSocket; browsers and Node 22+ do
import { RollcallClient } from "@rollcall/client";

const url = process.env.ROLLCALL_URL ?? "ws://127.0.0.1:7070/ws";
const alice = new RollcallClient({ url, clientId: "alice", WebSocket });
const bob = new RollcallClient({ url, clientId: "bob", WebSocket });
await Promise.all([alice.connect(), bob.connect()]);

// Alice enters the room and listens.
const room = alice.channel("lobby");
room.subscribe(["join", "leave"], (e) => console.log(`alice sees ${e.clientId}: ${e.action}`));
room.subscribe("update", (e) => console.log(`alice sees ${e.clientId} update: ${JSON.stringify(e.member.data)}`));
room.messages.subscribe((m) => console.log(`alice gets from ${m.clientId}: ${JSON.stringify(m.data)}`));
room.typing.subscribe((who) => console.log(`typing: [${who.join(", ")}]`));
await room.enter({ name: "Alice", status: "online" });

// Bob enters too: each sees the other.
const bobsRoom = bob.channel("lobby");
await bobsRoom.enter({ name: "Bob" });
await until(() => room.isPresent("bob"));
console.log(`members: ${room.get().map((m) => `${m.clientId} (${m.data.name})`).join(", ")}`);

// Bob changes his status (a merge patch), types, and says hello.
await bobsRoom.update({ status: "away" }, { merge: true });
bobsRoom.typing.start();
await until(() => room.typing.current.includes("bob"));
bobsRoom.typing.stop();
await bobsRoom.messages.publish({ text: "hello" });
await until(() => room.typing.current.length === 0);

// Bob leaves; Alice's list follows.
await bobsRoom.leave();
await until(() => !room.isPresent("bob"));
console.log(`members: ${room.get().map((m) => m.clientId).join(", ")} (count ${room.count})`);

await Promise.all([alice.close(), bob.close()]);

/** Waits (at most 5 s) until `check()` is true. */
async function until(check) {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

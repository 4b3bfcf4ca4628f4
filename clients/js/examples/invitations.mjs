// Ann invites Bob to a game; Bob accepts from his invitation stream and joins.
//
//   rollcall serve                      # in another terminal
//   npm run build && node examples/invitations.mjs
import { WebSocket } from "ws";
import { RollcallClient } from "@rollcall/client";

const url = process.env.ROLLCALL_URL ?? "ws://127.0.0.1:7070/ws";
const ann = new RollcallClient({ url, clientId: "ann", WebSocket });
const bob = new RollcallClient({ url, clientId: "bob", WebSocket });
await Promise.all([ann.connect(), bob.connect()]);

const game = ann.channel("game-7");
await game.enter({ name: "Ann" });
const replied = new Promise((resolve) => ann.on("invitation_reply", resolve));

// Bob answers the first invitation he gets.
const answered = (async () => {
  for await (const invitation of bob.invitations()) {
    console.log(`bob is invited to ${invitation.channel} by ${invitation.from}: ${JSON.stringify(invitation.data)}`);
    const channel = await invitation.accept({ name: "Bob" });
    console.log(`bob is in ${channel.name} with ${channel.get().map((m) => m.clientId).join(", ")}`);
    return; // leaving the loop stops listening
  }
})();

const { invitationId, delivered } = await game.invite("bob", { note: "rematch?" });
console.log(`ann invited bob (${invitationId}, delivered to ${delivered} connection)`);
await answered;
const reply = await replied;
console.log(`bob ${reply.accepted ? "accepted" : "declined"}`);

await Promise.all([ann.close(), bob.close()]);

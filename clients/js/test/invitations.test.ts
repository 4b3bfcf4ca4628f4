// Invitations against a real server: the invitation stream, accept (joins), decline, replies.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { Invitation, InvitationReply, PresenceEvent } from "../src/index.js";
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

describe("invitations", () => {
  it("an invitee accepts from the invitation stream and joins; the inviter gets the join, then the reply", async () => {
    const name = channelName("game");
    const ann = await clients.connect("ann");
    const bob = await clients.connect("bob");
    const game = ann.channel(name);
    await game.enter({ name: "Ann" });
    const replies = collect<InvitationReply>((l) => ann.on("invitation_reply", l));
    const joins = collect<PresenceEvent>((l) => game.subscribe("join", l));
    const stream = bob.invitations();

    const invited = await game.invite("bob", { note: "rematch?" });
    assert.match(invited.invitationId, /^inv_[0-9a-f]{32}$/);
    assert.equal(invited.delivered, 1);

    const next = await withTimeout(stream.next(), 5_000, "bob's invitation");
    assert.equal(next.done, false);
    const invitation = next.value as Invitation;
    assert.equal(invitation.invitationId, invited.invitationId);
    assert.equal(invitation.channel, name);
    assert.equal(invitation.from, "ann");
    assert.equal(invitation.fromConnectionId, ann.session?.connectionId);
    assert.deepEqual(invitation.data, { note: "rematch?" });
    assert.ok(invitation.expiresAt > invitation.ts);

    const channel = await invitation.accept({ name: "Bob" });
    assert.equal(channel.name, name);
    assert.equal(channel.status, "attached");
    assert.equal(channel.mode, "join");
    assert.deepEqual(channel.get().map((m) => m.clientId), ["ann", "bob"]);
    await waitUntil(() => replies.length === 1, "ann gets the reply");
    assert.deepEqual(joins.map((e) => e.clientId), ["bob"], "the join came first");
    assert.equal(replies[0]?.accepted, true);
    assert.equal(replies[0]?.clientId, "bob");
    assert.equal(replies[0]?.invitationId, invited.invitationId);

    // A second answer fails, and the accepted channel behaves like an entered one.
    await assert.rejects(invitation.decline(), { code: "invitation_not_found" });
    await channel.update({ name: "Bob", ready: true });
    await waitUntil(() => game.get("bob")?.data["ready"] === true, "ann sees bob ready");
    await stream.return?.();
    assert.deepEqual(await stream.next(), { value: undefined, done: true });
  });

  it("declining tells the inviter; inviting someone not connected fails", async () => {
    const name = channelName("game");
    const ann = await clients.connect("ann");
    const cat = await clients.connect("cat");
    const game = ann.channel(name);
    await game.watch();
    const replies = collect<InvitationReply>((l) => ann.on("invitation_reply", l));
    const invitations = collect<Invitation>((l) => cat.on("invitation", l));
    await game.invite("cat");
    await waitUntil(() => invitations.length === 1, "cat is invited");
    assert.equal(invitations[0]?.data, undefined);
    await invitations[0]?.decline();
    await waitUntil(() => replies.length === 1, "ann gets the refusal");
    assert.equal(replies[0]?.accepted, false);
    assert.equal(cat.channel(name).status, "detached");
    await assert.rejects(game.invite("nobody-here"), { code: "client_not_connected" });
  });
});

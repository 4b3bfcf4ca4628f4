// An invitation to join a channel, with the means to answer it (mirrors the Rust SDK's
// `Invitation`: accept joins the channel, decline answers no).
export class Invitation {
    accepter;
    decliner;
    /** Answer with this id; the inviter's `invitation_reply` carries it too. */
    invitationId;
    /** The channel this client is invited to. */
    channel;
    /** Who invited. */
    from;
    /** The inviter's connection. */
    fromConnectionId;
    /** The inviter's note, if any. */
    data;
    /** Server time of the invitation (Unix ms). */
    ts;
    /** When it lapses (server time, Unix ms); answering later fails with `invitation_not_found`. */
    expiresAt;
    /** @internal */
    constructor(wire, accepter, decliner) {
        this.accepter = accepter;
        this.decliner = decliner;
        this.invitationId = wire.invitation_id;
        this.channel = wire.channel;
        this.from = wire.from;
        this.fromConnectionId = wire.from_connection_id;
        this.data = wire.data;
        this.ts = wire.ts;
        this.expiresAt = wire.expires_at;
        Object.freeze(this);
    }
    /**
     * Accepts: enters the channel with member `data` and resolves with it, attached. Fails with
     * `invitation_not_found` (answered, expired or unknown) or any enter error; then the
     * invitation stays pending and can be answered again.
     */
    accept(data) {
        return this.accepter(this.invitationId, data);
    }
    /** Declines. Fails with `invitation_not_found` when it was answered, expired or unknown. */
    decline() {
        return this.decliner(this.invitationId);
    }
}

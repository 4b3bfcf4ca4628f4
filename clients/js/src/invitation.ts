// An invitation to join a channel, with the means to answer it (mirrors the Rust SDK's
// `Invitation`: accept joins the channel, decline answers no).

import type { Channel } from "./channel.js";
import type { Json, WireInvitation } from "./protocol.js";
import type { MemberData } from "./types.js";

export class Invitation {
  /** Answer with this id; the inviter's `invitation_reply` carries it too. */
  readonly invitationId: string;
  /** The channel this client is invited to. */
  readonly channel: string;
  /** Who invited. */
  readonly from: string;
  /** The inviter's connection. */
  readonly fromConnectionId: string;
  /** The inviter's note, if any. */
  readonly data: Json | undefined;
  /** Server time of the invitation (Unix ms). */
  readonly ts: number;
  /** When it lapses (server time, Unix ms); answering later fails with `invitation_not_found`. */
  readonly expiresAt: number;

  /** @internal */
  constructor(
    wire: WireInvitation,
    private readonly accepter: (invitationId: string, data: MemberData | undefined) => Promise<Channel>,
    private readonly decliner: (invitationId: string) => Promise<void>,
  ) {
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
  accept(data?: MemberData): Promise<Channel> {
    return this.accepter(this.invitationId, data);
  }

  /** Declines. Fails with `invitation_not_found` when it was answered, expired or unknown. */
  decline(): Promise<void> {
    return this.decliner(this.invitationId);
  }
}

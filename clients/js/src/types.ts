// The SDK's public data types. Everything the application receives is one of these, frozen.

import type { Json, JsonObject } from "./protocol.js";

export type { Json, JsonObject };

/** Member data: a JSON object, shared by all of a member's connections. */
export type MemberData = JsonObject;

/** One connection (device) through which a member is present. */
export interface MemberConnection {
  readonly connectionId: string;
  /** When this connection entered the channel (server time, Unix ms). */
  readonly joinedAt: number;
}

/** One client id in one channel, aggregated over its connections. */
export interface Member {
  readonly clientId: string;
  readonly data: MemberData;
  /** When the member's first connection entered (server time, Unix ms). */
  readonly joinedAt: number;
  /** When the member last changed: data, a connection added or removed, or leaving. */
  readonly updatedAt: number;
  /** Oldest first; never empty for a present member, empty in a `leave` event. */
  readonly connections: readonly MemberConnection[];
}

/**
 * Why a member that stays present changed. `reconciled`: the difference was found by comparing
 * the local member list with a fresh one from the server (after a reconnect or a sequence gap);
 * what happened in between is not known.
 */
export type UpdateReason = "data" | "connection_added" | "connection_removed" | "reconciled";

export type PresenceAction = "join" | "update" | "leave";

/** A change of a channel's member list, as delivered to `channel.subscribe` listeners. */
export interface PresenceEvent {
  readonly action: PresenceAction;
  readonly channel: string;
  readonly clientId: string;
  /** The member as it now is; for `leave`, as it was when it left. */
  readonly member: Member;
  /** For `update` (and `leave`): the member as this client last saw it. */
  readonly previous?: Member;
  /** For `update` only. */
  readonly reason?: UpdateReason;
  /** The connection whose action caused the event; absent for reconciled changes. */
  readonly connectionId?: string;
  /** Server time of the event; absent for reconciled changes. */
  readonly ts?: number;
  /** The channel's sequence number of the event; absent for reconciled changes. */
  readonly seq?: number;
}

/** A message published to a channel. */
export interface Message {
  readonly channel: string;
  readonly seq: number;
  /** Server time (Unix ms). */
  readonly ts: number;
  /** The sender's client id, or null for an anonymous connection without one. */
  readonly clientId: string | null;
  readonly connectionId: string;
  /** The sender's message id, when it gave one (this SDK always does). */
  readonly messageId?: string;
  readonly data: Json;
}

/** An ephemeral (unsequenced, droppable) message. */
export interface EphemeralMessage {
  readonly channel: string;
  readonly ts: number;
  readonly clientId: string | null;
  readonly connectionId: string;
  readonly data: Json;
}

/** The limits the server announced. */
export interface Limits {
  readonly maxFrameBytes: number;
  readonly maxMemberDataBytes: number;
  readonly maxMessageBytes: number;
  readonly maxChannelsPerConnection: number;
}

/** The server's `session` message. A new one arrives with every reconnect. */
export interface Session {
  readonly connectionId: string;
  readonly clientId: string | null;
  readonly serverVersion: string;
  readonly protocolVersion: number;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly resumeToken: string;
  readonly limits: Limits;
}

/** A publish the server acknowledged. */
export interface Published {
  readonly messageId: string;
  /** The message's sequence number (for a duplicate: that of its first delivery). */
  readonly seq: number;
  /** True when the server recognised the message id and delivered nothing again (a retry). */
  readonly duplicate: boolean;
  /** How many times the message was sent. */
  readonly attempts: number;
}

/** The answer to an update. */
export interface Updated {
  /** The `update` event's sequence number, or the channel's current one when nothing changed. */
  readonly seq: number;
  /** False when the new data equalled the old: no event was sent. */
  readonly changed: boolean;
}

/** An invitation the server delivered. */
export interface Invited {
  readonly invitationId: string;
  /** How many of the invitee's connections received it. */
  readonly delivered: number;
}

/** The answer to an invitation this client sent. */
export interface InvitationReply {
  readonly invitationId: string;
  readonly channel: string;
  /** The invitee. */
  readonly clientId: string;
  readonly accepted: boolean;
  readonly ts: number;
}

/** Removes the listener it was returned for. Calling it twice is harmless. */
export type Unsubscribe = () => void;

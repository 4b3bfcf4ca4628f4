// The native protocol's wire shapes (snake_case, as the server sends them) and their conversion
// into the SDK's camelCase types. docs/protocol.md is the reference.

import type {
  InvitationReply,
  Limits,
  Member,
  MemberConnection,
  Session,
  UpdateReason,
} from "./types.js";

/** JSON, as it travels. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object: member data, a patch. */
export type JsonObject = { [key: string]: Json };

export interface WireMember {
  client_id: string;
  data: JsonObject;
  joined_at: number;
  updated_at: number;
  connections: { connection_id: string; joined_at: number }[];
}

export interface WireSession {
  type: "session";
  connection_id: string;
  client_id: string | null;
  server_version: string;
  protocol_version: number;
  heartbeat_interval_ms: number;
  heartbeat_timeout_ms: number;
  resume_token: string;
  limits: {
    max_frame_bytes: number;
    max_member_data_bytes: number;
    max_message_bytes: number;
    max_channels_per_connection: number;
  };
}

export interface WireAck {
  type: "ack";
  id?: number | string;
  result?: Record<string, unknown>;
}

export interface WireError {
  type: "error";
  id?: number | string;
  code: string;
  message: string;
  /** With `server_shutdown`: how long to wait before reconnecting. */
  reconnect_after_ms?: number;
}

export interface WirePong {
  type: "pong";
  id?: number | string;
}

export interface WireMemberEvent {
  type: "join" | "update" | "leave";
  channel: string;
  seq: number;
  ts: number;
  client_id: string;
  connection_id: string;
  reason?: "data" | "connection_added" | "connection_removed";
  member: WireMember;
}

export interface WireMessage {
  type: "message";
  channel: string;
  seq: number;
  ts: number;
  client_id: string | null;
  connection_id: string;
  message_id?: string;
  data: Json;
}

export interface WireEphemeral {
  type: "ephemeral";
  channel: string;
  ts: number;
  client_id: string | null;
  connection_id: string;
  data: Json;
}

export interface WireInvitation {
  type: "invitation";
  invitation_id: string;
  channel: string;
  from: string;
  from_connection_id: string;
  data?: Json;
  ts: number;
  expires_at: number;
}

export interface WireInvitationReply {
  type: "invitation_reply";
  invitation_id: string;
  channel: string;
  client_id: string;
  accepted: boolean;
  ts: number;
}

export type ServerMessage =
  | WireSession
  | WireAck
  | WireError
  | WirePong
  | WireMemberEvent
  | WireMessage
  | WireEphemeral
  | WireInvitation
  | WireInvitationReply;

/** A snapshot: the `result` of join, watch, members and an accepted invite_reply. */
export interface WireSnapshot {
  channel: string;
  seq: number;
  members: WireMember[];
}

/** Reads one text frame; `undefined` for anything that is not a server message object. */
export function parseServerMessage(text: string): ServerMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const type = (value as { type?: unknown }).type;
  return typeof type === "string" ? (value as ServerMessage) : undefined;
}

export function isSnapshot(result: unknown): result is WireSnapshot {
  return (
    typeof result === "object" &&
    result !== null &&
    Array.isArray((result as { members?: unknown }).members) &&
    typeof (result as { seq?: unknown }).seq === "number"
  );
}

export function toMember(wire: WireMember): Member {
  const connections: MemberConnection[] = wire.connections.map((c) =>
    Object.freeze({ connectionId: c.connection_id, joinedAt: c.joined_at }),
  );
  return Object.freeze({
    clientId: wire.client_id,
    data: wire.data,
    joinedAt: wire.joined_at,
    updatedAt: wire.updated_at,
    connections: Object.freeze(connections),
  });
}

export function toSession(wire: WireSession): Session {
  const limits: Limits = {
    maxFrameBytes: wire.limits.max_frame_bytes,
    maxMemberDataBytes: wire.limits.max_member_data_bytes,
    maxMessageBytes: wire.limits.max_message_bytes,
    maxChannelsPerConnection: wire.limits.max_channels_per_connection,
  };
  return Object.freeze({
    connectionId: wire.connection_id,
    clientId: wire.client_id,
    serverVersion: wire.server_version,
    protocolVersion: wire.protocol_version,
    heartbeatIntervalMs: wire.heartbeat_interval_ms,
    heartbeatTimeoutMs: wire.heartbeat_timeout_ms,
    resumeToken: wire.resume_token,
    limits: Object.freeze(limits),
  });
}

export function toInvitationReply(wire: WireInvitationReply): InvitationReply {
  return Object.freeze({
    invitationId: wire.invitation_id,
    channel: wire.channel,
    clientId: wire.client_id,
    accepted: wire.accepted,
    ts: wire.ts,
  });
}

export function toUpdateReason(reason: WireMemberEvent["reason"]): UpdateReason {
  return reason ?? "data";
}

/** The channel-name rule of the protocol, checked locally so a typo fails at once. */
const CHANNEL_NAME = /^[A-Za-z0-9\-_=@,.;:]{1,200}$/;

export function isValidChannelName(name: string): boolean {
  return CHANNEL_NAME.test(name);
}

/** 1–128 bytes of UTF-8 without control characters. */
export function isValidClientId(id: string): boolean {
  if (id.length === 0) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(id)) return false;
  return utf8Length(id) <= 128;
}

export function utf8Length(text: string): number {
  let bytes = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
}

// @rollcall/client: the TypeScript client of rollcall, a real-time presence server.

export { RollcallClient, connectionUrl } from "./client.js";
export type { ClientEvents, ClientOptions, ConnectionState, ConnectionStateChange } from "./client.js";
export { Channel, ChannelEphemeral, ChannelMessages } from "./channel.js";
export type {
  ChannelEvents,
  ChannelSnapshot,
  ChannelStatus,
  ChannelStatusChange,
  PublishOptions,
  ResyncInfo,
} from "./channel.js";
export { Invitation } from "./invitation.js";
export { Typing, TYPING_KEY } from "./typing.js";
export type { TypingOptions } from "./typing.js";
export { RollcallError } from "./errors.js";
export type { LocalErrorCode } from "./errors.js";
export { backoffDelay } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export { SequenceTracker } from "./sequence.js";
export type { Step } from "./sequence.js";
export { mergePatch } from "./merge-patch.js";
export type { WebSocketConstructor, WebSocketLike } from "./socket.js";
export type {
  EphemeralMessage,
  InvitationReply,
  Invited,
  Json,
  JsonObject,
  Limits,
  Member,
  MemberConnection,
  MemberData,
  Message,
  PresenceAction,
  PresenceEvent,
  Published,
  Session,
  Unsubscribe,
  UpdateReason,
  Updated,
} from "./types.js";

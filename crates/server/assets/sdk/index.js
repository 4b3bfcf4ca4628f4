// @rollcall/client: the TypeScript client of rollcall, a real-time presence server.
export { RollcallClient, connectionUrl } from "./client.js";
export { Channel, ChannelEphemeral, ChannelMessages } from "./channel.js";
export { Invitation } from "./invitation.js";
export { Typing, TYPING_KEY } from "./typing.js";
export { RollcallError } from "./errors.js";
export { backoffDelay } from "./backoff.js";
export { SequenceTracker } from "./sequence.js";
export { mergePatch } from "./merge-patch.js";

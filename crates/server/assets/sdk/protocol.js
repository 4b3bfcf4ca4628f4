// The native protocol's wire shapes (snake_case, as the server sends them) and their conversion
// into the SDK's camelCase types. docs/protocol.md is the reference.
/** Reads one text frame; `undefined` for anything that is not a server message object. */
export function parseServerMessage(text) {
    let value;
    try {
        value = JSON.parse(text);
    }
    catch {
        return undefined;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value))
        return undefined;
    const type = value.type;
    return typeof type === "string" ? value : undefined;
}
export function isSnapshot(result) {
    return (typeof result === "object" &&
        result !== null &&
        Array.isArray(result.members) &&
        typeof result.seq === "number");
}
export function toMember(wire) {
    const connections = wire.connections.map((c) => Object.freeze({ connectionId: c.connection_id, joinedAt: c.joined_at }));
    return Object.freeze({
        clientId: wire.client_id,
        data: wire.data,
        joinedAt: wire.joined_at,
        updatedAt: wire.updated_at,
        connections: Object.freeze(connections),
    });
}
export function toSession(wire) {
    const limits = {
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
export function toInvitationReply(wire) {
    return Object.freeze({
        invitationId: wire.invitation_id,
        channel: wire.channel,
        clientId: wire.client_id,
        accepted: wire.accepted,
        ts: wire.ts,
    });
}
export function toUpdateReason(reason) {
    return reason ?? "data";
}
/** The channel-name rule of the protocol, checked locally so a typo fails at once. */
const CHANNEL_NAME = /^[A-Za-z0-9\-_=@,.;:]{1,200}$/;
export function isValidChannelName(name) {
    return CHANNEL_NAME.test(name);
}
/** 1–128 bytes of UTF-8 without control characters. */
export function isValidClientId(id) {
    if (id.length === 0)
        return false;
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f-\u009f]/.test(id))
        return false;
    return utf8Length(id) <= 128;
}
export function utf8Length(text) {
    let bytes = 0;
    for (const ch of text) {
        const code = ch.codePointAt(0) ?? 0;
        bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    }
    return bytes;
}

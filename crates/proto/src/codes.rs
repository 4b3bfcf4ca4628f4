//! Every error code and close code the native protocol uses. `docs/protocol.md` lists the same
//! set; a test there keeps the two in step.

use serde::Serialize;

/// The `code` of an `error` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not valid JSON.
    InvalidJson,
    /// The frame is JSON but not a valid request: not an object, or a field missing or mistyped.
    InvalidMessage,
    /// The `op` is not one the server knows.
    UnknownOp,
    /// A binary frame arrived; the protocol is text only.
    BinaryNotSupported,
    /// A channel name is empty, too long, or holds a character outside the allowed set.
    InvalidChannel,
    /// A client id is empty, too long, or holds a control character.
    InvalidClientId,
    /// Member data is not a JSON object.
    InvalidData,
    /// Member data is over the size limit.
    DataTooLarge,
    /// A message payload is over the size limit.
    MessageTooLarge,
    /// The connection is subscribed to as many channels as allowed.
    TooManyChannels,
    /// The channel has as many members as allowed.
    ChannelFull,
    /// The connection has already joined this channel.
    AlreadyJoined,
    /// The connection is already subscribed to this channel (joined or watching).
    AlreadySubscribed,
    /// The connection has not joined this channel.
    NotJoined,
    /// The connection is neither joined to nor watching this channel.
    NotSubscribed,
    /// Joining needs a client id, and this connection has none.
    IdentityRequired,
    /// The token does not grant this operation on this channel.
    Forbidden,
    /// No pending invitation has this id for this client (unknown, answered or expired).
    InvitationNotFound,
    /// The invited client id has no connection to this app.
    ClientNotConnected,
    /// This connection has as many pending invitations as allowed.
    TooManyInvitations,
    /// This connection sends messages faster than its rate limit allows.
    RateLimited,
    /// The node cannot reach the shared presence engine (Redis) right now; nothing changed.
    /// The connection stays open: retry after a moment.
    EngineUnavailable,
    /// The app in the connection URL does not exist.
    UnknownApp,
    /// The connection URL is invalid (for example a malformed client id).
    BadRequest,
    /// The token is malformed or its signature does not verify.
    InvalidToken,
    /// The token's `exp` is in the past.
    TokenExpired,
    /// The app does not allow connections without a token.
    AnonymousNotAllowed,
    /// The server has as many connections as allowed.
    ServerFull,
    /// A frame was over the maximum frame size.
    FrameTooLarge,
    /// The connection did not keep up with its outbound messages.
    SlowConsumer,
    /// Nothing arrived from the client within the heartbeat timeout.
    HeartbeatTimeout,
    /// The server is shutting down.
    ServerShutdown,
    /// A bug in the server. Please report it.
    InternalError,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [Self; 33] = [
        Self::InvalidJson,
        Self::InvalidMessage,
        Self::UnknownOp,
        Self::BinaryNotSupported,
        Self::InvalidChannel,
        Self::InvalidClientId,
        Self::InvalidData,
        Self::DataTooLarge,
        Self::MessageTooLarge,
        Self::TooManyChannels,
        Self::ChannelFull,
        Self::AlreadyJoined,
        Self::AlreadySubscribed,
        Self::NotJoined,
        Self::NotSubscribed,
        Self::IdentityRequired,
        Self::Forbidden,
        Self::InvitationNotFound,
        Self::ClientNotConnected,
        Self::TooManyInvitations,
        Self::RateLimited,
        Self::EngineUnavailable,
        Self::UnknownApp,
        Self::BadRequest,
        Self::InvalidToken,
        Self::TokenExpired,
        Self::AnonymousNotAllowed,
        Self::ServerFull,
        Self::FrameTooLarge,
        Self::SlowConsumer,
        Self::HeartbeatTimeout,
        Self::ServerShutdown,
        Self::InternalError,
    ];

    /// The code as it appears on the wire.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidMessage => "invalid_message",
            Self::UnknownOp => "unknown_op",
            Self::BinaryNotSupported => "binary_not_supported",
            Self::InvalidChannel => "invalid_channel",
            Self::InvalidClientId => "invalid_client_id",
            Self::InvalidData => "invalid_data",
            Self::DataTooLarge => "data_too_large",
            Self::MessageTooLarge => "message_too_large",
            Self::TooManyChannels => "too_many_channels",
            Self::ChannelFull => "channel_full",
            Self::AlreadyJoined => "already_joined",
            Self::AlreadySubscribed => "already_subscribed",
            Self::NotJoined => "not_joined",
            Self::NotSubscribed => "not_subscribed",
            Self::IdentityRequired => "identity_required",
            Self::Forbidden => "forbidden",
            Self::InvitationNotFound => "invitation_not_found",
            Self::ClientNotConnected => "client_not_connected",
            Self::TooManyInvitations => "too_many_invitations",
            Self::RateLimited => "rate_limited",
            Self::EngineUnavailable => "engine_unavailable",
            Self::UnknownApp => "unknown_app",
            Self::BadRequest => "bad_request",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::AnonymousNotAllowed => "anonymous_not_allowed",
            Self::ServerFull => "server_full",
            Self::FrameTooLarge => "frame_too_large",
            Self::SlowConsumer => "slow_consumer",
            Self::HeartbeatTimeout => "heartbeat_timeout",
            Self::ServerShutdown => "server_shutdown",
            Self::InternalError => "internal_error",
        }
    }

    /// The close code that follows this error, for the errors that always end the connection.
    #[must_use]
    pub fn close_code(self) -> Option<CloseCode> {
        Some(match self {
            Self::BadRequest => CloseCode::BadRequest,
            Self::UnknownApp => CloseCode::UnknownApp,
            Self::InvalidToken | Self::TokenExpired | Self::AnonymousNotAllowed => {
                CloseCode::Unauthorized
            }
            Self::ServerFull => CloseCode::ServerFull,
            Self::FrameTooLarge => CloseCode::MessageTooBig,
            Self::SlowConsumer => CloseCode::SlowConsumer,
            Self::HeartbeatTimeout => CloseCode::HeartbeatTimeout,
            Self::ServerShutdown => CloseCode::GoingAway,
            _ => return None,
        })
    }
}

/// WebSocket close codes the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// 1000: the client asked to close.
    Normal,
    /// 1001: the server is shutting down; reconnect (to another node) after a short delay.
    GoingAway,
    /// 1002: the client broke the WebSocket protocol (bad framing, bad close code).
    ProtocolError,
    /// 1007: a text frame was not valid UTF-8.
    InvalidPayload,
    /// 1009: a frame was over the maximum frame size.
    MessageTooBig,
    /// 1011: an internal server error.
    InternalError,
    /// 4000: the connection URL was invalid. Do not reconnect with the same URL.
    BadRequest,
    /// 4001: the app key is unknown. Do not reconnect with the same URL.
    UnknownApp,
    /// 4003: the token was refused, expired, or missing where required. Get a new token first.
    Unauthorized,
    /// 4008: no frame arrived within the heartbeat timeout. Reconnect.
    HeartbeatTimeout,
    /// 4009: the client read too slowly and its outbound queue overflowed. Reconnect.
    SlowConsumer,
    /// 4013: the server is at its connection limit. Reconnect later, with backoff.
    ServerFull,
}

impl CloseCode {
    /// Every close code, in numeric order (the order of `docs/protocol.md`).
    pub const ALL: [Self; 12] = [
        Self::Normal,
        Self::GoingAway,
        Self::ProtocolError,
        Self::InvalidPayload,
        Self::MessageTooBig,
        Self::InternalError,
        Self::BadRequest,
        Self::UnknownApp,
        Self::Unauthorized,
        Self::HeartbeatTimeout,
        Self::SlowConsumer,
        Self::ServerFull,
    ];

    /// The numeric code.
    #[must_use]
    pub fn code(self) -> u16 {
        match self {
            Self::Normal => 1000,
            Self::GoingAway => 1001,
            Self::ProtocolError => 1002,
            Self::InvalidPayload => 1007,
            Self::MessageTooBig => 1009,
            Self::InternalError => 1011,
            Self::BadRequest => 4000,
            Self::UnknownApp => 4001,
            Self::Unauthorized => 4003,
            Self::HeartbeatTimeout => 4008,
            Self::SlowConsumer => 4009,
            Self::ServerFull => 4013,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

//! rollcall's native protocol: JSON text frames over WebSocket.
//!
//! [`decode_request`] turns a client frame into a typed [`Request`] or a [`DecodeError`] that
//! carries a documented [`ErrorCode`]; [`ServerMessage`] is everything the server sends, encoded
//! once with [`ServerMessage::encode`]. The full description lives in `docs/protocol.md`.

mod codes;
mod request;
mod server;

pub use codes::{CloseCode, ErrorCode};
pub use request::{Command, DataChange, DecodeError, Request, RequestId, decode_request};
pub use server::{AckResult, LimitsInfo, ServerMessage};

/// The version of the protocol described in `docs/protocol.md`.
pub const PROTOCOL_VERSION: u32 = 1;

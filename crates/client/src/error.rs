//! What can go wrong, as types: the server's documented codes are kept, never flattened into
//! strings, so callers can match on them.

use std::time::Duration;

use rollcall_core::{ChannelName, IdError};
use rollcall_proto::ErrorCode;
use serde::Serialize;

/// A boxed source error, so that this crate's public API does not expose its WebSocket library.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An `error` message from the server: a documented code and a human explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ServerError {
    /// The documented code (see `docs/protocol.md`).
    pub code: ErrorCode,
    /// The server's explanation.
    pub message: String,
}

impl ServerError {
    /// Builds an error from the wire form of its code. A code this version of the SDK does not
    /// know (a newer server) becomes [`ErrorCode::InternalError`], with the code kept in the
    /// message so nothing is lost.
    #[must_use]
    pub fn from_wire(code: &str, message: String) -> Self {
        match ErrorCode::ALL.iter().find(|c| c.as_str() == code) {
            Some(&code) => Self { code, message },
            None => Self {
                code: ErrorCode::InternalError,
                message: format!("{code}: {message}"),
            },
        }
    }
}

/// Everything a client operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not a `ws://` or `wss://` URL.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No WebSocket connection could be opened (refused, unresolvable, not a rollcall endpoint,
    /// or no answer within the connect timeout).
    #[error("cannot reach {url}: {source}")]
    Unreachable {
        /// The URL tried, without its query (which may hold a token).
        url: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The server accepted the WebSocket but refused the session: bad token, unknown app,
    /// anonymous clients not allowed, server full.
    #[error("the server refused the connection: {0}")]
    Rejected(ServerError),
    /// The server answered a request with an error.
    #[error("{0}")]
    Server(ServerError),
    /// No answer arrived in time.
    #[error("no answer from the server within {0:?}")]
    Timeout(Duration),
    /// The connection dropped while the request was in flight, and the request is not safe to
    /// send twice. It may or may not have been carried out.
    #[error("the connection was lost before the server answered")]
    Disconnected,
    /// The client was closed (by [`Client::close`](crate::Client::close), by a refused
    /// reconnect, or after giving up reconnecting).
    #[error("the client is closed")]
    Closed,
    /// A channel name that the server would refuse.
    #[error("invalid channel name: {0}")]
    InvalidChannel(IdError),
    /// A client id that the server would refuse.
    #[error("invalid client id: {0}")]
    InvalidClientId(IdError),
    /// This client already joined or watches the channel.
    #[error("already subscribed to {0}")]
    AlreadySubscribed(ChannelName),
    /// The server sent something this SDK cannot make sense of.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

impl Error {
    /// The server's error code, when the error came from the server.
    #[must_use]
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Rejected(e) | Self::Server(e) => Some(e.code),
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_are_typed_and_unknown_ones_kept_in_the_message() {
        let known = ServerError::from_wire("not_joined", "join first".into());
        assert_eq!(known.code, ErrorCode::NotJoined);
        let unknown = ServerError::from_wire("brand_new", "later".into());
        assert_eq!(unknown.code, ErrorCode::InternalError);
        assert_eq!(unknown.message, "brand_new: later");
    }
}

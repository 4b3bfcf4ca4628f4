//! Opening a connection up to and including the server's `session` message.

use std::time::Duration;

use rollcall_proto::ErrorCode;

use crate::error::{BoxError, Error, ServerError};
use crate::session::Session;
use crate::transport::{Connector, Inbound, Transport};
use crate::wire::{Incoming, decode};

/// Why a connection attempt failed.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// No connection, or it ended before the session began.
    Unreachable(BoxError),
    /// The server refused the session.
    Rejected(ServerError),
}

impl HandshakeError {
    pub(crate) fn into_error(self, endpoint: &str) -> Error {
        match self {
            Self::Unreachable(source) => Error::Unreachable {
                url: endpoint.to_owned(),
                source,
            },
            Self::Rejected(e) => Error::Rejected(e),
        }
    }
}

/// Whether a refusal with `code` may go away by itself. The others name a problem with the URL
/// or the token that retrying cannot fix.
pub(crate) fn retryable(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ServerFull | ErrorCode::ServerShutdown | ErrorCode::InternalError
    )
}

/// Connects and waits for the `session` message, all within `timeout`.
pub(crate) async fn handshake<C: Connector>(
    connector: &C,
    timeout: Duration,
) -> Result<(C::Transport, Session), HandshakeError> {
    let attempt = async {
        let mut link = connector
            .connect()
            .await
            .map_err(HandshakeError::Unreachable)?;
        loop {
            let text = match link.recv().await {
                Some(Inbound::Text(text)) => text,
                Some(Inbound::Alive) => continue,
                None => {
                    return Err(HandshakeError::Unreachable(
                        "the connection closed before the session began".into(),
                    ));
                }
            };
            return match decode(&text) {
                Ok(Incoming::Session(session)) => Ok((link, session)),
                Ok(Incoming::Error { code, message, .. }) => Err(HandshakeError::Rejected(
                    ServerError::from_wire(&code, message),
                )),
                _ => Err(HandshakeError::Unreachable(
                    format!("not a rollcall server: the first message was {text:.200}").into(),
                )),
            };
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(HandshakeError::Unreachable(
                format!("no session within {timeout:?}").into(),
            ))
        })
}

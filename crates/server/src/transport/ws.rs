//! WebSocket settings and read-error handling shared by every WebSocket endpoint, so that the
//! conformance suite (run against the echo endpoint) exercises exactly what clients get.

use axum::extract::ws::WebSocketUpgrade;
use rollcall_proto::CloseCode;
use tokio_tungstenite::tungstenite;

use crate::config::Limits;

/// Read buffer per connection, allocated for its whole life. Small on purpose: clients send
/// frames of a few hundred bytes, and an idle connection should cost a few kilobytes, not the
/// library's 128 KiB default. A larger frame grows the buffer for as long as it needs; it is
/// read at most this many bytes per system call. (4 KiB cost 3 KiB more per idle connection:
/// docs/benchmarks.md.)
const READ_BUFFER_BYTES: usize = 1024;

/// Bytes the WebSocket layer buffers before writing to the socket; the writer flushes once per
/// batch anyway, so this only caps how much one batch accumulates before a write.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;

/// Applies the configured limits to an upgrade.
pub(crate) fn configure(upgrade: WebSocketUpgrade, limits: &Limits) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_frame_size(limits.max_frame_bytes)
        .max_message_size(limits.max_frame_bytes)
}

/// What a read error means for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadFailure {
    /// The peer went away (reset, EOF without close): nothing can be sent.
    Gone,
    /// The peer sent something the protocol forbids; close with this code.
    Violation(CloseCode),
}

/// Classifies an error from reading the socket.
pub(crate) fn classify(error: axum::Error) -> ReadFailure {
    let inner = error.into_inner();
    let Some(error) = inner.downcast_ref::<tungstenite::Error>() else {
        return ReadFailure::Gone;
    };
    match error {
        tungstenite::Error::Capacity(_) => ReadFailure::Violation(CloseCode::MessageTooBig),
        tungstenite::Error::Utf8(_) => ReadFailure::Violation(CloseCode::InvalidPayload),
        tungstenite::Error::Protocol(_) => ReadFailure::Violation(CloseCode::ProtocolError),
        _ => ReadFailure::Gone,
    }
}

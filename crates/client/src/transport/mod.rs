//! The byte-level connection, behind two small traits so the driver's logic (reconnects,
//! backoff, resync) can be tested against an in-memory server with a paused clock.

mod ws;

#[cfg(test)]
pub(crate) mod fake;

use std::future::Future;

pub(crate) use ws::WsConnector;

use crate::error::BoxError;

/// Something that arrived on a connection.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A text frame.
    Text(String),
    /// A sign of life without content (a WebSocket ping or pong).
    Alive,
}

/// One open connection carrying text frames.
pub(crate) trait Transport: Send + 'static {
    /// Sends one text frame.
    fn send(&mut self, text: String) -> impl Future<Output = Result<(), BoxError>> + Send;
    /// The next thing that arrived; `None` once the connection has ended. Cancel-safe.
    fn recv(&mut self) -> impl Future<Output = Option<Inbound>> + Send;
    /// Closes the connection politely, within a short bound.
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// Opens connections to one server endpoint.
pub(crate) trait Connector: Send + Sync + 'static {
    /// The connections it opens.
    type Transport: Transport;
    /// Opens one connection (the WebSocket handshake, not yet the protocol's `session`).
    fn connect(&self) -> impl Future<Output = Result<Self::Transport, BoxError>> + Send;
    /// The endpoint, for messages; never includes the query, which may hold a token.
    fn endpoint(&self) -> &str;
}

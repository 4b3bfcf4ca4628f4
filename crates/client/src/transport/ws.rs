//! The real transport: a WebSocket from tokio-tungstenite.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

use super::{Connector, Inbound, Transport};
use crate::error::BoxError;

/// Presence traffic is small frames; the library's 128 KiB default read buffer per connection
/// would be mostly empty.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// How long a polite close may take before the connection is simply dropped.
const CLOSE_DEADLINE: Duration = Duration::from_secs(1);

/// Connects to one `ws://` URL (query included).
#[derive(Debug, Clone)]
pub(crate) struct WsConnector {
    url: String,
    endpoint: String,
}

impl WsConnector {
    /// `url` is the full URL to connect to; `endpoint` is how to name it in messages.
    pub(crate) fn new(url: String, endpoint: String) -> Self {
        Self { url, endpoint }
    }
}

impl Connector for WsConnector {
    type Transport = WsTransport;

    async fn connect(&self) -> Result<WsTransport, BoxError> {
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
        // Nagle off: presence events are small and latency-sensitive.
        let (ws, _response) = connect_async_with_config(self.url.as_str(), Some(config), true)
            .await
            .map_err(Box::new)?;
        Ok(WsTransport { ws })
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

/// An open WebSocket.
pub(crate) struct WsTransport {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Transport for WsTransport {
    async fn send(&mut self, text: String) -> Result<(), BoxError> {
        self.ws.send(Message::text(text)).await.map_err(Into::into)
    }

    async fn recv(&mut self) -> Option<Inbound> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => return Some(Inbound::Text(text.as_str().to_owned())),
                // tungstenite answers pings itself on the next read.
                Ok(Message::Ping(_) | Message::Pong(_)) => return Some(Inbound::Alive),
                Ok(Message::Close(frame)) => {
                    tracing::debug!(?frame, "server closed the connection");
                    return None;
                }
                // The protocol is text only; a binary frame is not ours to interpret.
                Ok(Message::Binary(_) | Message::Frame(_)) => {}
                Err(error) => {
                    tracing::debug!(%error, "connection failed");
                    return None;
                }
            }
        }
    }

    async fn close(&mut self) {
        let _ = tokio::time::timeout(CLOSE_DEADLINE, self.ws.close(None)).await;
    }
}

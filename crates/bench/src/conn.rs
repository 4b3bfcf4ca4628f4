//! One simulated client: a raw WebSocket that counts what it receives.
//!
//! No SDK on purpose: a bench client must cost little (tens of thousands of them share two
//! cores with the server) and must do exactly what the scenario says, with no retries or
//! reconnection logic of its own.

use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_tungstenite::tungstenite::http::Uri;

use crate::args::{Plan, ProtocolKind};
use crate::error::ConnError;
use crate::protocol::{Incoming, Me, Request};
use crate::pusher::Signer;
use crate::ws::{Frame, WsClient, WsError};

/// The largest frame a client accepts: a storm's snapshots list every member (~200 bytes each).
const MAX_MESSAGE: usize = 64 << 20;

/// Now as Unix microseconds: the clock that every process of a run shares, so that a time
/// written into a payload by one process can be compared with the arrival time in another.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A connected client.
pub(crate) struct Conn {
    ws: WsClient,
    protocol: ProtocolKind,
    /// This client's id (Pusher: its presence `user_id`).
    client_id: String,
    /// The connection id the server assigned, where signatures need it (Pusher's `socket_id`).
    socket_id: String,
    signer: Arc<Signer>,
    /// Text frames received (Pusher pings excepted, like native WebSocket pings).
    pub(crate) frames: u64,
    /// Bytes of text frames received.
    pub(crate) bytes: u64,
}

impl Conn {
    /// Connects as `client_id` to the server of `plan` and waits for the server's first frame,
    /// which must accept the connection.
    pub(crate) async fn open(plan: &Plan, client_id: String) -> Result<Self, ConnError> {
        let protocol = plan.protocol;
        let url = protocol.connect_url(&plan.url, &plan.app, Some(&client_id));
        let patience = plan.timeout;
        // Distinct handshake keys and masks per connection, in every worker process.
        static CONNECTIONS: AtomicU64 = AtomicU64::new(0);
        let nonce =
            u64::from(std::process::id()) << 32 | CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        let uri: Uri = url
            .parse()
            .map_err(|_| ConnError::Unexpected(format!("not a URL: {url}")))?;
        let host = uri.host().unwrap_or("127.0.0.1").trim_matches(['[', ']']);
        let port = uri.port_u16().unwrap_or(80);
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let connect = WsClient::connect(host, port, path, nonce, MAX_MESSAGE);
        let ws = tokio::time::timeout(patience, connect)
            .await
            .map_err(|_| ConnError::Timeout)??;
        let mut conn = Self {
            ws,
            protocol,
            client_id,
            socket_id: String::new(),
            signer: plan.signer.clone(),
            frames: 0,
            bytes: 0,
        };
        let first = tokio::time::timeout(patience, conn.recv())
            .await
            .map_err(|_| ConnError::Timeout)??;
        match protocol.decode(&first) {
            Incoming::Session => {
                if protocol == ProtocolKind::Pusher {
                    conn.socket_id = protocol.socket_id(&first).ok_or_else(|| {
                        ConnError::Unexpected(first.as_str().chars().take(200).collect())
                    })?;
                }
                Ok(conn)
            }
            Incoming::Error { code, .. } => Err(ConnError::Refused(code.into_owned())),
            _ => Err(ConnError::Unexpected(
                first.as_str().chars().take(200).collect(),
            )),
        }
    }

    /// Sends one text frame.
    pub(crate) async fn send(&mut self, text: String) -> Result<(), ConnError> {
        self.ws.send_text(&text).await?;
        Ok(())
    }

    /// `request` in this connection's protocol, as request `id`.
    pub(crate) fn encode(&self, id: u64, request: &Request) -> String {
        self.protocol.encode(
            id,
            request,
            Me {
                user_id: &self.client_id,
                socket_id: &self.socket_id,
                signer: &self.signer,
            },
        )
    }

    /// Sends `request` as request `id`, without waiting for an answer.
    pub(crate) async fn send_request(
        &mut self,
        id: u64,
        request: &Request,
    ) -> Result<(), ConnError> {
        let text = self.encode(id, request);
        self.send(text).await
    }

    /// The next text frame. WebSocket pings are answered by the client (`ws.rs`) and Pusher's
    /// `pusher:ping` here; a close, or the end of the stream, is an error.
    pub(crate) async fn recv(&mut self) -> Result<Utf8Bytes, ConnError> {
        loop {
            let frame = match self.ws.next().await {
                Ok(frame) => frame,
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(ConnError::Closed(None));
                }
                Err(e) => return Err(e.into()),
            };
            match frame {
                Frame::Text(text) => {
                    // A ping is a few dozen bytes: only short frames naming it are decoded here.
                    if self.protocol == ProtocolKind::Pusher
                        && text.len() <= 128
                        && text.contains("pusher:ping")
                        && self.protocol.decode(&text) == Incoming::Ping
                    {
                        self.send(r#"{"event":"pusher:pong","data":{}}"#.to_owned())
                            .await?;
                        continue;
                    }
                    self.frames += 1;
                    self.bytes += text.len() as u64;
                    return Ok(Utf8Bytes::from(text));
                }
                Frame::Close(code) => return Err(ConnError::Closed(code)),
            }
        }
    }

    /// Sends `request` as request `id` and reads until its ack, skipping other frames.
    pub(crate) async fn request(
        &mut self,
        id: u64,
        request: &Request,
        patience: Duration,
    ) -> Result<(), ConnError> {
        self.request_raw(id, request, patience).await.map(drop)
    }

    /// Like [`Self::request`], returning the ack frame itself.
    pub(crate) async fn request_raw(
        &mut self,
        id: u64,
        request: &Request,
        patience: Duration,
    ) -> Result<Utf8Bytes, ConnError> {
        self.send_request(id, request).await?;
        let protocol = self.protocol;
        tokio::time::timeout(patience, async {
            loop {
                let text = self.recv().await?;
                match protocol.decode(&text) {
                    Incoming::Ack { id: got, .. } if protocol.answers(got, id) => {
                        return Ok(text.clone());
                    }
                    Incoming::Error { id: got, code } if protocol.answers(got, id) => {
                        return Err(ConnError::Refused(code.into_owned()));
                    }
                    _ => {}
                }
            }
        })
        .await
        .map_err(|_| ConnError::Timeout)?
    }

    /// Reads (and hands to `on`) whatever arrives until `at`: a client that sleeps without
    /// reading would be cut off by the server as a slow consumer.
    pub(crate) async fn pump_until(
        &mut self,
        at: Instant,
        mut on: impl FnMut(Incoming<'_>),
    ) -> Result<(), ConnError> {
        let protocol = self.protocol;
        let sleep = tokio::time::sleep_until(at);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                () = &mut sleep => return Ok(()),
                frame = self.recv() => on(protocol.decode(&frame?)),
            }
        }
    }

    /// Closes politely (close frame), waiting briefly for the server's answer.
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            self.ws.send_close().await?;
            // Until the server's close frame or the end of the stream.
            loop {
                if let Frame::Close(_) = self.ws.next().await? {
                    return Ok::<(), WsError>(());
                }
            }
        })
        .await;
    }
}

//! An in-memory transport and a scripted connector, for driver tests under a paused clock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Connector, Inbound, Transport};
use crate::error::BoxError;

/// The client's side of an in-memory connection.
pub(crate) struct FakeTransport {
    to_server: mpsc::UnboundedSender<String>,
    from_server: mpsc::UnboundedReceiver<Inbound>,
}

impl Transport for FakeTransport {
    async fn send(&mut self, text: String) -> Result<(), BoxError> {
        self.to_server
            .send(text)
            .map_err(|_| "the fake server hung up".into())
    }

    async fn recv(&mut self) -> Option<Inbound> {
        self.from_server.recv().await
    }

    async fn close(&mut self) {}
}

/// The test's side of an in-memory connection: it plays the server.
pub(crate) struct ServerEnd {
    from_client: mpsc::UnboundedReceiver<String>,
    to_client: Option<mpsc::UnboundedSender<Inbound>>,
}

impl ServerEnd {
    /// Sends a message to the client.
    pub(crate) fn send(&self, message: &Value) {
        if let Some(tx) = &self.to_client {
            let _ = tx.send(Inbound::Text(message.to_string()));
        }
    }

    /// Sends the `session` message, with heartbeats far longer than any test.
    pub(crate) fn greet(&self, connection: &str) {
        self.greet_with(connection, 3_600_000, 7_200_000);
    }

    /// Sends the `session` message with the given heartbeat interval and timeout (ms).
    pub(crate) fn greet_with(&self, connection: &str, interval: u64, timeout: u64) {
        self.send(&json!({
            "type": "session", "connection_id": connection, "client_id": "ann",
            "server_version": "test", "protocol_version": 1,
            "heartbeat_interval_ms": interval, "heartbeat_timeout_ms": timeout,
            "resume_token": "r",
            "limits": {"max_frame_bytes": 65536, "max_member_data_bytes": 2048,
                       "max_message_bytes": 16384, "max_channels_per_connection": 100}
        }));
    }

    /// The next request from the client (keep-alive pings skipped); panics if none comes.
    pub(crate) async fn recv(&mut self) -> Value {
        loop {
            let text = tokio::time::timeout(Duration::from_secs(60), self.from_client.recv())
                .await
                .expect("a request within a minute")
                .expect("the client is connected");
            let value: Value = serde_json::from_str(&text).expect("requests are JSON");
            if value["op"] != "ping" {
                return value;
            }
        }
    }

    /// The next frame from the client, pings included.
    pub(crate) async fn recv_raw(&mut self) -> Value {
        let text = self
            .from_client
            .recv()
            .await
            .expect("the client is connected");
        serde_json::from_str(&text).expect("requests are JSON")
    }

    /// Answers `request` with an ack carrying `result`.
    pub(crate) fn ack(&self, request: &Value, result: &Value) {
        self.send(&json!({"type": "ack", "id": request["id"], "result": result}));
    }

    /// Ends the connection as a crash would.
    pub(crate) fn hang_up(&mut self) {
        self.to_client = None;
        self.from_client.close();
    }
}

/// What the next connection attempt does.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Attempt {
    Refuse,
    Accept,
}

/// A connector that follows a script (refusing once the script runs out) and records when each
/// attempt was made.
#[derive(Clone)]
pub(crate) struct FakeConnector {
    script: Arc<Mutex<VecDeque<Attempt>>>,
    pub(crate) attempts: Arc<Mutex<Vec<Instant>>>,
    accepted: mpsc::UnboundedSender<ServerEnd>,
}

impl FakeConnector {
    /// A connector and the receiver of the server ends of the connections it accepts.
    pub(crate) fn new(script: &[Attempt]) -> (Self, mpsc::UnboundedReceiver<ServerEnd>) {
        let (accepted, ends) = mpsc::unbounded_channel();
        let connector = Self {
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            attempts: Arc::default(),
            accepted,
        };
        (connector, ends)
    }

    /// Appends to the script.
    pub(crate) fn then(&self, attempts: &[Attempt]) {
        self.script.lock().unwrap().extend(attempts.iter().copied());
    }

    /// When each attempt was made.
    pub(crate) fn attempt_times(&self) -> Vec<Instant> {
        self.attempts.lock().unwrap().clone()
    }
}

impl Connector for FakeConnector {
    type Transport = FakeTransport;

    async fn connect(&self) -> Result<FakeTransport, BoxError> {
        self.attempts.lock().unwrap().push(Instant::now());
        let next = self.script.lock().unwrap().pop_front();
        match next {
            Some(Attempt::Accept) => {
                let (to_server, from_client) = mpsc::unbounded_channel();
                let (to_client, from_server) = mpsc::unbounded_channel();
                let _ = self.accepted.send(ServerEnd {
                    from_client,
                    to_client: Some(to_client),
                });
                Ok(FakeTransport {
                    to_server,
                    from_server,
                })
            }
            Some(Attempt::Refuse) | None => Err("connection refused".into()),
        }
    }

    fn endpoint(&self) -> &str {
        "fake://server"
    }
}

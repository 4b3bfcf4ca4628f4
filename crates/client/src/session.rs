//! The connection as the application can observe it: its state and the server's `session`.

use std::time::Duration;

use rollcall_core::{ClientId, ConnectionId};
use serde::{Deserialize, Serialize};

use crate::error::ServerError;

/// The server's `session` message: who this connection is and the limits to respect. A new one
/// arrives with every reconnect (the connection id changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// This connection's id, unique across the cluster.
    pub connection_id: ConnectionId,
    /// The connection's identity, when it has one.
    pub client_id: Option<ClientId>,
    /// The server's version.
    pub server_version: String,
    /// The protocol version.
    pub protocol_version: u32,
    /// How often the server pings, in ms.
    pub heartbeat_interval_ms: u64,
    /// How long the server waits for any frame before closing the connection, in ms.
    pub heartbeat_timeout_ms: u64,
    /// An opaque token for resuming this session later.
    pub resume_token: String,
    /// Limits to respect.
    pub limits: Limits,
}

impl Session {
    /// How often this client sends a keep-alive: the server's ping interval, so the server always
    /// hears from a live client well within its timeout.
    pub(crate) fn keepalive_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms.max(100))
    }

    /// How long this client tolerates silence before it assumes the connection is dead. The
    /// server pings every interval, so silence for a whole timeout means the path is broken.
    pub(crate) fn silence_timeout(&self) -> Duration {
        Duration::from_millis(self.heartbeat_timeout_ms.max(self.heartbeat_interval_ms) + 1_000)
    }
}

/// The limits announced by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest accepted frame, in bytes.
    pub max_frame_bytes: usize,
    /// Largest accepted member data (serialized JSON), in bytes.
    pub max_member_data_bytes: usize,
    /// Largest accepted message payload (serialized JSON), in bytes.
    pub max_message_bytes: usize,
    /// Most channels one connection may join or watch at once.
    pub max_channels_per_connection: usize,
}

/// Where the connection stands. Observe it with
/// [`Client::state_changes`](crate::Client::state_changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// A reconnect attempt is under way. (The first connection is made inside
    /// [`Client::connect`](crate::Client::connect), before there is a state to observe.)
    Connecting {
        /// 1 for the first attempt after the connection was lost, then 2, 3, …
        attempt: u32,
    },
    /// Connected, and every channel subscribed again after a reconnect has been requested.
    Connected,
    /// The connection was lost; the next attempt starts after `retry_in`.
    Reconnecting {
        /// The attempt that comes next (1 for the first retry).
        attempt: u32,
        /// The delay before it: the backoff's, or for the first attempt after a server's
        /// `server_shutdown`, the `reconnect_after_ms` the server asked for.
        retry_in: Duration,
    },
    /// The client will not connect again.
    Closed(CloseReason),
}

/// Why a client closed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The application closed it, or dropped every handle.
    ClientClosed,
    /// The server refused a reconnect in a way that retrying cannot fix (bad or expired token,
    /// unknown app).
    Rejected(ServerError),
    /// The configured number of reconnect attempts ran out.
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
    },
}

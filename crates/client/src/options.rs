//! How a client connects: identity, timeouts, reconnect policy.

use std::fmt;
use std::time::Duration;

use rollcall_core::ClientId;

use crate::backoff::Backoff;

/// Who the client is.
#[derive(Clone, Default)]
pub enum Auth {
    /// No token. With a client id, the connection can join channels (apps that allow anonymous
    /// clients only); without one it can only watch and query.
    #[default]
    Anonymous,
    /// No token, with a self-asserted client id.
    ClientId(ClientId),
    /// A token signed by the application's backend; it names the client.
    Token(String),
}

impl fmt::Debug for Auth {
    // A token is a credential: keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::ClientId(id) => f.debug_tuple("ClientId").field(id).finish(),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

/// Options of [`Client::connect`](crate::Client::connect). Start from
/// [`ConnectOptions::anonymous`], [`ConnectOptions::token`] or `Default`, then adjust.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Identity. Default [`Auth::Anonymous`].
    pub auth: Auth,
    /// The app key (`?app=`). Needed only when the server hosts several apps. Default `None`.
    pub app_key: Option<String>,
    /// How long one connection attempt may take, handshake included. Default 10 s.
    pub connect_timeout: Duration,
    /// How long a request waits for its answer. Default 10 s.
    pub request_timeout: Duration,
    /// How long one attempt of a publish waits for its ack before it is sent again (with the
    /// same message id, so the channel sees it once). Default 3 s.
    pub publish_ack_timeout: Duration,
    /// How many times a publish is sent at most. Default 3.
    pub publish_attempts: u32,
    /// Reconnect policy.
    pub reconnect: Backoff,
    /// Events buffered per channel (and for client events) for a receiver that is not reading;
    /// past that it misses events and is told so. Default 1024.
    pub event_capacity: usize,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            auth: Auth::Anonymous,
            app_key: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            publish_ack_timeout: Duration::from_secs(3),
            publish_attempts: 3,
            reconnect: Backoff::default(),
            event_capacity: 1024,
        }
    }
}

impl ConnectOptions {
    /// An anonymous client asserting `client_id` (development, or apps that allow it).
    #[must_use]
    pub fn anonymous(client_id: ClientId) -> Self {
        Self {
            auth: Auth::ClientId(client_id),
            ..Self::default()
        }
    }

    /// A client identified by a token.
    #[must_use]
    pub fn token(token: impl Into<String>) -> Self {
        Self {
            auth: Auth::Token(token.into()),
            ..Self::default()
        }
    }

    /// Sets the app key.
    #[must_use]
    pub fn with_app_key(mut self, key: impl Into<String>) -> Self {
        self.app_key = Some(key.into());
        self
    }

    /// Sets the reconnect policy.
    #[must_use]
    pub fn with_reconnect(mut self, backoff: Backoff) -> Self {
        self.reconnect = backoff;
        self
    }

    /// Sets the request timeout.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets how long a publish waits for its ack per attempt, and how many attempts it makes.
    #[must_use]
    pub fn with_publish_retry(mut self, ack_timeout: Duration, attempts: u32) -> Self {
        self.publish_ack_timeout = ack_timeout;
        self.publish_attempts = attempts.max(1);
        self
    }
}

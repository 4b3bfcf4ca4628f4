//! Server configuration: built-in defaults, overridden by a TOML file, then by `ROLLCALL_*`
//! environment variables and command-line flags (those two are merged by the CLI).
//!
//! Every field documents its default; `docs/configuration.md` has the same table.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rollcall_core::AppId;
use serde::{Deserialize, Serialize};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("invalid configuration in {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with the line.
        message: String,
    },
    /// The values are individually valid but do not make sense together.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole server configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:7070`.
    pub listen: SocketAddr,
    /// This node's number, the first half of every connection id. Default: random at start-up.
    pub node_id: Option<u32>,
    /// Heartbeat timings.
    pub heartbeat: HeartbeatConfig,
    /// Size and count limits.
    pub limits: Limits,
    /// The tenants. Default: one development app (see [`AppConfig::development`]).
    pub apps: Vec<AppConfig>,
    /// Switches meant for test suites only.
    pub testing: TestingConfig,
    /// Timings of the Pusher protocol and its webhooks (server-wide).
    pub pusher: PusherConfig,
    /// The operator dashboard and its HTTP API (`[admin]`).
    pub admin: AdminConfig,
    /// How a stopping server lets its clients go (`[shutdown]`).
    pub shutdown: ShutdownConfig,
    /// Log output (`[log]`).
    pub log: LogConfig,
    /// Where presence lives: `memory` (this process, the default) or `redis` (shared by every
    /// node pointed at the same Redis; see `docs/cluster.md`).
    pub engine: EngineKind,
    /// The Redis engine's settings (`[redis]`), used when `engine = "redis"`.
    pub redis: RedisConfig,
}

/// Which engine keeps presence and sequence numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// In this process: one node, nothing to run beside it.
    #[default]
    Memory,
    /// In Redis, shared by every node that uses the same Redis and key prefix.
    Redis,
}

/// How a node uses Redis (`[redis]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// The server, as a `redis://` URL. Default `redis://127.0.0.1:6379`.
    pub url: String,
    /// Prefix of every key and pub/sub channel, so that several clusters can share one Redis.
    /// Default `rollcall`.
    pub key_prefix: String,
    /// How long a node's liveness lease lasts; it is renewed every fifth of this. When a node
    /// dies its members leave at most about this long plus one second later. Default 10000 ms.
    pub node_lease_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".into(),
            key_prefix: "rollcall".into(),
            node_lease_ms: 10_000,
        }
    }
}

impl RedisConfig {
    /// The shortest lease accepted: renewals every 100 ms are already a lot of Redis traffic.
    pub const MIN_LEASE_MS: u64 = 500;
    /// The longest lease accepted: one hour.
    pub const MAX_LEASE_MS: u64 = 3_600_000;
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            node_id: None,
            heartbeat: HeartbeatConfig::default(),
            limits: Limits::default(),
            apps: vec![AppConfig::development()],
            testing: TestingConfig::default(),
            pusher: PusherConfig::default(),
            admin: AdminConfig::default(),
            shutdown: ShutdownConfig::default(),
            log: LogConfig::default(),
            engine: EngineKind::default(),
            redis: RedisConfig::default(),
        }
    }
}

/// What happens on SIGTERM / SIGINT: clients are told to reconnect (elsewhere) after a random
/// delay, so a fleet of clients does not come back all at once, and the server waits for them
/// to go before it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Longest wait for connections to close once shutdown begins; the server exits then,
    /// whatever is still open. Default 10000 ms.
    pub drain_timeout_ms: u64,
    /// Clients are told to reconnect after a random delay between 0 and this: native clients
    /// in the `reconnect_after_ms` of `error` `server_shutdown`; Pusher clients, which have no
    /// such hint, are closed at a random moment within it (at most half the drain timeout).
    /// Default 5000 ms.
    pub reconnect_window_ms: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            drain_timeout_ms: 10_000,
            reconnect_window_ms: 5_000,
        }
    }
}

impl ShutdownConfig {
    /// The longest drain timeout or reconnect window accepted: one hour. Longer waits are
    /// mistakes (and would overflow clock arithmetic).
    pub const MAX_MS: u64 = 3_600_000;

    /// [`Self::drain_timeout_ms`] as a duration.
    #[must_use]
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }
}

/// Log output. The verbosity is the `ROLLCALL_LOG` filter (`info` by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (one human-readable line per event, the default) or `json` (one JSON object
    /// per line, for log collectors).
    pub format: LogFormat,
}

/// How log lines are written (to standard error).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The operator dashboard (`/dashboard`) and its HTTP API (`/api/…`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// The bearer token that opens the dashboard and the admin API; at least
    /// [`AdminConfig::MIN_TOKEN_LEN`] bytes. Default none: both answer 403.
    pub token: Option<String>,
}

impl AdminConfig {
    /// The shortest admin token accepted, in bytes.
    pub const MIN_TOKEN_LEN: usize = 16;
}

impl std::fmt::Debug for AdminConfig {
    // The token is a secret: logs and panics show only whether one is set.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Server-wide settings of the Pusher protocol (`/app/{key}`) and webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PusherConfig {
    /// The `activity_timeout` announced to Pusher clients, in seconds: a client pings after this
    /// much silence, and the server pings a client it has not heard from for this long.
    /// Default 120.
    pub activity_timeout_s: u64,
    /// How long the server waits for any frame after its own `pusher:ping` before closing the
    /// connection with 4201. Default 30000 ms.
    pub pong_timeout_ms: u64,
    /// How long `member_removed` and `channel_vacated` webhooks wait; one whose member or
    /// channel comes back meanwhile is not sent (nor is the matching `member_added` /
    /// `channel_occupied`). Default 3000 ms.
    pub webhook_delay_ms: u64,
    /// Webhook events waiting for delivery, per app, before new ones are dropped. Default 10000.
    pub webhook_queue: usize,
}

impl Default for PusherConfig {
    fn default() -> Self {
        Self {
            activity_timeout_s: crate::pusher::DEFAULT_ACTIVITY_TIMEOUT_S,
            pong_timeout_ms: 30_000,
            webhook_delay_ms: 3_000,
            webhook_queue: 10_000,
        }
    }
}

/// How the server notices connections that vanished without closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// How often the server sends a WebSocket ping. Default 15000 ms.
    pub interval_ms: u64,
    /// A connection from which nothing (frame, ping or pong) arrives for this long is closed and
    /// its members leave. Default 45000 ms.
    pub timeout_ms: u64,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            interval_ms: 15_000,
            timeout_ms: 45_000,
        }
    }
}

impl HeartbeatConfig {
    /// [`Self::interval_ms`] as a duration.
    #[must_use]
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    /// [`Self::timeout_ms`] as a duration.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Limits that keep every input and every queue bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest WebSocket frame or message accepted; larger ones close the connection with 1009.
    /// Default 65536.
    pub max_frame_bytes: usize,
    /// Largest member data (serialized JSON object). Default 2048.
    pub max_member_data_bytes: usize,
    /// Largest message payload (serialized JSON) for `publish`, `ephemeral` and invitations.
    /// Default 16384.
    pub max_message_bytes: usize,
    /// Most channels one connection may join or watch at once. Default 100.
    pub max_channels_per_connection: usize,
    /// Most distinct members (client ids) in one channel. Default 100000.
    pub max_members_per_channel: usize,
    /// Bytes of outbound events queued for one connection before it is disconnected as a slow
    /// consumer (close code 4009); answers to its own requests are not counted. Default 1048576.
    pub max_queue_bytes: usize,
    /// Most connections the server accepts at once; more are refused with close code 4013.
    /// Default 100000.
    pub max_connections: usize,
    /// Most invitations one connection may have waiting for an answer. Default 32.
    pub max_pending_invitations: usize,
    /// How long an invitation waits for an answer. Default 60000 ms.
    pub invitation_ttl_ms: u64,
    /// Sustained rate of `publish`, `ephemeral` and `invite` requests one native connection may
    /// send, per second, with bursts of as many; more are refused with `rate_limited`. Without
    /// it one client could flood a channel until every reader is dropped as a slow consumer.
    /// Default 100.
    pub max_messages_per_second: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 64 * 1024,
            max_member_data_bytes: 2048,
            max_message_bytes: 16 * 1024,
            max_channels_per_connection: 100,
            max_members_per_channel: 100_000,
            max_queue_bytes: 1024 * 1024,
            max_connections: 100_000,
            max_pending_invitations: 32,
            invitation_ttl_ms: 60_000,
            max_messages_per_second: 100,
        }
    }
}

/// One tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The app's id.
    pub id: AppId,
    /// The public key clients name in the connection URL (`?app=`).
    pub key: String,
    /// The secret that signs tokens. Never sent to clients.
    pub secret: String,
    /// Whether connections may assert their own client id without a token. Default false.
    #[serde(default)]
    pub allow_anonymous: bool,
    /// Pusher protocol settings (`[apps.pusher]`).
    #[serde(default)]
    pub pusher: PusherAppConfig,
}

/// One app's Pusher settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PusherAppConfig {
    /// Whether clients may send `client-` events on private and presence channels. Default
    /// false, as on Pusher.
    pub enable_client_events: bool,
    /// Client events one connection may send per second; more are refused with error 4301.
    /// Default 10.
    pub max_client_events_per_second: u32,
    /// Most members of a presence channel a Pusher client may join. Default 100.
    pub max_presence_members: usize,
    /// Largest `user_info`, as received, in bytes. Default 1024.
    pub max_presence_user_info_bytes: usize,
    /// Send `pusher_internal:subscription_count` on non-presence channels. Default false.
    pub enable_subscription_count: bool,
    /// Channels with more subscribers than this get their subscription count at most once per
    /// `subscription_count_interval_ms` (Pusher: 100). Default 100.
    pub subscription_count_throttle_above: usize,
    /// How often a throttled channel's subscription count may be sent (Pusher: 30 s). Default
    /// 30000 ms.
    pub subscription_count_interval_ms: u64,
    /// Send watchlist events (`online` / `offline`) to connections that sign in with a
    /// `watchlist`. Default true.
    pub enable_watchlist_events: bool,
    /// Most user ids of a watchlist; the rest are ignored and the client gets `pusher:error`
    /// 4302 (Pusher: 100). Default 100.
    pub max_watchlist_size: usize,
    /// Close connections that neither sign in nor subscribe to a private or presence channel
    /// within `authorized_connection_timeout_ms` (`pusher:error` and close 4009). Default false.
    pub enable_authorized_connections: bool,
    /// How long a connection has to authorize itself when `enable_authorized_connections` is
    /// on. Default 30000 ms.
    pub authorized_connection_timeout_ms: u64,
    /// Where webhooks go. Default none.
    pub webhooks: Vec<WebhookConfig>,
}

impl Default for PusherAppConfig {
    fn default() -> Self {
        Self {
            enable_client_events: false,
            max_client_events_per_second: 10,
            max_presence_members: 100,
            max_presence_user_info_bytes: 1024,
            enable_subscription_count: false,
            subscription_count_throttle_above: 100,
            subscription_count_interval_ms: 30_000,
            enable_watchlist_events: true,
            max_watchlist_size: 100,
            enable_authorized_connections: false,
            authorized_connection_timeout_ms: 30_000,
            webhooks: Vec::new(),
        }
    }
}

/// One webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// An `http://` URL (TLS is not supported yet).
    pub url: String,
    /// Which events it receives. Default: all of them.
    #[serde(default = "WebhookEvent::all")]
    pub event_types: Vec<WebhookEvent>,
}

/// A kind of webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookEvent {
    /// A channel got its first subscriber.
    ChannelOccupied,
    /// A channel lost its last subscriber (delayed).
    ChannelVacated,
    /// A user's first connection entered a channel's presence.
    MemberAdded,
    /// A user's last connection left a channel's presence (delayed).
    MemberRemoved,
    /// A Pusher client sent a `client-` event.
    ClientEvent,
    /// A Pusher client subscribed to a cache channel with nothing cached.
    CacheMiss,
    /// A non-presence channel's subscriber count changed (apps with subscription counts on).
    SubscriptionCount,
}

impl WebhookEvent {
    /// Every event type.
    #[must_use]
    pub fn all() -> Vec<Self> {
        vec![
            Self::ChannelOccupied,
            Self::ChannelVacated,
            Self::MemberAdded,
            Self::MemberRemoved,
            Self::ClientEvent,
            Self::CacheMiss,
            Self::SubscriptionCount,
        ]
    }
}

impl AppConfig {
    /// The built-in development app: id `dev`, key `dev-key`, secret `dev-secret`, anonymous
    /// clients allowed. Fine on a laptop; replace it before exposing the server.
    #[must_use]
    pub fn development() -> Self {
        Self {
            // "dev" is a valid app id.
            #[allow(clippy::expect_used)]
            id: AppId::parse("dev").expect("valid app id"),
            key: "dev-key".into(),
            secret: "dev-secret".into(),
            allow_anonymous: true,
            pusher: PusherAppConfig {
                enable_client_events: true,
                ..PusherAppConfig::default()
            },
        }
    }
}

/// Switches for test suites.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestingConfig {
    /// Serve `/test/echo`, a WebSocket echo endpoint on the same stack and settings as `/ws`,
    /// used by the WebSocket conformance run. Default false.
    pub echo_endpoint: bool,
}

impl Config {
    /// Reads a TOML file; keys it leaves out keep their defaults.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`].
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: shown,
            message: e.to_string(),
        })
    }

    /// Checks that the values make sense together.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.apps.is_empty() {
            return bad("at least one app is required".into());
        }
        let mut ids = HashSet::new();
        let mut keys = HashSet::new();
        for app in &self.apps {
            if !ids.insert(&app.id) {
                return bad(format!("app id {:?} appears twice", app.id.as_str()));
            }
            if app.key.is_empty() || !keys.insert(&app.key) {
                return bad(format!(
                    "app {:?}: key must be non-empty and unique",
                    app.id.as_str()
                ));
            }
            if app.secret.len() < 8 {
                return bad(format!(
                    "app {:?}: secret must be at least 8 bytes",
                    app.id.as_str()
                ));
            }
            let p = &app.pusher;
            if p.max_client_events_per_second == 0
                || p.max_presence_members == 0
                || p.max_presence_user_info_bytes == 0
                || p.subscription_count_interval_ms == 0
                || p.max_watchlist_size == 0
                || p.authorized_connection_timeout_ms == 0
            {
                return bad(format!(
                    "app {:?}: pusher limits must be above 0",
                    app.id.as_str()
                ));
            }
            for hook in &p.webhooks {
                if crate::webhooks::HttpUrl::parse(&hook.url).is_none() {
                    return bad(format!(
                        "app {:?}: webhook url {:?} must be http://host[:port][/path] (https is not supported yet)",
                        app.id.as_str(),
                        hook.url
                    ));
                }
            }
        }
        let p = &self.pusher;
        if p.activity_timeout_s == 0 || p.pong_timeout_ms == 0 || p.webhook_queue == 0 {
            return bad(
                "pusher.activity_timeout_s, pusher.pong_timeout_ms and pusher.webhook_queue must be above 0"
                    .into(),
            );
        }
        if let Some(token) = &self.admin.token {
            if token.len() < AdminConfig::MIN_TOKEN_LEN || token.chars().any(char::is_control) {
                return bad(format!(
                    "admin.token must be at least {} bytes without control characters (try `openssl rand -hex 16`)",
                    AdminConfig::MIN_TOKEN_LEN
                ));
            }
        }
        let r = &self.redis;
        if !(RedisConfig::MIN_LEASE_MS..=RedisConfig::MAX_LEASE_MS).contains(&r.node_lease_ms) {
            return bad(format!(
                "redis.node_lease_ms must be between {} and {}",
                RedisConfig::MIN_LEASE_MS,
                RedisConfig::MAX_LEASE_MS
            ));
        }
        if r.key_prefix.is_empty() || r.key_prefix.chars().any(|c| c.is_control() || c == ' ') {
            return bad(
                "redis.key_prefix must be non-empty, without spaces or control characters".into(),
            );
        }
        if self.engine == EngineKind::Redis && redis::Client::open(r.url.as_str()).is_err() {
            return bad(format!(
                "redis.url {:?} is not a redis:// URL (redis://[user:password@]host[:port][/db])",
                r.url
            ));
        }
        let d = &self.shutdown;
        if d.drain_timeout_ms > ShutdownConfig::MAX_MS
            || d.reconnect_window_ms > ShutdownConfig::MAX_MS
        {
            return bad(format!(
                "shutdown.drain_timeout_ms and shutdown.reconnect_window_ms must be at most {} (one hour)",
                ShutdownConfig::MAX_MS
            ));
        }
        let h = &self.heartbeat;
        if h.interval_ms == 0 || h.timeout_ms <= h.interval_ms {
            return bad(format!(
                "heartbeat.timeout_ms ({}) must be greater than heartbeat.interval_ms ({}), which must be above 0",
                h.timeout_ms, h.interval_ms
            ));
        }
        let l = &self.limits;
        for (name, value) in [
            ("max_frame_bytes", l.max_frame_bytes),
            ("max_member_data_bytes", l.max_member_data_bytes),
            ("max_message_bytes", l.max_message_bytes),
            ("max_channels_per_connection", l.max_channels_per_connection),
            ("max_members_per_channel", l.max_members_per_channel),
            ("max_queue_bytes", l.max_queue_bytes),
            ("max_connections", l.max_connections),
            ("max_pending_invitations", l.max_pending_invitations),
            (
                "max_messages_per_second",
                usize::try_from(l.max_messages_per_second).unwrap_or(usize::MAX),
            ),
        ] {
            if value == 0 {
                return bad(format!("limits.{name} must be above 0"));
            }
        }
        if l.max_frame_bytes < 1024 {
            return bad("limits.max_frame_bytes must be at least 1024".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_include_the_dev_app() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.apps[0].key, "dev-key");
        assert!(config.apps[0].allow_anonymous);
    }

    #[test]
    fn a_partial_file_keeps_other_defaults_and_unknown_keys_are_refused() {
        let config: Config = toml::from_str("[limits]\nmax_frame_bytes = 4096\n").unwrap();
        assert_eq!(config.limits.max_frame_bytes, 4096);
        assert_eq!(config.limits.max_member_data_bytes, 2048);
        assert!(toml::from_str::<Config>("[limits]\nmax_frame = 1\n").is_err());
    }

    #[test]
    fn shutdown_waits_are_bounded() {
        let mut config = Config::default();
        config.shutdown.reconnect_window_ms = ShutdownConfig::MAX_MS + 1;
        assert!(config.validate().is_err());
        let config: Config =
            toml::from_str("[shutdown]\ndrain_timeout_ms = 0\nreconnect_window_ms = 0\n").unwrap();
        config.validate().unwrap();
    }

    #[test]
    fn inconsistent_values_are_refused() {
        let mut config = Config::default();
        config.heartbeat.timeout_ms = config.heartbeat.interval_ms;
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.apps.push(AppConfig::development());
        assert!(config.validate().is_err());
    }
}

//! The Redis engine: presence and sequence numbers kept in Redis, shared by every node that
//! uses the same Redis and key prefix (`docs/cluster.md`).
//!
//! Each command runs one Lua script ([`scripts`]) that applies the registry rule, takes the
//! channel's next sequence number and publishes the event, atomically. Every node — the one
//! that ran the script included — receives the events on pub/sub ([`pubsub`]) and fans them out
//! to its own subscribers through the hub, in sequence order. Each node keeps a lease in Redis
//! ([`lease`]); a node whose lease lapses is reaped by one survivor, which publishes the leaves.

mod invites;
mod lease;
mod ops;
mod pubsub;
pub(crate) mod scripts;
pub(crate) mod wire;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use rollcall_core::{AppId, ChannelName, ClientId, ConnectionId, MemberData};

use crate::config::RedisConfig;
use crate::hub::HubError;
use crate::state::ServerState;
use crate::telemetry::RedisMetrics;

/// How long a Redis command may take before the engine counts Redis as unreachable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A leave that could not reach Redis, carried out once Redis is back.
#[derive(Debug, Clone)]
struct PendingLeave {
    app: AppId,
    channel: ChannelName,
    connection: ConnectionId,
    /// The member it was, if it had joined: if Redis lost its entry meanwhile, the entry is
    /// put back so that the leave is still announced to everyone who saw the member.
    member: Option<(ClientId, MemberData)>,
}

/// One node's handle on the Redis engine, shared by its apps.
#[derive(Debug)]
pub(crate) struct Cluster {
    node: u32,
    prefix: String,
    lease_ms: u64,
    url: String,
    client: redis::Client,
    commands: OnceLock<ConnectionManager>,
    pubsub: pubsub::Subscriptions,
    /// The last lease renewal succeeded.
    lease_up: AtomicBool,
    /// The pub/sub connection is open.
    pubsub_up: AtomicBool,
    /// Leaves of connections that closed while Redis was unreachable.
    pending_leaves: Mutex<Vec<PendingLeave>>,
    /// A re-registration still owed to Redis: `Some(silent)` (see `lease.rs`).
    restore_pending: Mutex<Option<bool>>,
    metrics: RedisMetrics,
}

impl Cluster {
    /// A handle for node `node`; nothing is connected until [`Self::start`].
    ///
    /// # Errors
    /// When `config.url` is not a Redis URL.
    pub(crate) fn new(
        config: &RedisConfig,
        node: u32,
        metrics: RedisMetrics,
    ) -> Result<Self, String> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| format!("redis.url {:?}: {e}", config.url))?;
        Ok(Self {
            node,
            prefix: config.key_prefix.clone(),
            lease_ms: config.node_lease_ms,
            url: config.url.clone(),
            client,
            commands: OnceLock::new(),
            pubsub: pubsub::Subscriptions::new(),
            lease_up: AtomicBool::new(false),
            pubsub_up: AtomicBool::new(false),
            pending_leaves: Mutex::default(),
            restore_pending: Mutex::default(),
            metrics,
        })
    }

    /// Connects to Redis, clears what a previous run of this node id left behind, takes the
    /// lease and starts the pub/sub and lease tasks.
    ///
    /// # Errors
    /// When Redis cannot be reached now: a node does not start without it.
    pub(crate) async fn start(self: &Arc<Self>, state: &Arc<ServerState>) -> Result<(), String> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let manager = self
            .client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| format!("cannot reach Redis at {}: {e}", self.redacted_url()))?;
        let _ = self.commands.set(manager);
        // Connection ids restart at 1 with the process: whatever this node id left in Redis
        // belongs to connections that are gone, and would collide with the new ones.
        self.reap(state, self.node)
            .await
            .map_err(|e| format!("Redis at {}: {e}", self.redacted_url()))?;
        self.renew_lease(state).await;
        let weak: Weak<ServerState> = Arc::downgrade(state);
        tokio::spawn(pubsub::run(self.clone(), weak.clone()));
        tokio::spawn(lease::run(self.clone(), weak));
        Ok(())
    }

    /// Whether Redis answers and events arrive: `/readyz` says 503 otherwise.
    #[must_use]
    pub(crate) fn is_up(&self) -> bool {
        self.lease_up.load(Ordering::Acquire) && self.pubsub_up.load(Ordering::Acquire)
    }

    /// The Redis URL without its password, for logs and errors.
    #[must_use]
    pub(crate) fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    fn commands(&self) -> Result<ConnectionManager, HubError> {
        self.commands.get().cloned().ok_or(HubError::Unavailable)
    }

    /// Turns a Redis failure into the error clients get, noting that Redis is down.
    fn failed(&self, error: &redis::RedisError) -> HubError {
        self.metrics.errors.increment(1);
        if self.lease_up.swap(false, Ordering::AcqRel) {
            tracing::warn!(%error, "Redis unreachable: presence commands fail until it is back");
        }
        self.show_health();
        HubError::Unavailable
    }

    /// Sets `rollcall_redis_up` from the two things it stands for.
    fn show_health(&self) {
        self.metrics.up.set(if self.is_up() { 1.0 } else { 0.0 });
    }

    fn set_pubsub_up(&self, up: bool, why: &str) {
        let was = self.pubsub_up.swap(up, Ordering::AcqRel);
        self.show_health();
        if was && !up {
            tracing::warn!(reason = why, "Redis pub/sub connection lost; reconnecting");
        } else if !was && up {
            tracing::info!("Redis pub/sub connected");
        }
    }

    /// The pub/sub channel of an app's channel.
    fn event_channel(&self, app: &AppId, channel: &ChannelName) -> String {
        format!("{}:ev:{}:{}", self.prefix, app.as_str(), channel.as_str())
    }

    /// What a pub/sub channel name is about (app ids have no `:`).
    fn parse_pubsub_channel<'a>(&self, name: &'a str) -> Option<Topic<'a>> {
        let rest = name.strip_prefix(&self.prefix)?;
        if let Some(app) = rest.strip_prefix(":ctl:") {
            return Some(Topic::Control { app });
        }
        let (app, channel) = rest.strip_prefix(":ev:")?.split_once(':')?;
        Some(Topic::Events { app, channel })
    }

    /// A script invocation with the key prefix, app and channel as its first arguments.
    fn call<'a>(
        &self,
        script: &'a redis::Script,
        app: &AppId,
        channel: &ChannelName,
    ) -> redis::ScriptInvocation<'a> {
        let mut call = script.prepare_invoke();
        call.arg(&self.prefix)
            .arg(app.as_str())
            .arg(channel.as_str());
        call
    }
}

/// What a pub/sub channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topic<'a> {
    /// One channel's events.
    Events {
        /// The app id.
        app: &'a str,
        /// The channel.
        channel: &'a str,
    },
    /// An app's invitations and replies.
    Control {
        /// The app id.
        app: &'a str,
    },
}

/// `redis://user:secret@host` → `redis://user:***@host`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    format!("{scheme}://{user}:***@{host}")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redact("redis://app:hunter2@db.internal:6379/0"),
            "redis://app:***@db.internal:6379/0"
        );
        assert_eq!(redact("redis://:hunter2@db"), "redis://:***@db");
    }
}

//! What every connection shares: the configuration and each app's hub, client index and
//! pending invitations.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use rollcall_core::ConnectionId;

use crate::clients::ClientIndex;
use crate::cluster::Cluster;
use crate::config::{AppConfig, Config, EngineKind};
use crate::hub::{Hub, HubOptions};
use crate::invitations::Invitations;
use crate::telemetry::{AppMetrics, Metrics};
use crate::users::UserIndex;
use crate::webhooks::{NoticeReceiver, NoticeSender, notice_queue};

/// One app's live state.
#[derive(Debug)]
pub struct AppRuntime {
    /// The app's configuration.
    pub config: AppConfig,
    /// Its channels.
    pub hub: Hub,
    /// Its connected client ids.
    pub clients: ClientIndex,
    /// Its pending invitations.
    pub invitations: Invitations,
    /// Its signed-in Pusher users.
    pub(crate) users: UserIndex,
    /// Where its webhook notices go, when it has webhooks.
    pub(crate) notices: Option<NoticeSender>,
    /// Its metric handles.
    pub(crate) metrics: AppMetrics,
    /// The Redis engine, when presence is shared with other nodes; `None` on the memory
    /// engine, where the hub decides everything itself.
    pub(crate) cluster: Option<Arc<Cluster>>,
}

/// The whole server's shared state.
#[derive(Debug)]
pub struct ServerState {
    /// The effective configuration.
    pub config: Config,
    /// This node's number in connection ids.
    pub node_id: u32,
    apps: Vec<Arc<AppRuntime>>,
    next_connection: AtomicU64,
    connections: AtomicUsize,
    shutting_down: AtomicBool,
    shutdown: Notify,
    /// The webhook dispatchers' ends of the notice queues, until [`Self::start_webhooks`].
    webhook_queues: Mutex<Vec<(AppConfig, NoticeReceiver)>>,
    /// The metrics registry behind `/metrics`.
    pub(crate) metrics: Metrics,
    /// When shutdown began; each connection's reconnect delay counts from there.
    shutdown_started: OnceLock<Instant>,
    /// Spreads reconnect delays over the window: a keyed hash of the connection id, so each
    /// connection's delay is random but fixed (a session asks for it more than once).
    jitter: RandomState,
    /// The Redis engine (`engine = "redis"`), or why it could not be set up.
    cluster: Option<Result<Arc<Cluster>, String>>,
}

impl ServerState {
    /// State for `config`, with empty hubs.
    #[must_use]
    pub fn new(config: Config) -> Self {
        let metrics = Metrics::new();
        let node_id = config.node_id.unwrap_or_else(rand::random);
        let cluster = (config.engine == EngineKind::Redis)
            .then(|| Cluster::new(&config.redis, node_id, metrics.redis()).map(Arc::new));
        let shared = cluster.as_ref().and_then(|c| c.as_ref().ok()).cloned();
        let mut webhook_queues = Vec::new();
        let apps = config
            .apps
            .iter()
            .map(|app| {
                let app_metrics = metrics.app(&app.id);
                let notices = (!app.pusher.webhooks.is_empty()).then(|| {
                    let (sender, receiver) = notice_queue(config.pusher.webhook_queue);
                    webhook_queues.push((app.clone(), receiver));
                    sender
                });
                Arc::new(AppRuntime {
                    config: app.clone(),
                    hub: Hub::with_options(HubOptions {
                        max_members: config.limits.max_members_per_channel,
                        subscription_count: app.pusher.enable_subscription_count,
                        subscription_count_throttle_above: app
                            .pusher
                            .subscription_count_throttle_above,
                        subscription_count_interval_ms: app.pusher.subscription_count_interval_ms,
                        notices: notices.clone(),
                        presence: app_metrics.presence.clone(),
                    }),
                    clients: ClientIndex::default(),
                    invitations: Invitations::default(),
                    users: UserIndex::default(),
                    notices,
                    metrics: app_metrics,
                    cluster: shared.clone(),
                })
            })
            .collect();
        Self {
            node_id,
            config,
            apps,
            next_connection: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            shutdown: Notify::new(),
            webhook_queues: Mutex::new(webhook_queues),
            metrics,
            shutdown_started: OnceLock::new(),
            jitter: RandomState::new(),
            cluster,
        }
    }

    /// Connects the Redis engine, when the configuration asks for it. Needs a Tokio runtime.
    ///
    /// # Errors
    /// When Redis cannot be reached (or its URL is unusable): the node must not serve without
    /// the presence it shares with the others.
    pub async fn start_engine(self: &Arc<Self>) -> Result<(), String> {
        match &self.cluster {
            None => Ok(()),
            Some(Err(error)) => Err(error.clone()),
            Some(Ok(cluster)) => cluster.start(self).await,
        }
    }

    /// The Redis engine, when this node uses one.
    #[must_use]
    pub(crate) fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref().and_then(|c| c.as_ref().ok())
    }

    /// Spawns each app's webhook dispatcher (once; later calls do nothing). Needs a Tokio
    /// runtime, which is why it is not part of [`Self::new`].
    pub fn start_webhooks(&self) {
        let delay = std::time::Duration::from_millis(self.config.pusher.webhook_delay_ms);
        let max_pending = self.config.pusher.webhook_queue;
        for (app, receiver) in self.webhook_queues.lock().drain(..) {
            let Some(metrics) = self
                .app_by_id(app.id.as_str())
                .map(|a| a.metrics.webhooks.clone())
            else {
                continue;
            };
            tokio::spawn(crate::webhooks::run(
                app,
                receiver,
                delay,
                max_pending,
                metrics,
            ));
        }
    }

    /// Spawns the task that sends the subscription counts throttling held back (see
    /// [`Hub::flush_subscription_counts`]), when some app has subscription counts on. One task
    /// for the whole server, not a timer per channel; it ends when the server shuts down.
    pub fn start_subscription_counts(self: &Arc<Self>) {
        /// How often held-back counts are looked at: the most they are late after their
        /// interval.
        const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
        let apps: Vec<Arc<AppRuntime>> = self
            .apps
            .iter()
            .filter(|a| a.config.pusher.enable_subscription_count)
            .cloned()
            .collect();
        if apps.is_empty() {
            return;
        }
        let state = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let running = state
                    .upgrade()
                    .is_some_and(|s| !s.shutting_down.load(Ordering::Acquire));
                if !running {
                    break;
                }
                let now = crate::session::now_ms();
                for app in &apps {
                    app.hub.flush_subscription_counts(now);
                }
            }
        });
    }

    /// The app whose id is `id`.
    #[must_use]
    pub fn app_by_id(&self, id: &str) -> Option<&Arc<AppRuntime>> {
        self.apps.iter().find(|a| a.config.id.as_str() == id)
    }

    /// The app whose key is `key`; with `None`, the only app when there is exactly one.
    #[must_use]
    pub fn app(&self, key: Option<&str>) -> Option<&Arc<AppRuntime>> {
        match key {
            Some(key) => self.apps.iter().find(|a| a.config.key == key),
            None if self.apps.len() == 1 => self.apps.first(),
            None => None,
        }
    }

    /// Every app.
    #[must_use]
    pub fn apps(&self) -> &[Arc<AppRuntime>] {
        &self.apps
    }

    /// Counts a new connection and gives it an id, or `None` when the server is full.
    #[must_use]
    pub fn admit(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let max = self.config.limits.max_connections;
        self.connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        let seq = self.next_connection.fetch_add(1, Ordering::Relaxed);
        Some(ConnectionSlot {
            id: ConnectionId::new(self.node_id, seq),
            state: self.clone(),
        })
    }

    /// Tells every session to close with `server_shutdown` (1001).
    pub fn begin_shutdown(&self) {
        // Stamped before the flag, so whoever sees the flag finds the time.
        let _ = self.shutdown_started.set(Instant::now());
        self.shutting_down.store(true, Ordering::Release);
        self.shutdown.notify_waiters();
    }

    /// Resolves once [`Self::begin_shutdown`] has been called.
    pub async fn shutting_down(&self) {
        let notified = self.shutdown.notified();
        if self.shutting_down.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }

    /// Whether shutdown has begun: `/readyz` answers 503 from then on.
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// How long the connection should wait before reconnecting after a shutdown: between 0 and
    /// `shutdown.reconnect_window_ms`, spread evenly over connections, the same every time it is
    /// asked for the same connection.
    #[must_use]
    pub(crate) fn reconnect_after(&self, id: ConnectionId) -> Duration {
        let window = self.config.shutdown.reconnect_window_ms;
        Duration::from_millis(self.jitter.hash_one(id) % (window + 1))
    }

    /// Resolves at the connection's turn to be closed during shutdown, for protocols whose
    /// clients reconnect at once when closed (Pusher): its [`Self::reconnect_after`] delay,
    /// scaled into at most half the drain timeout so every turn comes before the deadline.
    pub(crate) async fn close_turn(&self, id: ConnectionId) {
        self.shutting_down().await;
        let shutdown = self.config.shutdown;
        let window = shutdown.reconnect_window_ms;
        let span = window.min(shutdown.drain_timeout_ms / 2);
        let delay = self.reconnect_after(id).as_millis();
        // delay ≤ window, so the scaled delay ≤ span: no overflow in u128, and it fits u64.
        let scaled = delay * u128::from(span) / u128::from(window.max(1));
        let turn = Duration::from_millis(u64::try_from(scaled).unwrap_or(span));
        let started = self
            .shutdown_started
            .get()
            .copied()
            .unwrap_or_else(Instant::now);
        tokio::time::sleep_until(started + turn).await;
    }

    /// Waits until every connection has closed, or `deadline` passes.
    pub async fn drained(&self, deadline: std::time::Duration) {
        let until = tokio::time::Instant::now() + deadline;
        while self.connection_count() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// How many connections are open.
    #[must_use]
    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }
}

/// A counted connection; dropping it frees its place under `max_connections`.
#[derive(Debug)]
pub struct ConnectionSlot {
    /// The connection's id.
    pub id: ConnectionId,
    state: Arc<ServerState>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.state.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

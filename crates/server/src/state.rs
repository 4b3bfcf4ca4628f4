//! What every connection shares: the configuration and each app's hub, client index and
//! pending invitations.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

use rollcall_core::ConnectionId;

use crate::clients::ClientIndex;
use crate::config::{AppConfig, Config};
use crate::hub::{Hub, HubOptions};
use crate::invitations::Invitations;
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
}

impl ServerState {
    /// State for `config`, with empty hubs.
    #[must_use]
    pub fn new(config: Config) -> Self {
        let mut webhook_queues = Vec::new();
        let apps = config
            .apps
            .iter()
            .map(|app| {
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
                        notices: notices.clone(),
                    }),
                    clients: ClientIndex::default(),
                    invitations: Invitations::default(),
                    users: UserIndex::default(),
                    notices,
                })
            })
            .collect();
        Self {
            node_id: config.node_id.unwrap_or_else(rand::random),
            config,
            apps,
            next_connection: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            shutdown: Notify::new(),
            webhook_queues: Mutex::new(webhook_queues),
        }
    }

    /// Spawns each app's webhook dispatcher (once; later calls do nothing). Needs a Tokio
    /// runtime, which is why it is not part of [`Self::new`].
    pub fn start_webhooks(&self) {
        let delay = std::time::Duration::from_millis(self.config.pusher.webhook_delay_ms);
        let max_pending = self.config.pusher.webhook_queue;
        for (app, receiver) in self.webhook_queues.lock().drain(..) {
            tokio::spawn(crate::webhooks::run(app, receiver, delay, max_pending));
        }
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

//! What every connection shares: the configuration and each app's hub, client index and
//! pending invitations.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tokio::sync::Notify;

use rollcall_core::ConnectionId;

use crate::clients::ClientIndex;
use crate::config::{AppConfig, Config};
use crate::hub::Hub;
use crate::invitations::Invitations;

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
}

impl ServerState {
    /// State for `config`, with empty hubs.
    #[must_use]
    pub fn new(config: Config) -> Self {
        let apps = config
            .apps
            .iter()
            .map(|app| {
                Arc::new(AppRuntime {
                    config: app.clone(),
                    hub: Hub::new(config.limits.max_members_per_channel),
                    clients: ClientIndex::default(),
                    invitations: Invitations::default(),
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
        }
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

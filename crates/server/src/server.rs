//! Binding and running the server.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Weak};

use axum::serve::ListenerExt;
use tokio::net::{TcpListener, TcpSocket};
use tokio::time::Instant;

use crate::config::{Config, ConfigError};
use crate::state::ServerState;
use crate::telemetry::UPKEEP_INTERVAL;
use crate::transport::router;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The presence engine (Redis) could not be reached.
    #[error("{0}")]
    Engine(String),
}

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: Arc<ServerState>,
}

impl Server {
    /// Validates `config` and binds its listen address (port 0 picks a free port).
    ///
    /// # Errors
    /// [`StartError`] when the configuration is invalid or the address cannot be bound.
    pub async fn bind(config: Config) -> Result<Self, StartError> {
        config.validate()?;
        let addr = config.listen;
        let listener = listen(addr).map_err(|source| StartError::Bind { addr, source })?;
        let state = Arc::new(ServerState::new(config));
        state.start_engine().await.map_err(StartError::Engine)?;
        state.start_webhooks();
        state.start_subscription_counts();
        tokio::spawn(metrics_upkeep(Arc::downgrade(&state)));
        Ok(Self { listener, state })
    }

    /// The address actually bound.
    ///
    /// # Errors
    /// When the socket cannot report its address (practically never).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state, for inspection.
    #[must_use]
    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// Serves until `shutdown` resolves, then shuts down gracefully: stops accepting
    /// connections, `/readyz` turns 503, every session is told to go (native: `server_shutdown`
    /// with a reconnect delay, close 1001; Pusher: close 4200 at its turn within the reconnect
    /// window), and the server waits up to `shutdown.drain_timeout_ms` for the connections and
    /// the HTTP requests in flight to finish. Returns once they have, or at the deadline.
    ///
    /// # Errors
    /// When accepting connections fails fatally.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        // axum stops accepting when the sessions are told to go, not before: one signal for
        // both, so no connection is accepted after its peers were asked to leave.
        let stop_accepting = async move { state.shutting_down().await };
        let mut serving = pin!(
            axum::serve(
                // Events are small and latency-sensitive, and the writer already batches: Nagle's
                // algorithm would only add delay (up to a delayed-ACK timeout) to every fan-out.
                self.listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                }),
                router(self.state.clone())
            )
            .with_graceful_shutdown(stop_accepting)
            .into_future()
        );
        tokio::select! {
            result = &mut serving => return result,
            () = shutdown => {}
        }
        let drain = self.state.config.shutdown.drain_timeout();
        let deadline = Instant::now() + drain;
        tracing::info!(
            connections = self.state.connection_count(),
            drain_timeout_ms = self.state.config.shutdown.drain_timeout_ms,
            "shutting down: no new connections; asking connected clients to reconnect elsewhere"
        );
        self.state.begin_shutdown();
        // HTTP requests in flight finish here; past the deadline they are cut off.
        if let Ok(Err(error)) = tokio::time::timeout_at(deadline, serving).await {
            tracing::warn!(%error, "the listener failed while shutting down");
        }
        // axum stops tracking a connection once it is upgraded to a WebSocket, so the sessions
        // are waited for here.
        self.state
            .drained(deadline.saturating_duration_since(Instant::now()))
            .await;
        match self.state.connection_count() {
            0 => tracing::info!("shutdown complete: every connection closed"),
            left => tracing::warn!(
                connections = left,
                "shutdown: drain timeout reached with connections still open"
            ),
        }
        Ok(())
    }
}

/// Pending connections the kernel may queue before `accept`. `TcpListener::bind` asks for 128,
/// which a reconnect wave overflows (each dropped SYN then costs the client a 1 s retransmit);
/// the kernel caps this at `net.core.somaxconn` (4096 by default on current Linux).
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` with [`LISTEN_BACKLOG`]. `SO_REUSEADDR` lets a restarted server bind at once
/// while the old one's connections linger in `TIME_WAIT` (as `TcpListener::bind` does).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Folds histogram samples into buckets every [`UPKEEP_INTERVAL`] until the server is gone,
/// so that samples do not pile up when nobody scrapes `/metrics`.
async fn metrics_upkeep(state: Weak<ServerState>) {
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(state) = state.upgrade() else { break };
        state.metrics.run_upkeep();
    }
}

//! Binding and running the server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::{Config, ConfigError};
use crate::state::ServerState;
use crate::transport::router;

/// How long a stopping server waits for its connections to close.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

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
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let state = Arc::new(ServerState::new(config));
        state.start_webhooks();
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

    /// Serves until `shutdown` resolves, then closes every connection with `server_shutdown`
    /// (1001) and waits up to [`DRAIN_DEADLINE`] for them to finish.
    ///
    /// # Errors
    /// When accepting connections fails fatally.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let signal = async move {
            shutdown.await;
            state.begin_shutdown();
        };
        axum::serve(self.listener, router(self.state.clone()))
            .with_graceful_shutdown(signal)
            .await?;
        // axum stops tracking a connection once it is upgraded to a WebSocket, so the sessions
        // are waited for here.
        self.state.drained(DRAIN_DEADLINE).await;
        Ok(())
    }
}

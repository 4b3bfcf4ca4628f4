//! The HTTP edge: routes, WebSocket upgrades (native `/ws`, Pusher `/app/{key}`), the Pusher
//! HTTP API, health, readiness and metrics.

mod echo;
mod native;
mod ops;
mod pusher;
mod rest;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::state::ServerState;

/// Every route the server answers.
pub(crate) fn router(state: Arc<ServerState>) -> Router {
    let mut router = Router::new()
        .route("/ws", get(native::upgrade))
        .route("/app/{key}", get(pusher::upgrade))
        .merge(rest::routes())
        .route("/healthz", get(healthz))
        .merge(ops::routes())
        .merge(crate::web::router(&state));
    if state.config.testing.echo_endpoint {
        router = router.route("/test/echo", get(echo::upgrade));
    }
    router.with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

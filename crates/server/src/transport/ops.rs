//! Routes for operators and orchestrators: `GET /metrics` (Prometheus) and `GET /readyz`.
//! `GET /healthz` (alive) stays beside the other routes in `transport/mod.rs`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::ServerState;

/// The Prometheus text format's content type.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/metrics` and `/readyz`.
pub(crate) fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/readyz", get(readyz))
}

/// Every metric, in the Prometheus text format. Gauges that are cheaper to compute on demand
/// than to keep current on every change (channels, members, dropped webhook notices) are set
/// here, once per scrape.
async fn metrics(State(state): State<Arc<ServerState>>) -> Response {
    for app in state.apps() {
        let totals = app.hub.totals();
        app.metrics.channels.set(totals.channels as f64);
        app.metrics.members.set(totals.members as f64);
        if let Some(notices) = &app.notices {
            app.metrics.notices_dropped.absolute(notices.dropped());
        }
    }
    (
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        state.metrics.render(),
    )
        .into_response()
}

/// Ready to take connections: serving, not shutting down, and — on the Redis engine — Redis
/// answering and its events arriving. While the server drains or Redis is out of reach, 503
/// tells load balancers to send new clients elsewhere; connected clients stay.
async fn readyz(State(state): State<Arc<ServerState>>) -> Response {
    if state.is_shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response();
    }
    if let Some(cluster) = state.cluster() {
        if !cluster.is_up() {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "degraded: Redis at {} unreachable\n",
                    cluster.redacted_url()
                ),
            )
                .into_response();
        }
    }
    "ready\n".into_response()
}

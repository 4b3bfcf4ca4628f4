//! `GET /ws`: the native protocol's WebSocket endpoint.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::response::Response;

use super::ws::configure;
use crate::session::{self, ConnectParams};
use crate::state::ServerState;

/// Upgrades to a native session. Authentication happens after the upgrade so that refusals
/// reach browsers as a readable `error` message and close code, not an opaque HTTP status.
pub(crate) async fn upgrade(
    upgrade: WebSocketUpgrade,
    params: Result<Query<ConnectParams>, QueryRejection>,
    State(state): State<Arc<ServerState>>,
) -> Response {
    let params = params
        .map(|Query(params)| params)
        .map_err(|e| format!("invalid connection URL: {}", e.body_text()));
    configure(upgrade, &state.config.limits)
        .on_upgrade(move |socket| session::run(socket, state, params))
}

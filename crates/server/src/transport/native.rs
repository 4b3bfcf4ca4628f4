//! `GET /ws`: the native protocol's WebSocket endpoint.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;

use crate::session::{self, ConnectParams};
use crate::state::ServerState;
use crate::websocket::Upgrade;

/// Upgrades to a native session. Authentication happens after the upgrade so that refusals
/// reach browsers as a readable `error` message and close code, not an opaque HTTP status.
pub(crate) async fn upgrade(
    upgrade: Upgrade,
    params: Result<Query<ConnectParams>, QueryRejection>,
    State(state): State<Arc<ServerState>>,
) -> Response {
    let params = params
        .map(|Query(params)| params)
        .map_err(|e| format!("invalid connection URL: {}", e.body_text()));
    let max_message_bytes = state.config.limits.max_frame_bytes;
    upgrade.on_upgrade(max_message_bytes, move |socket| {
        session::run(socket, state, params)
    })
}

//! `GET /app/{key}`: the Pusher protocol's WebSocket endpoint, on the same port and WebSocket
//! settings as the native one.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;

use crate::session::pusher::{self, PusherParams};
use crate::state::ServerState;
use crate::websocket::Upgrade;

/// Upgrades to a Pusher session. As on the native endpoint, an unknown app key is reported
/// after the upgrade (`pusher:error` 4001), where pusher-js can read it. An unreadable query
/// string counts as an empty one: Pusher ignores parameters it does not know.
pub(crate) async fn upgrade(
    upgrade: Upgrade,
    Path(key): Path<String>,
    params: Result<Query<PusherParams>, QueryRejection>,
    State(state): State<Arc<ServerState>>,
) -> Response {
    let params = params.map(|Query(p)| p).unwrap_or_default();
    let max_message_bytes = state.config.limits.max_frame_bytes;
    upgrade.on_upgrade(max_message_bytes, move |socket| {
        pusher::run(socket, state, key, params)
    })
}

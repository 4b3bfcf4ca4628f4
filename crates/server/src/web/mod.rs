//! The web pages the server serves itself: the live demo room (`/`, `/r/{room}`), the operator
//! dashboard (`/dashboard`), the files both load (`/assets/…`, embedded in the binary) and the
//! admin HTTP API behind the dashboard (`/api/…`, documented in `docs/http-api.md`).
//!
//! The pages are clients like any other: the demo room speaks the native protocol through the
//! TypeScript SDK (`clients/js`, compiled into `assets/sdk/`), and the dashboard reads the admin
//! API and tails a channel over a native WebSocket with a watch-only token the API mints.

mod admin;
mod api;
mod assets;
mod pages;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::state::ServerState;

/// What the web handlers share.
#[derive(Debug, Clone)]
struct WebState {
    server: Arc<ServerState>,
    /// When the router was built: the server's start, for `uptime_s`.
    started: Instant,
}

/// Largest request body of the web routes (the login form); nothing else takes a body.
const MAX_BODY_BYTES: usize = 4096;

/// The web pages, their files and the admin API.
pub(crate) fn router(server: &Arc<ServerState>) -> Router<Arc<ServerState>> {
    let state = WebState {
        server: server.clone(),
        started: Instant::now(),
    };
    Router::new()
        .route("/", get(pages::demo))
        .route("/r/{room}", get(pages::demo))
        .route("/dashboard", get(pages::dashboard))
        .route("/dashboard/login", post(pages::login))
        .route("/dashboard/logout", post(pages::logout))
        .route("/assets/{version}/{*path}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .route("/api/stats", get(api::stats))
        .route("/api/apps/{app}/channels", get(api::channels))
        .route(
            "/api/apps/{app}/channels/{channel}/members",
            get(api::members),
        )
        .route(
            "/api/apps/{app}/channels/{channel}/watch-token",
            post(api::watch_token),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

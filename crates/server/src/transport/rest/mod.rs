//! The Pusher HTTP API (`/apps/{app_id}/…`), for the Pusher server SDKs.
//!
//! Every request is signed (`auth_key`, `auth_timestamp`, `auth_version`, `body_md5`,
//! `auth_signature`); [`authenticate`] checks that before any handler runs. Answers are JSON
//! (`{}` at least, because the Python SDK parses every 200 body); errors are plain text with
//! the status the HTTP API documents.

mod channels;
mod events;
mod signature;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub(crate) use signature::{Signed, authenticate};

use crate::state::ServerState;

/// Largest request body; event payloads have their own, smaller limit (413 past it).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The HTTP API's routes.
pub(crate) fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/apps/{app_id}/events", post(events::trigger))
        .route("/apps/{app_id}/batch_events", post(events::batch))
        .route("/apps/{app_id}/channels", get(channels::list))
        .route("/apps/{app_id}/channels/{channel}", get(channels::one))
        .route(
            "/apps/{app_id}/channels/{channel}/users",
            get(channels::users),
        )
        .route(
            "/apps/{app_id}/users/{user_id}/terminate_connections",
            post(channels::terminate_connections),
        )
        // The Python SDK posts here, without the app (found from `auth_key` instead).
        .route(
            "/users/{user_id}/terminate_connections",
            post(channels::terminate_without_app),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// A refused request: its status and a message saying why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 503 when the presence engine (Redis) is out of reach.
    pub(crate) fn unavailable(error: &crate::hub::HubError) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, format!("{}\n", self.message)).into_response()
    }
}

/// A JSON answer.
pub(crate) fn json(value: &serde_json::Value) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

//! Channel queries (`GET /apps/{id}/channels…`) and `terminate_connections`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, Uri};
use axum::response::Response;
use bytes::Bytes;
use rollcall_core::{ChannelName, ClientId};
use serde_json::{Map, Value, json};

use super::{ApiError, Signed, authenticate, json};
use crate::pusher::channel::{Kind, is_cache};
use crate::pusher::wire;
use crate::session::now_ms;
use crate::session::pusher::close;
use crate::state::{AppRuntime, ServerState};

fn get_signed(
    state: &ServerState,
    app_id: &str,
    uri: &Uri,
    query: Option<&str>,
) -> Result<Signed, ApiError> {
    authenticate(
        state,
        Some(app_id),
        &Method::GET,
        uri.path(),
        query,
        Bytes::new(),
    )
}

fn channel_name(name: &str) -> Result<ChannelName, ApiError> {
    ChannelName::parse(name)
        .map_err(|e| ApiError::bad_request(format!("Invalid channel {name:?}: {e}")))
}

/// The `info` parameter, split.
fn wanted(request: &Signed) -> Vec<&str> {
    request
        .params
        .get("info")
        .map(|i| i.split(',').filter(|a| !a.is_empty()).collect())
        .unwrap_or_default()
}

/// `GET /apps/{id}/channels`: occupied channels, optionally by prefix, with `user_count` for
/// presence channels when asked.
pub(super) async fn list(
    State(state): State<Arc<ServerState>>,
    Path(app_id): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let request = get_signed(&state, &app_id, &uri, query.as_deref())?;
    let prefix = request
        .params
        .get("filter_by_prefix")
        .map_or("", String::as_str);
    let wanted = wanted(&request);
    let mut user_count = false;
    let mut subscription_count = false;
    for attribute in &wanted {
        match *attribute {
            "user_count" if prefix.starts_with("presence-") => user_count = true,
            "user_count" => {
                return Err(ApiError::bad_request(
                    "user_count may only be requested with filter_by_prefix=presence-",
                ));
            }
            "subscription_count" => subscription_count = true,
            other => {
                return Err(ApiError::bad_request(format!(
                    "Unknown info attribute {other:?}"
                )));
            }
        }
    }
    let mut channels = Map::new();
    let occupied = request
        .app
        .occupied_channels(prefix)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    for info in occupied {
        let mut attributes = Map::new();
        if user_count {
            attributes.insert("user_count".into(), json!(info.user_count));
        }
        if subscription_count {
            attributes.insert("subscription_count".into(), json!(info.subscription_count));
        }
        channels.insert(info.name.as_str().to_owned(), Value::Object(attributes));
    }
    Ok(json(&json!({ "channels": channels })))
}

/// `GET /apps/{id}/channels/{name}`: whether it is occupied, and the attributes asked for.
pub(super) async fn one(
    State(state): State<Arc<ServerState>>,
    Path((app_id, name)): Path<(String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let request = get_signed(&state, &app_id, &uri, query.as_deref())?;
    let channel = channel_name(&name)?;
    let hub = &request.app.hub;
    let info = request
        .app
        .channel_info(&channel)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    let mut answer = Map::new();
    answer.insert("occupied".into(), json!(info.subscription_count > 0));
    for attribute in wanted(&request) {
        match attribute {
            "user_count" if Kind::of(&name) == Kind::Presence => {
                answer.insert("user_count".into(), json!(info.user_count));
            }
            "user_count" => {
                return Err(ApiError::bad_request(
                    "user_count is only available for presence channels",
                ));
            }
            "subscription_count" => {
                answer.insert("subscription_count".into(), json!(info.subscription_count));
            }
            "cache" if is_cache(&name) => {
                if let Some(cached) = hub.cached(&channel, now_ms()) {
                    answer.insert(
                        "cache".into(),
                        json!({"data": &*cached.data, "ttl": cached.ttl_s}),
                    );
                }
            }
            "cache" => {
                return Err(ApiError::bad_request(
                    "cache is only available for cache channels",
                ));
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "Unknown info attribute {other:?}"
                )));
            }
        }
    }
    Ok(json(&Value::Object(answer)))
}

/// `GET /apps/{id}/channels/{name}/users`: the user ids of a presence channel.
pub(super) async fn users(
    State(state): State<Arc<ServerState>>,
    Path((app_id, name)): Path<(String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let request = get_signed(&state, &app_id, &uri, query.as_deref())?;
    if Kind::of(&name) != Kind::Presence {
        return Err(ApiError::bad_request(
            "Users can only be listed for presence channels",
        ));
    }
    let channel = channel_name(&name)?;
    let users: Vec<Value> = request
        .app
        .member_ids(&channel)
        .await
        .map_err(|e| ApiError::unavailable(&e))?
        .iter()
        .map(|id| json!({"id": id}))
        .collect();
    Ok(json(&json!({ "users": users })))
}

/// Closes every connection signed in as `user` with 4009, as Pusher does; the user may
/// reconnect and sign in again.
fn terminate(app: &AppRuntime, user: &str) -> Result<Response, ApiError> {
    let user = ClientId::parse(user)
        .map_err(|e| ApiError::bad_request(format!("Invalid user id: {e}")))?;
    let text = wire::error(
        Some(close::UNAUTHORIZED),
        "You got disconnected by the app.",
    );
    for outbound in app.users.connections(&user, false, None) {
        outbound.close_with(Some(&text), close::UNAUTHORIZED, "terminated by the app");
    }
    Ok(json(&json!({})))
}

/// `POST /apps/{id}/users/{user_id}/terminate_connections`.
pub(super) async fn terminate_connections(
    State(state): State<Arc<ServerState>>,
    Path((app_id, user)): Path<(String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = authenticate(
        &state,
        Some(&app_id),
        &Method::POST,
        uri.path(),
        query.as_deref(),
        body,
    )?;
    terminate(&request.app, &user)
}

/// `POST /users/{user_id}/terminate_connections` (the Python SDK's path; the app is the one
/// whose key signed the request).
pub(super) async fn terminate_without_app(
    State(state): State<Arc<ServerState>>,
    Path(user): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = authenticate(
        &state,
        None,
        &Method::POST,
        uri.path(),
        query.as_deref(),
        body,
    )?;
    terminate(&request.app, &user)
}

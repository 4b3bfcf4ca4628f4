//! `POST /apps/{id}/events` and `POST /apps/{id}/batch_events`: trigger events, which reach
//! subscribers of both protocols.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;
use rollcall_core::{ChannelName, ClientId, ConnectionId};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::{ApiError, Signed, authenticate, json};
use crate::pusher::channel::{Kind, SERVER_TO_USER_PREFIX};
use crate::pusher::encode::MAX_EVENT_NAME_LEN;
use crate::pusher::wire;
use crate::session::now_ms;
use crate::state::{AppRuntime, ServerState};

/// Most channels one event may go to.
const MAX_CHANNELS: usize = 100;

/// Most events in one batch.
const MAX_BATCH: usize = 10;

#[derive(Deserialize)]
struct TriggerBody {
    name: String,
    data: Value,
    channels: Option<Vec<String>>,
    channel: Option<String>,
    socket_id: Option<String>,
    info: Option<String>,
}

#[derive(Deserialize)]
struct BatchBody {
    batch: Vec<TriggerBody>,
}

/// Where an event goes.
enum Target {
    Channel(ChannelName),
    User(ClientId),
}

/// A validated event.
struct Trigger {
    name: String,
    data: String,
    targets: Vec<(String, Target)>,
    skip: Option<ConnectionId>,
    info: Vec<String>,
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))
}

fn validate(body: TriggerBody, max_data: usize) -> Result<Trigger, ApiError> {
    if body.name.is_empty() || body.name.len() > MAX_EVENT_NAME_LEN {
        return Err(ApiError::bad_request(format!(
            "Event name must be 1 to {MAX_EVENT_NAME_LEN} bytes"
        )));
    }
    if body.name.starts_with("pusher:") || body.name.starts_with("pusher_internal:") {
        return Err(ApiError::bad_request(
            "Event names starting with pusher: are reserved",
        ));
    }
    let data = match body.data {
        Value::String(s) => s,
        other => other.to_string(),
    };
    if data.len() > max_data {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Event data is {} bytes; the limit is {max_data}",
                data.len()
            ),
        ));
    }
    let names: Vec<String> = match (body.channels, body.channel) {
        (Some(list), None) => list,
        (None, Some(one)) => vec![one],
        _ => {
            return Err(ApiError::bad_request(
                "Give exactly one of `channels` or `channel`",
            ));
        }
    };
    if names.is_empty() || names.len() > MAX_CHANNELS {
        return Err(ApiError::bad_request(format!(
            "An event goes to 1 to {MAX_CHANNELS} channels"
        )));
    }
    if names.len() > 1 && names.iter().any(|n| Kind::of(n) == Kind::Encrypted) {
        return Err(ApiError::bad_request(
            "An event to an encrypted channel must go to that channel alone",
        ));
    }
    let mut targets = Vec::with_capacity(names.len());
    for name in names {
        let target = match name.strip_prefix(SERVER_TO_USER_PREFIX) {
            Some(user) => Target::User(
                ClientId::parse(user).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))?,
            ),
            None => Target::Channel(
                ChannelName::parse(&name)
                    .map_err(|e| ApiError::bad_request(format!("Invalid channel {name:?}: {e}")))?,
            ),
        };
        targets.push((name, target));
    }
    let skip = body
        .socket_id
        .map(|s| {
            s.parse::<ConnectionId>()
                .map_err(|_| ApiError::bad_request(format!("Invalid socket_id {s:?}")))
        })
        .transpose()?;
    let info = body
        .info
        .map(|i| i.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(Trigger {
        name: body.name,
        data,
        targets,
        skip,
        info,
    })
}

/// Delivers a validated event; returns the `info` the caller asked for, per channel.
async fn deliver(
    app: &AppRuntime,
    trigger: &Trigger,
    now: u64,
) -> Result<Map<String, Value>, ApiError> {
    #[derive(Serialize)]
    struct Envelope<'a> {
        event: &'a str,
        data: &'a str,
    }
    let text = serde_json::to_string(&Envelope {
        event: &trigger.name,
        data: &trigger.data,
    })
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let envelope = RawValue::from_string(text)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut user_frame = None;
    let mut info = Map::new();
    for (name, target) in &trigger.targets {
        match target {
            Target::Channel(channel) => {
                app.trigger(channel, &envelope, trigger.skip, now)
                    .await
                    .map_err(|e| ApiError::unavailable(&e))?;
                if !trigger.info.is_empty() {
                    info.insert(
                        name.clone(),
                        channel_attributes(app, channel, &trigger.info).await?,
                    );
                }
            }
            Target::User(user) => {
                // Encoded once, for every connection of the user.
                let frame = user_frame.get_or_insert_with(|| {
                    wire::frame_with_text(&trigger.name, Some(name), &trigger.data, None)
                });
                for outbound in app.users.connections(user, true, trigger.skip) {
                    outbound.push(frame);
                }
            }
        }
    }
    Ok(info)
}

/// The `info` attributes of a channel for a trigger's answer.
async fn channel_attributes(
    app: &AppRuntime,
    channel: &ChannelName,
    wanted: &[String],
) -> Result<Value, ApiError> {
    let counts = app
        .channel_info(channel)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    let mut attributes = Map::new();
    for attribute in wanted {
        match attribute.as_str() {
            "user_count" if Kind::of(channel.as_str()) == Kind::Presence => {
                attributes.insert("user_count".into(), json!(counts.user_count));
            }
            "user_count" => {
                return Err(ApiError::bad_request(
                    "user_count is only available for presence channels",
                ));
            }
            "subscription_count" => {
                attributes.insert(
                    "subscription_count".into(),
                    json!(counts.subscription_count),
                );
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "Unknown info attribute {other:?}"
                )));
            }
        }
    }
    Ok(Value::Object(attributes))
}

fn signed(
    state: &ServerState,
    app_id: &str,
    uri: &Uri,
    query: Option<&str>,
    body: Bytes,
) -> Result<Signed, ApiError> {
    authenticate(state, Some(app_id), &Method::POST, uri.path(), query, body)
}

/// `POST /apps/{id}/events`.
pub(super) async fn trigger(
    State(state): State<Arc<ServerState>>,
    Path(app_id): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = signed(&state, &app_id, &uri, query.as_deref(), body)?;
    let app = &request.app;
    let max = state.config.limits.max_message_bytes;
    let trigger = validate(parse_body(&request.body)?, max)?;
    let info = deliver(app, &trigger, now_ms()).await?;
    Ok(if trigger.info.is_empty() {
        json(&json!({}))
    } else {
        json(&json!({ "channels": info }))
    })
}

/// `POST /apps/{id}/batch_events`.
pub(super) async fn batch(
    State(state): State<Arc<ServerState>>,
    Path(app_id): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = signed(&state, &app_id, &uri, query.as_deref(), body)?;
    let app = &request.app;
    let body: BatchBody = parse_body(&request.body)?;
    if body.batch.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "Batch too large: at most {MAX_BATCH} events"
        )));
    }
    let max = state.config.limits.max_message_bytes;
    // Everything is validated before anything is sent, so a bad event sends nothing.
    let triggers = body
        .batch
        .into_iter()
        .map(|event| validate(event, max))
        .collect::<Result<Vec<_>, _>>()?;
    let now = now_ms();
    let mut answers = Vec::with_capacity(triggers.len());
    let mut any_info = false;
    for trigger in &triggers {
        let info = deliver(app, trigger, now).await?;
        any_info |= !trigger.info.is_empty();
        // In a batch each event has one channel, so its info is that channel's attributes.
        answers.push(info.into_iter().next().map_or(json!({}), |(_, v)| v));
    }
    Ok(if any_info {
        json(&json!({ "batch": answers }))
    } else {
        json(&json!({}))
    })
}

//! The admin HTTP API (`/api/…`): what the dashboard shows, for scripts too. JSON in and out;
//! every route needs the admin token (see [`super::admin`]). Documented in `docs/http-api.md`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rollcall_core::{ChannelName, ClientId, Member};
use serde::{Deserialize, Serialize};

use super::WebState;
use super::admin::{self, AdminError};
use crate::auth::{ChannelPattern, Grants, TokenClaims, mint_token};
use crate::hub::HubError;
use crate::state::AppRuntime;

/// Channels listed by default, and at most.
const CHANNELS_DEFAULT: usize = 100;
const CHANNELS_MAX: usize = 1000;
/// Members listed by default, and at most.
const MEMBERS_DEFAULT: usize = 200;
const MEMBERS_MAX: usize = 1000;
/// How long a watch token is valid for connecting, in seconds.
const WATCH_TOKEN_TTL_S: u64 = 300;
/// The client id of the dashboard's watching connections.
pub(super) const WATCHER_CLIENT_ID: &str = "rollcall-dashboard";

/// A refused API request: a status and `{"error": code, "message": …}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(super) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl From<HubError> for ApiError {
    /// The only error the read paths can meet: Redis out of reach.
    fn from(error: HubError) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "engine_unavailable",
            error.to_string(),
        )
    }
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::Disabled => {
                Self::new(StatusCode::FORBIDDEN, "admin_disabled", error.to_string())
            }
            AdminError::Unauthorized => {
                Self::new(StatusCode::UNAUTHORIZED, "unauthorized", error.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            message: &'a str,
        }
        let mut response = (
            self.status,
            Json(Body {
                error: self.code,
                message: &self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"rollcall\""),
            );
        }
        no_store(response)
    }
}

/// Admin answers are live data: never cached, never sniffed.
fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn answer(value: impl Serialize) -> Response {
    no_store(Json(value).into_response())
}

fn authorize(web: &WebState, headers: &HeaderMap) -> Result<(), ApiError> {
    admin::check(&web.server.config.admin, headers).map_err(ApiError::from)
}

fn app<'s>(web: &'s WebState, id: &str) -> Result<&'s Arc<AppRuntime>, ApiError> {
    web.server.app_by_id(id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_app",
            format!("no app has the id {id:?}"),
        )
    })
}

fn channel_name(name: &str) -> Result<ChannelName, ApiError> {
    ChannelName::parse(name).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_channel",
            format!("invalid channel {name:?}: {e}"),
        )
    })
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
}

fn limit(given: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    match given {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be between 1 and {max}, not {n}"),
        )),
    }
}

/// `GET /api/stats`.
#[derive(Debug, Serialize)]
struct Stats<'a> {
    server_version: &'static str,
    node_id: u32,
    uptime_s: u64,
    connections: usize,
    apps: Vec<AppStats<'a>>,
}

#[derive(Debug, Serialize)]
struct AppStats<'a> {
    id: &'a str,
    key: &'a str,
    allow_anonymous: bool,
    channels: usize,
    subscriptions: usize,
    members: usize,
}

pub(super) async fn stats(
    State(web): State<WebState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&web, &headers)?;
    let mut apps = Vec::new();
    for app in web.server.apps() {
        let totals = app.totals().await?;
        apps.push(AppStats {
            id: app.config.id.as_str(),
            key: &app.config.key,
            allow_anonymous: app.config.allow_anonymous,
            channels: totals.channels,
            subscriptions: totals.subscriptions,
            members: totals.members,
        });
    }
    Ok(answer(Stats {
        server_version: crate::SERVER_VERSION,
        node_id: web.server.node_id,
        uptime_s: web.started.elapsed().as_secs(),
        connections: web.server.connection_count(),
        apps,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChannelsQuery {
    prefix: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct Channels<'a> {
    app: &'a str,
    total: usize,
    channels: Vec<ChannelEntry>,
}

#[derive(Debug, Serialize)]
struct ChannelEntry {
    name: ChannelName,
    members: usize,
    subscriptions: usize,
}

/// `GET /api/apps/{app}/channels?prefix=&limit=`: occupied channels, most members first.
pub(super) async fn channels(
    State(web): State<WebState>,
    Path(app_id): Path<String>,
    params: Result<Query<ChannelsQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&web, &headers)?;
    let params = query(params)?;
    let app = app(&web, &app_id)?;
    let limit = limit(params.limit, CHANNELS_DEFAULT, CHANNELS_MAX)?;
    let mut found = app
        .occupied_channels(params.prefix.as_deref().unwrap_or(""))
        .await?;
    let total = found.len();
    found.sort_unstable_by(|a, b| {
        (b.user_count, b.subscription_count)
            .cmp(&(a.user_count, a.subscription_count))
            .then_with(|| a.name.cmp(&b.name))
    });
    found.truncate(limit);
    Ok(answer(Channels {
        app: app.config.id.as_str(),
        total,
        channels: found
            .into_iter()
            .map(|c| ChannelEntry {
                name: c.name,
                members: c.user_count,
                subscriptions: c.subscription_count,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MembersQuery {
    after: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct Members<'a> {
    app: &'a str,
    channel: &'a ChannelName,
    seq: u64,
    count: usize,
    members: Vec<Member>,
    next: Option<ClientId>,
}

/// `GET /api/apps/{app}/channels/{channel}/members?after=&limit=`: the member list, in client
/// id order, a page at a time.
pub(super) async fn members(
    State(web): State<WebState>,
    Path((app_id, channel)): Path<(String, String)>,
    params: Result<Query<MembersQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&web, &headers)?;
    let params = query(params)?;
    let app = app(&web, &app_id)?;
    let channel = channel_name(&channel)?;
    let after = params
        .after
        .as_deref()
        .map(ClientId::parse)
        .transpose()
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("after: {e}"),
            )
        })?;
    let limit = limit(params.limit, MEMBERS_DEFAULT, MEMBERS_MAX)?;
    let page = app.member_page(&channel, after.as_ref(), limit).await?;
    let next = if page.more {
        page.members.last().map(|m| m.client_id.clone())
    } else {
        None
    };
    Ok(answer(Members {
        app: app.config.id.as_str(),
        channel: &channel,
        seq: page.seq,
        count: page.total,
        members: page.members,
        next,
    }))
}

#[derive(Debug, Serialize)]
struct WatchToken<'a> {
    token: String,
    app_key: &'a str,
    channel: &'a ChannelName,
    client_id: &'static str,
    expires_at: u64,
}

/// `POST /api/apps/{app}/channels/{channel}/watch-token`: a connection token, signed with the
/// app's secret, that may only watch this channel; valid for connecting for five minutes.
pub(super) async fn watch_token(
    State(web): State<WebState>,
    Path((app_id, channel)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&web, &headers)?;
    let app = app(&web, &app_id)?;
    let channel = channel_name(&channel)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let expires_at = now + WATCH_TOKEN_TTL_S;
    // Channel names cannot hold `*` or `?`, so the pattern matches this channel only.
    let grants = Grants {
        watch: vec![ChannelPattern::new(channel.as_str())],
        ..Grants::default()
    };
    let claims = TokenClaims {
        sub: WATCHER_CLIENT_ID.into(),
        exp: Some(expires_at),
        nbf: None,
        iat: Some(now),
        app: Some(app.config.id.as_str().into()),
        data: None,
        grants: Some(grants),
    };
    Ok(answer(WatchToken {
        token: mint_token(&claims, app.config.secret.as_bytes()),
        app_key: &app.config.key,
        channel: &channel,
        client_id: WATCHER_CLIENT_ID,
        expires_at,
    }))
}

//! Checking an HTTP API request's signature.
//!
//! The signed string is `METHOD\npath\nquery`, where `query` is every parameter but
//! `auth_signature`, keys lower-cased, sorted by key, joined `key=value` with `&`, values
//! **decoded** (the SDKs sign raw values and send them escaped). `body_md5` is checked whenever
//! it is present, also on GET (the Python SDK sends the MD5 of the empty body there).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use bytes::Bytes;

use super::ApiError;
use crate::pusher::sign::{md5_hex, verify};
use crate::session::now_ms;
use crate::state::{AppRuntime, ServerState};

/// How far `auth_timestamp` may be from the server's clock.
const MAX_SKEW_S: u64 = 600;

/// Most query parameters a request may have; anything more is refused before sorting.
const MAX_PARAMS: usize = 32;

/// An authenticated request.
#[derive(Debug)]
pub(crate) struct Signed {
    /// The app it is for.
    pub(crate) app: Arc<AppRuntime>,
    /// Its query parameters, decoded, keys lower-cased.
    pub(crate) params: BTreeMap<String, String>,
    /// Its body.
    pub(crate) body: Bytes,
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

/// Authenticates a request to app `app_id` (or, without one, to the app whose key signed it).
pub(crate) fn authenticate(
    state: &ServerState,
    app_id: Option<&str>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: Bytes,
) -> Result<Signed, ApiError> {
    let mut params = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if params.len() >= MAX_PARAMS {
            return Err(ApiError::bad_request("Too many query parameters"));
        }
        let key = key.to_lowercase();
        if params.insert(key.clone(), value.into_owned()).is_some() {
            return Err(ApiError::bad_request(format!(
                "Query parameter {key:?} appears twice"
            )));
        }
    }
    let param = |name: &str| params.get(name).map(String::as_str);
    let key = param("auth_key").ok_or_else(|| unauthorized("Missing auth_key"))?;
    let app = match app_id {
        Some(id) => {
            let app = state.app_by_id(id).ok_or_else(|| {
                ApiError::new(StatusCode::NOT_FOUND, format!("Unknown app {id:?}"))
            })?;
            if app.config.key != key {
                app.metrics.http_auth_failures.increment(1);
                return Err(unauthorized(format!(
                    "Invalid auth_key {key:?} for app {id:?}"
                )));
            }
            app
        }
        None => state
            .app(Some(key))
            .ok_or_else(|| unauthorized(format!("Unknown auth_key {key:?}")))?,
    };
    match verify_request(app, &params, method, path, &body) {
        Ok(()) => Ok(Signed {
            app: app.clone(),
            params,
            body,
        }),
        Err(refusal) => {
            app.metrics.http_auth_failures.increment(1);
            Err(refusal)
        }
    }
}

/// Checks the timestamp, body MD5 and signature of a request to `app`.
fn verify_request(
    app: &AppRuntime,
    params: &BTreeMap<String, String>,
    method: &Method,
    path: &str,
    body: &Bytes,
) -> Result<(), ApiError> {
    let param = |name: &str| params.get(name).map(String::as_str);
    let timestamp: u64 = param("auth_timestamp")
        .ok_or_else(|| unauthorized("Missing auth_timestamp"))?
        .parse()
        .map_err(|_| unauthorized("auth_timestamp must be a number of seconds"))?;
    let now = now_ms() / 1000;
    if timestamp.abs_diff(now) > MAX_SKEW_S {
        return Err(unauthorized(format!(
            "Timestamp expired: given timestamp ({timestamp}) is not within {MAX_SKEW_S}s of server time ({now})"
        )));
    }
    if param("auth_version").is_some_and(|v| v != "1.0") {
        return Err(unauthorized("Unsupported auth_version: 1.0 is supported"));
    }
    match param("body_md5") {
        Some(md5) if md5 != md5_hex(body) => {
            return Err(unauthorized(
                "body_md5 does not match the MD5 of the request body",
            ));
        }
        None if !body.is_empty() => {
            return Err(unauthorized(
                "body_md5 is required for a request with a body",
            ));
        }
        _ => {}
    }
    let signature =
        param("auth_signature").ok_or_else(|| unauthorized("Missing auth_signature"))?;
    let query: Vec<String> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "auth_signature")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let signed = format!("{}\n{path}\n{}", method.as_str(), query.join("&"));
    if !verify(&app.config.secret, &signed, signature) {
        return Err(unauthorized(format!(
            "Invalid signature: you should have sent HmacSHA256Hex({signed:?}, your_secret_key), but you sent {signature:?}"
        )));
    }
    Ok(())
}

//! The opening handshake (RFC 6455 §4.2): checks an HTTP/1.1 upgrade request, answers
//! `101 Switching Protocols`, and hands the upgraded connection to a task.

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};

use super::{Socket, WebSocket};

/// Appended to the client's key before hashing (RFC 6455 §1.3).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A valid WebSocket upgrade request, not yet answered.
#[derive(Debug)]
pub(crate) struct Upgrade {
    accept: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// Why a request is not a WebSocket upgrade: answered with this status and text.
#[derive(Debug)]
pub(crate) struct NotAnUpgrade(StatusCode, &'static str);

impl IntoResponse for NotAnUpgrade {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

impl<S: Sync> FromRequestParts<S> for Upgrade {
    type Rejection = NotAnUpgrade;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NotAnUpgrade> {
        let bad = |text| Err(NotAnUpgrade(StatusCode::BAD_REQUEST, text));
        if parts.method != Method::GET {
            return Err(NotAnUpgrade(
                StatusCode::METHOD_NOT_ALLOWED,
                "a WebSocket upgrade must be a GET request",
            ));
        }
        if !has_token(&parts.headers, &header::CONNECTION, "upgrade") {
            return bad("the Connection header must include 'upgrade'");
        }
        if !has_token(&parts.headers, &header::UPGRADE, "websocket") {
            return bad("the Upgrade header must be 'websocket'");
        }
        if !is(&parts.headers, &header::SEC_WEBSOCKET_VERSION, "13") {
            return bad("the Sec-WebSocket-Version header must be 13");
        }
        let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY) else {
            return bad("the Sec-WebSocket-Key header is missing");
        };
        let accept = accept_key(key.as_bytes());
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            return Err(NotAnUpgrade(
                StatusCode::UPGRADE_REQUIRED,
                "this connection cannot be upgraded",
            ));
        };
        Ok(Self { accept, on_upgrade })
    }
}

impl Upgrade {
    /// Answers `101 Switching Protocols` and, once the client has the answer, runs `session`
    /// on the connection. Messages over `max_message_bytes` close it with 1009.
    pub(crate) fn on_upgrade<F, Fut>(self, max_message_bytes: usize, session: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(async move {
            // Fails only if the client went away before the upgrade completed.
            if let Ok(upgraded) = self.on_upgrade.await {
                session(Socket::new(TokioIo::new(upgraded), max_message_bytes)).await;
            }
        });
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, self.accept);
        response
    }
}

/// `Sec-WebSocket-Accept`: base64 of the SHA-1 of the client's key and the protocol's GUID.
fn accept_key(key: &[u8]) -> HeaderValue {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(ACCEPT_GUID);
    let encoded = base64::engine::general_purpose::STANDARD.encode(sha1.finalize());
    // Base64 is always a valid header value.
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn is(headers: &HeaderMap, name: &HeaderName, value: &str) -> bool {
    headers
        .get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

/// Whether a comma-separated header lists `token` (any case).
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_the_rfc_example_accept_key() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn finds_tokens_in_lists() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(has_token(&headers, &header::CONNECTION, "upgrade"));
        assert!(!has_token(&headers, &header::CONNECTION, "close"));
    }
}

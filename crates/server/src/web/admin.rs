//! Who may use the dashboard and the admin API: whoever presents the admin token from the
//! configuration (`[admin] token`), as `Authorization: Bearer <token>` or as the session cookie
//! the dashboard's sign-in form sets.
//!
//! The cookie holds an HMAC of a fixed label keyed by the token, not the token itself; changing
//! the token signs every browser out. Comparisons are constant-time.

use axum::http::{HeaderMap, header};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::config::AdminConfig;

/// The session cookie's name.
pub(super) const COOKIE: &str = "rollcall_admin";

/// How long a dashboard session lasts, in seconds (12 hours).
pub(super) const SESSION_MAX_AGE_S: u64 = 12 * 60 * 60;

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum AdminError {
    /// No admin token is configured: the dashboard and the API are off (403).
    #[error(
        "the dashboard and the admin API are off: set an admin token with `[admin] token = \"…\"` in the configuration file, `--admin-token` or ROLLCALL_ADMIN_TOKEN (at least 16 bytes)"
    )]
    Disabled,
    /// The request carries no admin token, or a wrong one (401).
    #[error("the admin token is missing or wrong: send `Authorization: Bearer <admin token>`")]
    Unauthorized,
}

/// Checks the request's credentials against the configured token.
pub(super) fn check(config: &AdminConfig, headers: &HeaderMap) -> Result<(), AdminError> {
    let token = config.token.as_deref().ok_or(AdminError::Disabled)?;
    if let Some(given) = bearer(headers) {
        return if same(given.as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err(AdminError::Unauthorized)
        };
    }
    match cookie(headers, COOKIE) {
        Some(given) if same(given.as_bytes(), session_value(token).as_bytes()) => Ok(()),
        _ => Err(AdminError::Unauthorized),
    }
}

/// Whether `given` is the configured token (for the sign-in form).
pub(super) fn token_matches(config: &AdminConfig, given: &str) -> Result<bool, AdminError> {
    let token = config.token.as_deref().ok_or(AdminError::Disabled)?;
    Ok(same(given.as_bytes(), token.as_bytes()))
}

/// The session cookie's value for `token`.
pub(super) fn session_value(token: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(b"rollcall dashboard session v1");
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of cookie `name`, from any `Cookie` header.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Constant-time equality: both sides are hashed to the same length first, so neither the
/// content nor the length of the secret leaks through timing.
fn same(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn config(token: Option<&str>) -> AdminConfig {
        AdminConfig {
            token: token.map(Into::into),
        }
    }

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            name,
            HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
        );
        headers
    }

    #[test]
    fn bearer_and_cookie_open_and_everything_else_is_refused() {
        let token = "0123456789abcdef";
        let on = config(Some(token));
        let empty = HeaderMap::new();
        assert_eq!(check(&config(None), &empty), Err(AdminError::Disabled));
        assert_eq!(check(&on, &empty), Err(AdminError::Unauthorized));
        let good = headers(header::AUTHORIZATION, &format!("Bearer {token}"));
        assert_eq!(check(&on, &good), Ok(()));
        let lower = headers(header::AUTHORIZATION, &format!("bearer {token}"));
        assert_eq!(check(&on, &lower), Ok(()));
        let wrong = headers(header::AUTHORIZATION, "Bearer 0123456789abcdeX");
        assert_eq!(check(&on, &wrong), Err(AdminError::Unauthorized));
        let basic = headers(header::AUTHORIZATION, &format!("Basic {token}"));
        assert_eq!(check(&on, &basic), Err(AdminError::Unauthorized));
        let session = format!("theme=dark; {COOKIE}={}", session_value(token));
        assert_eq!(check(&on, &headers(header::COOKIE, &session)), Ok(()));
        let raw = format!("{COOKIE}={token}");
        assert_eq!(
            check(&on, &headers(header::COOKIE, &raw)),
            Err(AdminError::Unauthorized)
        );
        assert_eq!(token_matches(&on, token), Ok(true));
        assert_eq!(token_matches(&on, "nope"), Ok(false));
    }
}

//! Connection tokens: JWTs signed with HMAC-SHA256 (`HS256`) using the app secret.
//!
//! Only HS256 is accepted: the algorithm comes from our side, never from the token, so a token
//! that claims `none` or an asymmetric algorithm is refused outright.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use super::Grants;

type HmacSha256 = Hmac<Sha256>;

/// Longest token accepted, in bytes; anything larger is refused before any decoding.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What a token asserts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// The client id.
    pub sub: String,
    /// Expiry (Unix seconds). Optional, but recommended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Not valid before (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at (Unix seconds). Informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// The app id this token is for. When present it must match the app connected to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Member data the server applies over whatever the client sends (the token's keys win).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Which channels the holder may use. Absent: every channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<Grants>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, bad JSON, or unexpected header.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header names an algorithm other than HS256.
    #[error("unsupported token algorithm; only HS256 is accepted")]
    Algorithm,
    /// The signature does not verify with the app secret.
    #[error("token signature does not verify")]
    Signature,
    /// The claims are not the documented shape.
    #[error("invalid token claims: {0}")]
    Claims(String),
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not valid yet")]
    NotYetValid,
    /// `app` names another app.
    #[error("token was issued for another app")]
    WrongApp,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Verifies `token` with `secret` at time `now_secs` for app `app_id`.
///
/// # Errors
/// A [`TokenError`] saying why the token is refused.
pub fn verify_token(
    token: &str,
    secret: &[u8],
    app_id: &str,
    now_secs: u64,
) -> Result<TokenClaims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("too long"));
    }
    let malformed = TokenError::Malformed("expected three dot-separated parts");
    let (signing_input, signature) = token.rsplit_once('.').ok_or(malformed.clone())?;
    let (header, payload) = signing_input.split_once('.').ok_or(malformed.clone())?;
    if payload.contains('.') {
        return Err(malformed);
    }
    let header: Header = decode_json(header)?;
    if header.alg != "HS256" {
        return Err(TokenError::Algorithm);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed("signature is not base64url"))?;
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| TokenError::Signature)?;
    let payload_bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed("payload is not base64url"))?;
    let claims: TokenClaims =
        serde_json::from_slice(&payload_bytes).map_err(|e| TokenError::Claims(e.to_string()))?;
    if claims.exp.is_some_and(|exp| exp <= now_secs) {
        return Err(TokenError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf > now_secs) {
        return Err(TokenError::NotYetValid);
    }
    if claims.app.as_deref().is_some_and(|app| app != app_id) {
        return Err(TokenError::WrongApp);
    }
    Ok(claims)
}

/// Signs `claims` with `secret`. Application backends do the same with any JWT library; this is
/// here for the CLI and for tests.
#[must_use]
pub fn mint_token(claims: &TokenClaims, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    // Claims hold strings, numbers and JSON values only, which always serialize.
    #[allow(clippy::expect_used)]
    let payload = serde_json::to_vec(claims).expect("claims serialize");
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    HmacSha256::new_from_slice(secret).expect("HMAC takes any key length")
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed("header is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed("header is not JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> TokenClaims {
        TokenClaims {
            sub: "ann".into(),
            exp: Some(2_000),
            nbf: None,
            iat: None,
            app: Some("dev".into()),
            data: Some(serde_json::json!({"name": "Ann"})),
            grants: None,
        }
    }

    #[test]
    fn a_minted_token_verifies_and_round_trips() {
        let token = mint_token(&claims(), b"secret");
        assert_eq!(verify_token(&token, b"secret", "dev", 1_000), Ok(claims()));
    }

    #[test]
    fn tampering_expiry_algorithm_and_app_are_refused() {
        let token = mint_token(&claims(), b"secret");
        assert_eq!(
            verify_token(&token, b"other", "dev", 1_000),
            Err(TokenError::Signature)
        );
        assert_eq!(
            verify_token(&token, b"secret", "dev", 2_000),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify_token(&token, b"secret", "prod", 1_000),
            Err(TokenError::WrongApp)
        );
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let forged = format!("{none_header}.{}", token.split_once('.').unwrap().1);
        assert_eq!(
            verify_token(&forged, b"secret", "dev", 1_000),
            Err(TokenError::Algorithm)
        );
        assert!(matches!(
            verify_token("a.b", b"secret", "dev", 1_000),
            Err(TokenError::Malformed(_))
        ));
    }
}

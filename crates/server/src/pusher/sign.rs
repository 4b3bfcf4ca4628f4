//! HMAC-SHA256 signatures (channel authorization, user sign-in, HTTP API requests, webhooks) and
//! the MD5 body digest of HTTP API requests.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length")
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Hex HMAC-SHA256 of `message` with `secret`.
pub(crate) fn sign(secret: &str, message: &str) -> String {
    let mut mac = mac(secret);
    mac.update(message.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// Whether `signature` (hex) is the HMAC-SHA256 of `message` with `secret`, compared in
/// constant time so that timing does not reveal how much of a forgery was right.
pub(crate) fn verify(secret: &str, message: &str, signature: &str) -> bool {
    let Some(bytes) = unhex(signature) else {
        return false;
    };
    let mut mac = mac(secret);
    mac.update(message.as_bytes());
    mac.verify_slice(&bytes).is_ok()
}

/// Hex MD5 of `body`, as in the `body_md5` request parameter.
pub(crate) fn md5_hex(body: &[u8]) -> String {
    hex(&Md5::digest(body))
}

/// Why an `auth` field was refused. The messages follow the ones real Pusher sends, because
/// applications log and sometimes match them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    /// Not `<key>:<signature>`.
    #[error("Invalid signature: expected <app key>:<HMAC SHA256 hex digest>, got {0:?}")]
    Malformed(String),
    /// The key part is not this app's key.
    #[error("Invalid key in auth: {0:?} is not this app's key")]
    WrongKey(String),
    /// The signature does not verify.
    #[error("Invalid signature: Expected HMAC SHA256 hex digest of {signed}, but got {got}")]
    Signature {
        /// The string that should have been signed.
        signed: String,
        /// The signature received.
        got: String,
    },
}

/// Checks an `auth` field (`<app key>:<hex HMAC of signed>`).
pub(crate) fn check_auth(
    key: &str,
    secret: &str,
    signed: &str,
    auth: &str,
) -> Result<(), AuthError> {
    let Some((given_key, signature)) = auth.split_once(':') else {
        return Err(AuthError::Malformed(auth.chars().take(100).collect()));
    };
    if given_key != key {
        return Err(AuthError::WrongKey(given_key.chars().take(100).collect()));
    }
    if verify(secret, signed, signature) {
        Ok(())
    } else {
        Err(AuthError::Signature {
            signed: signed.to_owned(),
            got: signature.chars().take(100).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from Pusher's documentation (see the compatibility reference, 1.8 and 2.2).
    const SECRET: &str = "7ad3773142a6692b25b8";

    #[test]
    fn channel_and_user_signatures_match_the_documented_vectors() {
        assert_eq!(
            sign(SECRET, "1234.1234:private-foobar"),
            "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
        assert_eq!(
            sign(
                SECRET,
                r#"1234.1234:presence-foobar:{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#
            ),
            "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"
        );
        assert_eq!(
            sign(SECRET, r#"1234.1234::user::{"id":"12345"}"#),
            "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
        );
    }

    #[test]
    fn request_signature_and_body_md5_match_the_documented_example() {
        let body = r#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        assert_eq!(md5_hex(body.as_bytes()), "ec365a775a4cd0599faeb73354201b6f");
        let signed = "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f";
        assert_eq!(
            sign(SECRET, signed),
            "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
        );
    }

    #[test]
    fn auth_fields_are_checked_for_shape_key_and_signature() {
        let good = format!("k:{}", sign(SECRET, "1.1:private-x"));
        assert_eq!(check_auth("k", SECRET, "1.1:private-x", &good), Ok(()));
        assert!(matches!(
            check_auth("k", SECRET, "1.1:private-y", &good),
            Err(AuthError::Signature { .. })
        ));
        assert!(matches!(
            check_auth("other", SECRET, "1.1:private-x", &good),
            Err(AuthError::WrongKey(_))
        ));
        assert!(matches!(
            check_auth("k", SECRET, "1.1:private-x", "nocolon"),
            Err(AuthError::Malformed(_))
        ));
        assert!(!verify(SECRET, "x", "zz"));
        assert!(!verify(SECRET, "x", "abc"));
    }
}

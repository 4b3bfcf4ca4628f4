//! The connection URL: the endpoint plus the identity in its query.

use crate::error::Error;
use crate::options::{Auth, ConnectOptions};

/// The URL to connect to, and the same without its query, which may hold a token and so must
/// stay out of error messages and logs.
pub(crate) fn build(url: &str, options: &ConnectOptions) -> Result<(String, String), Error> {
    let invalid = |reason| Error::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .ok_or_else(|| invalid("it must start with ws:// or wss://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(invalid("it has no host"));
    }
    let shown = url.split(['?', '#']).next().unwrap_or(url).to_owned();
    let mut params = Vec::new();
    if let Some(key) = &options.app_key {
        params.push(("app", key.as_str()));
    }
    match &options.auth {
        Auth::Anonymous => {}
        Auth::ClientId(id) => params.push(("client_id", id.as_str())),
        Auth::Token(token) => params.push(("token", token.as_str())),
    }
    let mut full = url.split('#').next().unwrap_or(url).to_owned();
    for (n, (key, value)) in params.iter().enumerate() {
        let separator = if n == 0 && !full.contains('?') {
            '?'
        } else {
            '&'
        };
        full.push(separator);
        full.push_str(key);
        full.push('=');
        full.push_str(&percent_encode(value));
    }
    Ok((full, shown))
}

/// Encodes everything but RFC 3986's unreserved characters: client ids may hold any
/// non-control character, tokens hold `.`, `-` and `_`.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_goes_into_the_query_and_never_into_the_shown_url() {
        let options = ConnectOptions::anonymous("Zoë & co".parse().unwrap()).with_app_key("k");
        let (full, shown) = build("ws://h:1/ws", &options).unwrap();
        assert_eq!(full, "ws://h:1/ws?app=k&client_id=Zo%C3%AB%20%26%20co");
        assert_eq!(shown, "ws://h:1/ws");
        let (full, shown) = build("ws://h/ws?x=1", &ConnectOptions::token("a.b-c")).unwrap();
        assert_eq!(full, "ws://h/ws?x=1&token=a.b-c");
        assert_eq!(shown, "ws://h/ws");
        assert!(build("http://h/ws", &options).is_err());
        assert!(build("ws:///ws", &options).is_err());
    }
}

//! What the Pusher protocol needs besides frames: signatures made with the app secret, and the
//! HTTP API that publishes (Pusher clients cannot publish to public channels).
//!
//! The generator signs locally, as an app's auth endpoint would: HMAC-SHA256 of
//! `socket_id:channel[:channel_data]` for subscriptions, and of `POST\n/apps/{id}/events\n` plus
//! the sorted query for HTTP API requests (Pusher's `auth_version` 1.0, with `body_md5`).

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use sha2::Sha256;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::http::Uri;

/// The largest HTTP API answer read: `{}` normally, a line of text for errors.
const MAX_ANSWER: usize = 64 * 1024;

/// The app's credentials, and the signatures made with them.
#[derive(Debug)]
pub(crate) struct Signer {
    key: String,
    app_id: String,
    secret: String,
}

impl Signer {
    pub(crate) fn new(key: &str, app_id: &str, secret: &str) -> Self {
        Self {
            key: key.to_owned(),
            app_id: app_id.to_owned(),
            secret: secret.to_owned(),
        }
    }

    /// Hex HMAC-SHA256 of `message` with the secret.
    fn sign(&self, message: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        #[allow(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes())
            .expect("HMAC takes any key length");
        mac.update(message.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// The `auth` field of a `pusher:subscribe`: `key:HMAC(socket_id:channel[:channel_data])`.
    pub(crate) fn channel_auth(
        &self,
        socket_id: &str,
        channel: &str,
        channel_data: Option<&str>,
    ) -> String {
        let message = match channel_data {
            Some(data) => format!("{socket_id}:{channel}:{data}"),
            None => format!("{socket_id}:{channel}"),
        };
        format!("{}:{}", self.key, self.sign(&message))
    }

    /// The path and signed query of an HTTP API `POST` of `body` to `/apps/{id}/{endpoint}` at
    /// `timestamp` (Unix seconds).
    pub(crate) fn signed_post(&self, endpoint: &str, body: &[u8], timestamp: u64) -> String {
        let path = format!("/apps/{}/{endpoint}", self.app_id);
        // Keys already in sorted order, values without characters that need escaping.
        let query = format!(
            "auth_key={}&auth_timestamp={timestamp}&auth_version=1.0&body_md5={}",
            self.key,
            hex(&Md5::digest(body))
        );
        let signature = self.sign(&format!("POST\n{path}\n{query}"));
        format!("{path}?{query}&auth_signature={signature}")
    }
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Where the HTTP API is: a plain `http://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RestTarget {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host:port`, for the `Host` header.
    authority: String,
}

impl RestTarget {
    /// Parses `--rest-url`: `http://host[:port]`, with no path (the API's paths are signed).
    pub(crate) fn parse(url: &str) -> Result<Self, &'static str> {
        let uri: Uri = url.parse().map_err(|_| "not a URL")?;
        if uri.scheme_str() != Some("http") {
            return Err("only http:// URLs are supported");
        }
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err("expected http://host:port with no path");
        }
        Self::from_uri(&uri, 80)
    }

    /// The HTTP API on the host and port of the WebSocket URL, as Pusher servers serve both on
    /// one port.
    pub(crate) fn from_ws(url: &str) -> Result<Self, &'static str> {
        let uri: Uri = url.parse().map_err(|_| "not a URL")?;
        Self::from_uri(&uri, 80)
    }

    fn from_uri(uri: &Uri, default_port: u16) -> Result<Self, &'static str> {
        let host = uri.host().ok_or("no host")?.to_owned();
        let port = uri.port_u16().unwrap_or(default_port);
        let authority = format!("{host}:{port}");
        // `[::1]` → `::1` for connecting.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(Self {
            host,
            port,
            authority,
        })
    }
}

/// Why an HTTP API request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RestError {
    /// Connecting to the API failed.
    #[error("connecting to the HTTP API: {0}")]
    Connect(#[from] std::io::Error),
    /// The HTTP exchange failed (connection closed, malformed answer).
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built (an invalid header value).
    #[error("building the request: {0}")]
    Request(#[from] hyper::http::Error),
    /// The answer's body could not be read, or was larger than 64 KiB.
    #[error("reading the answer: {0}")]
    Body(String),
    /// The API answered with a status other than 2xx.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the answer's body (the API explains refusals in plain text).
        body: String,
    },
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// A client of the HTTP API on one keep-alive HTTP/1.1 connection, opened on first use and
/// again after a failure. One request at a time, so events reach the server in order.
pub(crate) struct RestClient {
    target: RestTarget,
    patience: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// The task doing the connection's I/O.
    driver: Option<JoinHandle<()>>,
}

impl RestClient {
    pub(crate) fn new(target: RestTarget, patience: Duration) -> Self {
        Self {
            target,
            patience,
            sender: None,
            driver: None,
        }
    }

    /// `POST`s `body` (JSON) to `path_and_query`, which must already be signed.
    pub(crate) async fn post(
        &mut self,
        path_and_query: &str,
        body: String,
    ) -> Result<(), RestError> {
        let patience = self.patience;
        let result = tokio::time::timeout(patience, self.exchange(path_and_query, body))
            .await
            .unwrap_or(Err(RestError::Timeout(patience)));
        if matches!(
            result,
            Err(RestError::Connect(_) | RestError::Http(_) | RestError::Timeout(_))
        ) {
            // The connection's state is unknown: start afresh next time.
            self.disconnect();
        }
        result
    }

    async fn exchange(&mut self, path_and_query: &str, body: String) -> Result<(), RestError> {
        let request = hyper::Request::post(path_and_query)
            .header("host", self.target.authority.as_str())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let sender = match &mut self.sender {
            Some(sender) if !sender.is_closed() => match sender.ready().await {
                Ok(()) => sender,
                // The server closed the kept-alive connection before this request went out
                // (it was not sent): send it on a new one.
                Err(_) => self.connect().await?,
            },
            _ => self.connect().await?,
        };
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        // Servers that answer `Connection: close` (Sockudo, Soketi) end the connection after
        // the answer: the next request opens a new one instead of racing its shutdown.
        let close = response
            .headers()
            .get(hyper::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        // Read the whole answer, so the connection is ready for the next request.
        let answer = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| RestError::Body(e.to_string()))?
            .to_bytes();
        if close {
            self.disconnect();
        }
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(RestError::Status {
                status,
                body: String::from_utf8_lossy(&answer).chars().take(200).collect(),
            })
        }
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, RestError> {
        self.disconnect();
        let stream = TcpStream::connect((self.target.host.as_str(), self.target.port)).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        self.driver = Some(tokio::spawn(async move {
            let _ = connection.await;
        }));
        Ok(self.sender.insert(sender))
    }

    fn disconnect(&mut self) {
        self.sender = None;
        if let Some(driver) = self.driver.take() {
            driver.abort();
        }
    }
}

impl Drop for RestClient {
    fn drop(&mut self) {
        self.disconnect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Key, secret and results from Pusher's documentation (docs/pusher-compat.md's reference,
    // section 1.8 and 2.2).
    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";

    #[test]
    fn channel_signatures_match_pushers_test_vectors() {
        let signer = Signer::new(KEY, "3", SECRET);
        assert_eq!(
            signer.channel_auth("1234.1234", "private-foobar", None),
            format!("{KEY}:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4")
        );
        assert_eq!(
            signer.channel_auth(
                "1234.1234",
                "presence-foobar",
                Some(r#"{"user_id":10,"user_info":{"name":"Mr. Pusher"}}"#)
            ),
            format!("{KEY}:afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c")
        );
    }

    #[test]
    fn http_api_signature_matches_pushers_worked_example() {
        let signer = Signer::new(KEY, "3", SECRET);
        let body = r#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        assert_eq!(
            signer.signed_post("events", body.as_bytes(), 1_353_088_179),
            "/apps/3/events?auth_key=278d425bdf160c739803&auth_timestamp=1353088179\
             &auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f\
             &auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
        );
    }

    #[test]
    fn rest_targets() {
        let t = RestTarget::from_ws("ws://127.0.0.1:6001/app/k?protocol=7").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 6001));
        let t = RestTarget::parse("http://[::1]:7070").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("::1", 7070, "[::1]:7070")
        );
        assert_eq!(RestTarget::parse("http://localhost/").unwrap().port, 80);
        assert!(RestTarget::parse("https://127.0.0.1").is_err());
        assert!(RestTarget::parse("http://127.0.0.1/apps").is_err());
    }
}

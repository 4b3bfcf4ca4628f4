//! A minimal HTTP/1.1 client for webhook POSTs over plain `http://` (no TLS yet).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long one delivery attempt may take, connection included.
const ATTEMPT_DEADLINE: Duration = Duration::from_secs(5);

/// An `http://host[:port][/path]` URL, parsed once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    host: String,
    port: u16,
    authority: String,
    path: String,
}

impl HttpUrl {
    /// Parses `url`; `None` unless it is plain `http://` with a host.
    pub(crate) fn parse(url: &str) -> Option<Self> {
        let rest = url.strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                (host, port.parse().ok()?)
            }
            _ => (authority, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || authority.contains('@') {
            return None;
        }
        Some(Self {
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// Why a delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PostError {
    /// Connecting, writing or reading failed.
    #[error("{0}")]
    Io(String),
    /// The attempt took longer than its deadline.
    #[error("no answer within {ATTEMPT_DEADLINE:?}")]
    Timeout,
    /// The endpoint answered with a status other than 2xx.
    #[error("answered HTTP {0}")]
    Status(u16),
}

/// POSTs `body` as JSON with `headers`; succeeds on a 2xx answer.
pub(crate) async fn post(
    url: &HttpUrl,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<(), PostError> {
    let attempt = async {
        let stream = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| PostError::Io(e.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| PostError::Io(e.to_string()))?;
        // The connection future does the socket I/O; it ends when the exchange is over.
        let driver = tokio::spawn(connection);
        let mut request = Request::post(url.path.as_str())
            .header("host", url.authority.as_str())
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| PostError::Io(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| PostError::Io(e.to_string()));
        drop(sender);
        driver.abort();
        let status = response?.status().as_u16();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(PostError::Status(status))
        }
    };
    tokio::time::timeout(ATTEMPT_DEADLINE, attempt)
        .await
        .unwrap_or(Err(PostError::Timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_with_a_host_parse() {
        let url = HttpUrl::parse("http://127.0.0.1:9000/hooks/a?x=1").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 9000));
        assert_eq!(url.path, "/hooks/a?x=1");
        let url = HttpUrl::parse("http://example.test").unwrap();
        assert_eq!((url.port, url.path.as_str()), (80, "/"));
        assert!(HttpUrl::parse("https://example.test/").is_none());
        assert!(HttpUrl::parse("http://:80/").is_none());
        assert!(HttpUrl::parse("http://host:notaport/").is_none());
        assert!(HttpUrl::parse("http://user:pw@host/").is_none());
    }
}

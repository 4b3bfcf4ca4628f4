//! Test harness for the Pusher protocol: a raw Pusher WebSocket client, channel and REST
//! signatures, and a minimal HTTP/1.1 client for the HTTP API.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use rollcall_server::config::{AppConfig, Config, PusherAppConfig};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(5);

pub const APP_ID: &str = "123";
pub const KEY: &str = "pusher-key";
pub const SECRET: &str = "pusher-secret";

/// A configuration with the dev app and a Pusher app (`KEY`/`SECRET`, client events on).
pub fn config(pusher: PusherAppConfig) -> Config {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Config::default()
    };
    config.apps.push(AppConfig {
        id: APP_ID.parse().unwrap(),
        key: KEY.into(),
        secret: SECRET.into(),
        allow_anonymous: true,
        pusher,
    });
    config
}

/// The Pusher settings of the test app.
pub fn settings() -> PusherAppConfig {
    PusherAppConfig {
        enable_client_events: true,
        ..PusherAppConfig::default()
    }
}

/// Hex HMAC-SHA256.
pub fn sign(message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A raw Pusher-protocol client.
pub struct PusherClient {
    pub ws: Ws,
    pub socket_id: String,
    pub activity_timeout: u64,
}

impl PusherClient {
    /// Opens `/app/{key}?{query}` without reading anything.
    pub async fn open(addr: SocketAddr, key: &str, query: &str) -> Ws {
        let url = format!("ws://{addr}/app/{key}?{query}");
        tokio_tungstenite::connect_async(url)
            .await
            .expect("connects")
            .0
    }

    /// Connects to the test app and reads `pusher:connection_established`.
    pub async fn connect(addr: SocketAddr) -> Self {
        let ws = Self::open(addr, KEY, "protocol=7&client=js&version=8.6.0&flash=false").await;
        let mut client = Self {
            ws,
            socket_id: String::new(),
            activity_timeout: 0,
        };
        let established = client.recv().await;
        assert_eq!(
            established["event"], "pusher:connection_established",
            "{established}"
        );
        client.socket_id = established["data"]["socket_id"]
            .as_str()
            .unwrap()
            .to_owned();
        client.activity_timeout = established["data"]["activity_timeout"].as_u64().unwrap();
        client
    }

    pub async fn send(&mut self, value: Value) {
        self.ws
            .send(Message::text(value.to_string()))
            .await
            .expect("send");
    }

    /// The next frame as JSON, with a string `data` parsed when it holds JSON.
    pub async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame within the patience window")
                .expect("open")
                .expect("no read error");
            match frame {
                Message::Text(text) => return parse(&text),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected text, got {other:?}"),
            }
        }
    }

    /// The next frame, which must be `event`.
    pub async fn expect(&mut self, event: &str) -> Value {
        let frame = self.recv().await;
        assert_eq!(frame["event"], event, "expected {event}: {frame}");
        frame
    }

    /// Asserts nothing arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(wait, self.ws.next()).await
        {
            panic!("expected silence, got {text}");
        }
    }

    /// Reads until the close frame; returns its code and reason, then checks the TCP ends.
    pub async fn expect_close(&mut self) -> (u16, String) {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a close within the patience window");
            match frame {
                Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                    return (code.into(), reason.to_string());
                }
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Subscribes to a public channel and waits for success.
    pub async fn subscribe_public(&mut self, channel: &str) {
        self.send(json!({"event": "pusher:subscribe", "data": {"auth": "", "channel": channel}}))
            .await;
        let ok = self.expect("pusher_internal:subscription_succeeded").await;
        assert_eq!(ok["channel"], channel);
    }

    /// Subscribes to a private channel with a valid signature and waits for success.
    pub async fn subscribe_private(&mut self, channel: &str) {
        let auth = format!("{KEY}:{}", sign(&format!("{}:{channel}", self.socket_id)));
        self.send(json!({"event": "pusher:subscribe", "data": {"auth": auth, "channel": channel}}))
            .await;
        self.expect("pusher_internal:subscription_succeeded").await;
    }

    /// Sends a signed presence subscription with `channel_data`; returns the next frame.
    pub async fn subscribe_presence(&mut self, channel: &str, channel_data: &str) -> Value {
        let auth = format!(
            "{KEY}:{}",
            sign(&format!("{}:{channel}:{channel_data}", self.socket_id))
        );
        self.send(json!({"event": "pusher:subscribe",
                         "data": {"auth": auth, "channel": channel, "channel_data": channel_data}}))
            .await;
        self.recv().await
    }

    /// Joins a presence channel as `user_id` with `user_info`; returns the `presence` data.
    pub async fn join(&mut self, channel: &str, user_id: &str, user_info: Value) -> Value {
        let data = json!({"user_id": user_id, "user_info": user_info}).to_string();
        let frame = self.subscribe_presence(channel, &data).await;
        assert_eq!(
            frame["event"], "pusher_internal:subscription_succeeded",
            "{frame}"
        );
        frame["data"]["presence"].clone()
    }
}

/// Parses a frame, and its `data` when that is a string holding JSON.
pub fn parse(text: &str) -> Value {
    let mut value: Value = serde_json::from_str(text).expect("JSON frame");
    if let Some(inner) = value["data"].as_str() {
        if let Ok(parsed) = serde_json::from_str::<Value>(inner) {
            value["data"] = parsed;
        }
    }
    value
}

/// The current Unix time in seconds.
pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signed HTTP API request's path and query (`extra` params included in the signature).
pub fn signed_target(
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &str,
    with_md5: bool,
    secret_ok: bool,
) -> String {
    let mut params: Vec<(String, String)> = vec![
        ("auth_key".into(), KEY.into()),
        ("auth_timestamp".into(), now_s().to_string()),
        ("auth_version".into(), "1.0".into()),
    ];
    if with_md5 {
        params.push(("body_md5".into(), hex(&Md5::digest(body.as_bytes()))));
    }
    for (k, v) in extra {
        params.push(((*k).into(), (*v).into()));
    }
    params.sort();
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let query = query.join("&");
    let signature = if secret_ok {
        sign(&format!("{method}\n{path}\n{query}"))
    } else {
        "0".repeat(64)
    };
    format!("{path}?{query}&auth_signature={signature}")
}

/// Sends one HTTP/1.1 request and returns the status and body.
pub async fn http(addr: SocketAddr, method: &str, target: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(PATIENCE, stream.read_to_string(&mut response))
        .await
        .expect("an answer")
        .unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

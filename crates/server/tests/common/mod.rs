//! Test harness: a real server on port 0 and real WebSocket clients talking JSON to it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rollcall_server::Server;
use rollcall_server::auth::{Grants, TokenClaims, mint_token};
use rollcall_server::config::{AppConfig, Config};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// The secret of the token-only app in [`config`].
pub const SECURE_SECRET: &str = "secure-secret-123";

/// A test configuration: port 0, the dev app (anonymous) and a `secure` app (tokens only).
pub fn config() -> Config {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Config::default()
    };
    config.apps.push(AppConfig {
        id: "secure".parse().unwrap(),
        key: "secure-key".into(),
        secret: SECURE_SECRET.into(),
        allow_anonymous: false,
        pusher: Default::default(),
    });
    config
}

/// A running server; stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a server with `config`.
pub async fn start(config: Config) -> TestServer {
    let server = Server::bind(config).await.expect("server binds");
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        stop: Some(stop),
    }
}

/// Starts a server with the default test configuration.
pub async fn start_default() -> TestServer {
    start(config()).await
}

/// A token for the `secure` app.
pub fn token(sub: &str, data: Option<Value>, grants: Option<Grants>, exp: Option<u64>) -> String {
    let claims = TokenClaims {
        sub: sub.into(),
        exp,
        nbf: None,
        iat: None,
        app: None,
        data,
        grants,
    };
    mint_token(&claims, SECURE_SECRET.as_bytes())
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a raw WebSocket to `/ws?{query}` without reading anything.
pub async fn connect_raw(server: &TestServer, query: &str) -> Ws {
    let url = format!("ws://{}/ws?{query}", server.addr);
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    ws
}

/// A native-protocol client.
pub struct Client {
    pub ws: Ws,
    /// The `session` message.
    pub session: Value,
    /// A close frame already read by [`Self::try_recv`].
    pending_close: Option<Option<(u16, String)>>,
}

impl Client {
    /// Connects anonymously to the dev app as `client_id`.
    pub async fn anon(server: &TestServer, client_id: &str) -> Self {
        Self::connect(server, &format!("app=dev-key&client_id={client_id}")).await
    }

    /// Wraps a socket whose first message has not been read (for refusals).
    pub fn unopened(ws: Ws) -> Self {
        Self {
            ws,
            session: Value::Null,
            pending_close: None,
        }
    }

    /// Connects with `query` and reads the `session` message.
    pub async fn connect(server: &TestServer, query: &str) -> Self {
        let ws = connect_raw(server, query).await;
        let mut client = Self::unopened(ws);
        let session = client.recv().await;
        assert_eq!(session["type"], "session", "first message: {session}");
        client.session = session;
        client
    }

    /// This connection's id.
    pub fn connection_id(&self) -> String {
        self.session["connection_id"].as_str().unwrap().to_owned()
    }

    /// Sends a JSON value as a text frame.
    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// The next JSON message, skipping pings; panics after [`PATIENCE`].
    pub async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a message within the patience window")
                .expect("the connection is open")
                .expect("no read error");
            match frame {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next JSON message, or `None` when the next frame is a close (left unread for
    /// [`Self::expect_close`]); panics after [`PATIENCE`].
    pub async fn try_recv(&mut self) -> Option<Value> {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame within the patience window");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(&text).expect("JSON"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(frame))) => {
                    self.pending_close = Some(frame.map(|f| (f.code.into(), f.reason.to_string())));
                    return None;
                }
                _ => {
                    self.pending_close = Some(None);
                    return None;
                }
            }
        }
    }

    /// Sends `request` with id `id` and returns the next message, which must answer it.
    pub async fn request(&mut self, id: u64, mut request: Value) -> Value {
        request["id"] = json!(id);
        self.send(request).await;
        let reply = self.recv().await;
        assert_eq!(reply["id"], json!(id), "reply to request {id}: {reply}");
        reply
    }

    /// Like [`Self::request`], and asserts the reply is an ack; returns its `result`.
    pub async fn ok(&mut self, id: u64, request: Value) -> Value {
        let reply = self.request(id, request).await;
        assert_eq!(reply["type"], "ack", "expected an ack: {reply}");
        reply["result"].clone()
    }

    /// Like [`Self::request`], and asserts the reply is an error; returns its code.
    pub async fn err(&mut self, id: u64, request: Value) -> String {
        let reply = self.request(id, request).await;
        assert_eq!(reply["type"], "error", "expected an error: {reply}");
        reply["code"].as_str().unwrap().to_owned()
    }

    /// Joins `channel` with `data`; returns the ack result (the snapshot).
    pub async fn join(&mut self, channel: &str, data: Value) -> Value {
        self.ok(900, json!({"op": "join", "channel": channel, "data": data}))
            .await
    }

    /// The next message, which must have `type` = `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let message = self.recv().await;
        assert_eq!(
            message["type"], kind,
            "expected a {kind} message: {message}"
        );
        message
    }

    /// Asserts that no text message arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(other) => panic!("expected silence, got {other:?}"),
            }
        }
    }

    /// Reads until the server closes; returns the close frame (code, reason) if one came.
    pub async fn expect_close(&mut self) -> Option<(u16, String)> {
        if let Some(close) = self.pending_close.take() {
            return close;
        }
        expect_close(&mut self.ws).await
    }
}

/// Reads `ws` until the server closes it; returns the close frame, skipping other messages.
pub async fn expect_close(ws: &mut Ws) -> Option<(u16, String)> {
    loop {
        let frame = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("the server closes within the patience window");
        match frame {
            Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                return Some((code.into(), reason.to_string()));
            }
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// The sorted client ids of a snapshot's `members`.
pub fn client_ids(members: &Value) -> Vec<String> {
    let mut ids: Vec<String> = members
        .as_array()
        .expect("members is an array")
        .iter()
        .map(|m| m["client_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// A masked client frame (`first` is the FIN bit and opcode byte), for tests that speak
/// WebSocket over raw TCP.
pub fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(0x80 | u8::try_from(n).unwrap()),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// Parses one unmasked, unfragmented server frame at the start of `buf`: ((opcode, payload),
/// bytes used), or `None` when `buf` does not yet hold a whole frame.
pub fn parse_server_frame(buf: &[u8]) -> Option<((u8, Vec<u8>), usize)> {
    let first = *buf.first()?;
    let second = *buf.get(1)?;
    assert_eq!(second & 0x80, 0, "server frames are not masked");
    let (len, header) = match second & 0x7F {
        126 => (
            usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().unwrap();
            (usize::try_from(u64::from_be_bytes(bytes)).unwrap(), 10)
        }
        n => (usize::from(n), 2),
    };
    let payload = buf.get(header..header + len)?.to_vec();
    Some(((first & 0x0F, payload), header + len))
}

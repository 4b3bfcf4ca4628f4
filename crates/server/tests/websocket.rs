//! The WebSocket layer itself (crates/server/src/websocket), driven over raw TCP so that each
//! test controls every byte: the opening handshake and its refusals, frames that arrive with
//! the handshake or in fragments, and a client that pings without ever reading. The framing
//! rules are covered exhaustively by the Autobahn suite (`scripts/autobahn`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(unreachable_pub)]
mod common;

use std::time::Duration;

use common::{
    Client, PATIENCE, TestServer, config, masked_frame, parse_server_frame, start, start_default,
};
use rollcall_server::config::{Config, HeartbeatConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

fn handshake(server: &TestServer, path: &str, extra_headers: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         {extra_headers}\r\n",
        server.addr
    )
}

const KEY_AND_VERSION: &str =
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// Reads until the end of the HTTP response head; returns it and whatever followed.
async fn read_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buffer = Vec::new();
    loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..at + 4]).into_owned();
            return (head, buffer[at + 4..].to_vec());
        }
        let mut chunk = [0_u8; 4096];
        let n = timeout(PATIENCE, stream.read(&mut chunk))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "the server closed before answering");
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// Reads server frames until a text frame whose JSON satisfies `wanted`.
async fn read_json_until(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        while let Some(((opcode, payload), used)) = parse_server_frame(buffer) {
            buffer.drain(..used);
            if opcode == 0x1 {
                let value: Value = serde_json::from_slice(&payload).unwrap();
                if wanted(&value) {
                    return value;
                }
            }
        }
        let mut chunk = [0_u8; 4096];
        let n = timeout(PATIENCE, stream.read(&mut chunk))
            .await
            .expect("a frame in time")
            .unwrap();
        assert!(n > 0, "the server closed the connection");
        buffer.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn computes_the_accept_key_of_the_rfc_example() {
    let server = start_default().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = handshake(&server, "/ws?app=dev-key", KEY_AND_VERSION);
    stream.write_all(request.as_bytes()).await.unwrap();
    let (head, _) = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
}

#[tokio::test]
async fn refuses_requests_that_are_not_websocket_upgrades_with_a_reason() {
    let server = start_default().await;
    let cases = [
        (
            "no key",
            handshake(&server, "/ws", "Sec-WebSocket-Version: 13\r\n"),
            "400",
            "Sec-WebSocket-Key",
        ),
        (
            "old version",
            handshake(
                &server,
                "/ws",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n",
            ),
            "400",
            "Sec-WebSocket-Version",
        ),
        (
            "plain GET",
            format!("GET /ws HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr),
            "400",
            "Connection",
        ),
        (
            "Pusher endpoint, no upgrade header",
            format!(
                "GET /app/dev-key HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\n{KEY_AND_VERSION}\r\n",
                server.addr
            ),
            "400",
            "Upgrade",
        ),
    ];
    for (name, request, status, mentions) in cases {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let (head, body) = read_head(&mut stream).await;
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status}")),
            "{name}: {head}"
        );
        let mut body = body;
        // The explanation is short; read until it names the header at fault.
        while !String::from_utf8_lossy(&body).contains(mentions) {
            let mut chunk = [0_u8; 1024];
            let n = timeout(PATIENCE, stream.read(&mut chunk))
                .await
                .unwrap()
                .unwrap();
            assert!(
                n > 0,
                "{name}: the body does not mention {mentions}: {body:?}"
            );
            body.extend_from_slice(&chunk[..n]);
        }
    }
}

#[tokio::test]
async fn reads_a_frame_sent_together_with_the_handshake() {
    let server = start_default().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut bytes =
        handshake(&server, "/ws?app=dev-key&client_id=eager", KEY_AND_VERSION).into_bytes();
    bytes.extend(masked_frame(
        0x81,
        br#"{"op":"join","id":7,"channel":"lobby","data":{}}"#,
    ));
    stream.write_all(&bytes).await.unwrap();
    let (head, mut rest) = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let ack = read_json_until(&mut stream, &mut rest, |m| m["id"] == json!(7)).await;
    assert_eq!(ack["type"], "ack", "{ack}");
}

#[tokio::test]
async fn reassembles_a_fragmented_request_around_a_ping() {
    let server = start_default().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = handshake(&server, "/ws?app=dev-key&client_id=frag", KEY_AND_VERSION);
    stream.write_all(request.as_bytes()).await.unwrap();
    let (_, mut rest) = read_head(&mut stream).await;
    let text = br#"{"op":"join","id":8,"channel":"lobby","data":{"name":"fr\u00e9d"}}"#;
    let mut bytes = masked_frame(0x01, &text[..10]);
    bytes.extend(masked_frame(0x89, b"are you there"));
    bytes.extend(masked_frame(0x00, &text[10..30]));
    bytes.extend(masked_frame(0x80, &text[30..]));
    // One byte at a time, so every frame is split across reads.
    for byte in bytes {
        stream.write_all(&[byte]).await.unwrap();
    }
    let ack = read_json_until(&mut stream, &mut rest, |m| m["id"] == json!(8)).await;
    assert_eq!(ack["type"], "ack", "{ack}");
}

/// A client that sends pings and never reads the pongs must not make the server buffer without
/// bound: past a few tens of KiB of unwritten pongs the server stops reading it, so the
/// client's own writes stall. Other connections are unaffected.
#[tokio::test]
async fn a_client_that_pings_without_reading_is_not_read_without_bound() {
    let server = start_default().await;
    let mut flooder = TcpStream::connect(server.addr).await.unwrap();
    let request = handshake(&server, "/ws?app=dev-key", KEY_AND_VERSION);
    flooder.write_all(request.as_bytes()).await.unwrap();
    read_head(&mut flooder).await;

    let ping = masked_frame(0x89, &[b'p'; 125]);
    let burst: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 1000)
        .collect();
    // 256 MiB of pings would owe 256 MiB of pongs. Loopback socket buffers hold a few MiB, so a
    // bounded server stops taking bytes long before that.
    let mut sent = 0_usize;
    let stalled = loop {
        match timeout(Duration::from_secs(2), flooder.write_all(&burst)).await {
            Ok(Ok(())) => sent += burst.len(),
            Ok(Err(error)) => panic!("the server dropped the flooder instead: {error}"),
            Err(_) => break true,
        }
        if sent > 256 << 20 {
            break false;
        }
    };
    assert!(stalled, "the server kept reading pings it could not answer");
    assert!(
        sent < 64 << 20,
        "{sent} bytes were read before the server pushed back"
    );

    let mut other = Client::connect(&server, "app=dev-key&client_id=bystander").await;
    other
        .send(json!({"op": "join", "id": 1, "channel": "calm", "data": {}}))
        .await;
    let ack = other.recv().await;
    assert_eq!(ack["type"], "ack", "{ack}");
}

/// WebSocket pings count as hearing from the client: a client that sends nothing else is not
/// timed out.
#[tokio::test]
async fn websocket_pings_keep_a_quiet_client_alive() {
    let server = start(Config {
        heartbeat: HeartbeatConfig {
            interval_ms: 200,
            timeout_ms: 300,
        },
        ..config()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = handshake(&server, "/ws?app=dev-key&client_id=pinger", KEY_AND_VERSION);
    stream.write_all(request.as_bytes()).await.unwrap();
    let (_, mut rest) = read_head(&mut stream).await;
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream
            .write_all(&masked_frame(0x89, b"still here"))
            .await
            .unwrap();
    }
    // Four timeouts have passed; the connection must still answer.
    stream
        .write_all(&masked_frame(
            0x81,
            br#"{"op":"join","id":9,"channel":"lobby","data":{}}"#,
        ))
        .await
        .unwrap();
    let ack = read_json_until(&mut stream, &mut rest, |m| {
        m["id"] == json!(9) || m["type"] == "error"
    })
    .await;
    assert_eq!(ack["type"], "ack", "{ack}");
}

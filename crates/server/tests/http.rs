//! Plain HTTP routes.

#![allow(clippy::unwrap_used)]

#[allow(unreachable_pub)]
mod common;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(common::PATIENCE, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    response
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = common::start_default().await;
    let response = get(server.addr, "/healthz").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok\n"), "{response}");
}

#[tokio::test]
async fn the_echo_endpoint_exists_only_when_enabled() {
    let server = common::start_default().await;
    let response = get(server.addr, "/test/echo").await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");

    let mut config = common::config();
    config.testing.echo_endpoint = true;
    let server = common::start(config).await;
    let response = get(server.addr, "/test/echo").await;
    // Present, but a plain GET is not a WebSocket upgrade.
    assert!(!response.starts_with("HTTP/1.1 404"), "{response}");
}

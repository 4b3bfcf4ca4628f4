//! What operators see: `/metrics` moves with traffic, `/readyz` follows the server's life, and a
//! stopping server tells Pusher clients to reconnect (4200) at their turn.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(unreachable_pub)]
mod common;
#[allow(unreachable_pub)]
mod pusher_support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::Client;
use pusher_support::{PusherClient, http, settings, signed_target};
use rollcall_server::Server;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Every sample of a scrape, by series (`name{labels}`).
async fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (status, body) = http(addr, "GET", "/metrics", "").await;
    assert_eq!(status, 200, "{body}");
    body.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no series {series}"))
}

/// Scrapes until `series` has the value `expected`, within the patience window. Counters that
/// the writer bumps after its flush may lag the frame the test just read by a moment.
async fn eventually(addr: SocketAddr, series: &str, expected: f64) {
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    loop {
        let samples = scrape(addr).await;
        let got = samples.get(series).copied();
        if got == Some(expected) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series}: expected {expected}, got {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_count_connections_presence_messages_errors_and_auth_failures() {
    let server = common::start(pusher_support::config(settings())).await;
    let addr = server.addr;
    let before = scrape(addr).await;
    assert_eq!(value(&before, r#"rollcall_joins_total{app="dev"}"#), 0.0);
    assert_eq!(
        value(
            &before,
            r#"rollcall_connections{app="dev",protocol="native"}"#
        ),
        0.0
    );
    assert!(
        before
            .keys()
            .any(|k| k.starts_with("rollcall_build_info{version="))
    );

    let mut ann = Client::anon(&server, "ann").await;
    let mut bob = Client::anon(&server, "bob").await;
    ann.join("room", json!({"name": "Ann"})).await;
    bob.join("room", json!({})).await;
    let _ = ann.expect("join").await;
    ann.ok(
        3,
        json!({"op": "publish", "channel": "room", "data": {"text": "hi"}, "echo": false}),
    )
    .await;
    let _ = bob.expect("message").await;
    ann.send_text("{").await;
    let error = ann.recv().await;
    assert_eq!(error["code"], "invalid_json");

    let mut pusher = PusherClient::connect(addr).await;
    let bad_auth = format!("{}:{}", pusher_support::KEY, "0".repeat(64));
    pusher
        .send(json!({"event": "pusher:subscribe",
                     "data": {"auth": bad_auth, "channel": "private-x"}}))
        .await;
    let _ = pusher.expect("pusher:error").await;
    let target = signed_target("GET", "/apps/123/channels", &[], "", false, false);
    let (status, _) = http(addr, "GET", &target, "").await;
    assert_eq!(status, 401);

    let after = scrape(addr).await;
    let get = |series: &str| value(&after, series);
    assert_eq!(
        get(r#"rollcall_connections{app="dev",protocol="native"}"#),
        2.0
    );
    assert_eq!(
        get(r#"rollcall_connections{app="123",protocol="pusher"}"#),
        1.0
    );
    assert_eq!(
        get(r#"rollcall_connections_opened_total{app="dev",protocol="native"}"#),
        2.0
    );
    assert_eq!(get(r#"rollcall_joins_total{app="dev"}"#), 2.0);
    assert_eq!(get(r#"rollcall_channels{app="dev"}"#), 1.0);
    assert_eq!(get(r#"rollcall_members{app="dev"}"#), 2.0);
    // Two joins, one publish, one unreadable frame.
    assert_eq!(
        get(r#"rollcall_messages_in_total{app="dev",protocol="native"}"#),
        4.0
    );
    assert!(get(r#"rollcall_message_bytes_in_total{app="dev",protocol="native"}"#) > 50.0);
    assert!(get(r#"rollcall_messages_out_total{app="dev",protocol="native"}"#) >= 6.0);
    assert!(get(r#"rollcall_message_bytes_out_total{app="dev",protocol="native"}"#) > 100.0);
    assert!(
        get(r#"rollcall_queue_delay_seconds_count{app="dev",protocol="native"}"#) >= 2.0,
        "one sample per write batch"
    );
    assert_eq!(
        get(r#"rollcall_errors_total{protocol="native",code="invalid_json"}"#),
        1.0
    );
    assert_eq!(
        get(r#"rollcall_auth_failures_total{app="123",protocol="pusher"}"#),
        1.0
    );
    assert_eq!(
        get(r#"rollcall_auth_failures_total{app="123",protocol="http"}"#),
        1.0
    );
    assert_eq!(
        get(r#"rollcall_auth_failures_total{app="dev",protocol="native"}"#),
        0.0
    );
    // No series is labelled with a channel or a client.
    assert!(
        after
            .keys()
            .all(|k| !k.contains(r#""room""#) && !k.contains(r#""ann""#))
    );

    drop(bob);
    eventually(addr, r#"rollcall_leaves_total{app="dev"}"#, 1.0).await;
    eventually(
        addr,
        r#"rollcall_connections{app="dev",protocol="native"}"#,
        1.0,
    )
    .await;
    eventually(addr, r#"rollcall_members{app="dev"}"#, 1.0).await;
}

#[tokio::test]
async fn refused_tokens_count_as_auth_failures_of_their_app() {
    let server = common::start_default().await;
    let mut refused =
        Client::unopened(common::connect_raw(&server, "app=secure-key&token=not-a-token").await);
    assert_eq!(refused.recv().await["code"], "invalid_token");
    let samples = scrape(server.addr).await;
    assert_eq!(
        value(
            &samples,
            r#"rollcall_auth_failures_total{app="secure",protocol="native"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            r#"rollcall_errors_total{protocol="native",code="invalid_token"}"#
        ),
        1.0
    );
}

/// A server whose shutdown the test triggers.
async fn start_stoppable(
    config: rollcall_server::config::Config,
) -> (SocketAddr, oneshot::Sender<()>) {
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

#[tokio::test]
async fn readyz_is_ready_while_serving_and_503_once_draining() {
    let (addr, stop) = start_stoppable(common::config()).await;
    let (status, body) = http(addr, "GET", "/readyz", "").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));

    // A request already being received when shutdown begins is still answered: it sees the
    // server draining.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nhost: test\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream
        .write_all(b"connection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tokio::time::timeout(common::PATIENCE, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.ends_with("draining\n"), "{response}");
    // And the listener is closed: no new connections.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn pusher_clients_are_told_to_reconnect_with_4200_within_the_window() {
    let mut config = pusher_support::config(settings());
    config.shutdown.reconnect_window_ms = 300;
    let (addr, stop) = start_stoppable(config).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = PusherClient::connect(addr).await;
        client.subscribe_public("news").await;
        clients.push(client);
    }
    let started = tokio::time::Instant::now();
    stop.send(()).unwrap();
    for client in &mut clients {
        let error = client.expect("pusher:error").await;
        assert_eq!(error["data"]["code"], 4200, "{error}");
        let (code, _) = client.expect_close().await;
        assert_eq!(code, 4200);
    }
    // Spread over at most the window (300 ms), plus scheduling slack.
    assert!(started.elapsed() < Duration::from_secs(2));
}

//! Pusher user features over real WebSockets against a real server on port 0: watchlist events,
//! authorized connections, and the throttling of subscription counts on busy channels.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(unreachable_pub)]
mod common;
#[allow(unreachable_pub)]
mod pusher_support;

use std::time::Duration;

use common::{Client, start};
use pusher_support::{KEY, PusherClient, config, settings, sign};
use rollcall_server::config::PusherAppConfig;
use serde_json::{Value, json};

/// Signs in with `user_data` and returns the `pusher:signin_success` frame.
async fn signin(client: &mut PusherClient, user_data: &Value) -> Value {
    let user_data = user_data.to_string();
    let auth = format!(
        "{KEY}:{}",
        sign(&format!("{}::user::{user_data}", client.socket_id))
    );
    client
        .send(json!({"event": "pusher:signin", "data": {"auth": auth, "user_data": user_data}}))
        .await;
    let ok = client.expect("pusher:signin_success").await;
    assert_eq!(ok["data"]["user_data"], user_data);
    ok
}

/// The next frame, which must be `pusher_internal:watchlist_events`; returns its events.
async fn watchlist_events(client: &mut PusherClient) -> Value {
    let frame = client.expect("pusher_internal:watchlist_events").await;
    assert!(frame.get("channel").is_none(), "{frame}");
    frame["data"]["events"].clone()
}

#[tokio::test]
async fn a_watchlist_gets_the_current_status_then_first_online_and_last_offline() {
    let server = start(config(settings())).await;
    let mut carol = PusherClient::connect(server.addr).await;
    signin(&mut carol, &json!({"id": "carol"})).await;

    let mut ann = PusherClient::connect(server.addr).await;
    signin(
        &mut ann,
        &json!({"id": "ann", "watchlist": ["bob", "carol", "bob", 42]}),
    )
    .await;
    assert_eq!(
        watchlist_events(&mut ann).await,
        json!([{"name": "online", "user_ids": ["carol"]},
               {"name": "offline", "user_ids": ["bob", "42"]}])
    );

    // Bob's first connection brings him online; his second changes nothing.
    let mut bob1 = PusherClient::connect(server.addr).await;
    signin(&mut bob1, &json!({"id": "bob"})).await;
    assert_eq!(
        watchlist_events(&mut ann).await,
        json!([{"name": "online", "user_ids": ["bob"]}])
    );
    let mut bob2 = PusherClient::connect(server.addr).await;
    signin(&mut bob2, &json!({"id": "bob"})).await;
    ann.expect_silence(Duration::from_millis(200)).await;

    // Only his last connection going takes him offline.
    drop(bob1);
    ann.expect_silence(Duration::from_millis(300)).await;
    bob2.send(json!({"event": "pusher:ping", "data": {}})).await;
    bob2.expect("pusher:pong").await;
    drop(bob2);
    assert_eq!(
        watchlist_events(&mut ann).await,
        json!([{"name": "offline", "user_ids": ["bob"]}])
    );

    // A numeric id in a watchlist is the same user as its string form.
    let mut answer = PusherClient::connect(server.addr).await;
    signin(&mut answer, &json!({"id": "42"})).await;
    assert_eq!(
        watchlist_events(&mut ann).await,
        json!([{"name": "online", "user_ids": ["42"]}])
    );
    // Nobody watches ann: her leaving is silent for the others.
    drop(ann);
    carol.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_watchlist_over_the_limit_keeps_its_first_ids_and_gets_4302() {
    let server = start(config(PusherAppConfig {
        max_watchlist_size: 2,
        ..settings()
    }))
    .await;
    let mut ann = PusherClient::connect(server.addr).await;
    signin(
        &mut ann,
        &json!({"id": "ann", "watchlist": ["x", "y", "z"]}),
    )
    .await;
    assert_eq!(
        watchlist_events(&mut ann).await,
        json!([{"name": "offline", "user_ids": ["x", "y"]}])
    );
    let error = ann.expect("pusher:error").await;
    assert_eq!(error["data"]["code"], 4302);

    // The connection stays signed in; z was not watched, y was.
    let mut z = PusherClient::connect(server.addr).await;
    signin(&mut z, &json!({"id": "z"})).await;
    ann.expect_silence(Duration::from_millis(200)).await;
    let mut y = PusherClient::connect(server.addr).await;
    signin(&mut y, &json!({"id": "y"})).await;
    assert_eq!(
        watchlist_events(&mut ann).await,
        json!([{"name": "online", "user_ids": ["y"]}])
    );
}

#[tokio::test]
async fn signing_in_again_replaces_the_watchlist_and_bad_watchlists_are_refused() {
    let server = start(config(settings())).await;
    let mut ann = PusherClient::connect(server.addr).await;
    signin(&mut ann, &json!({"id": "ann", "watchlist": ["x"]})).await;
    watchlist_events(&mut ann).await;
    signin(&mut ann, &json!({"id": "ann", "watchlist": ["y"]})).await;
    assert_eq!(
        watchlist_events(&mut ann).await,
        json!([{"name": "offline", "user_ids": ["y"]}])
    );
    let mut x = PusherClient::connect(server.addr).await;
    signin(&mut x, &json!({"id": "x"})).await;
    ann.expect_silence(Duration::from_millis(200)).await;

    // A watchlist that is not an array makes the user_data invalid.
    let mut bad = PusherClient::connect(server.addr).await;
    let user_data = json!({"id": "bad", "watchlist": "x"}).to_string();
    let auth = format!(
        "{KEY}:{}",
        sign(&format!("{}::user::{user_data}", bad.socket_id))
    );
    bad.send(json!({"event": "pusher:signin", "data": {"auth": auth, "user_data": user_data}}))
        .await;
    let error = bad.expect("pusher:error").await;
    assert!(
        error["data"]["message"]
            .as_str()
            .unwrap()
            .contains("watchlist"),
        "{error}"
    );
}

#[tokio::test]
async fn watchlist_events_can_be_turned_off() {
    let server = start(config(PusherAppConfig {
        enable_watchlist_events: false,
        ..settings()
    }))
    .await;
    let mut ann = PusherClient::connect(server.addr).await;
    signin(&mut ann, &json!({"id": "ann", "watchlist": ["bob"]})).await;
    let mut bob = PusherClient::connect(server.addr).await;
    signin(&mut bob, &json!({"id": "bob"})).await;
    ann.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn authorized_connections_close_sockets_that_do_not_authorize_in_time() {
    let server = start(config(PusherAppConfig {
        enable_authorized_connections: true,
        authorized_connection_timeout_ms: 300,
        ..settings()
    }))
    .await;
    // A public subscription does not authorize a connection.
    let mut idle = PusherClient::connect(server.addr).await;
    idle.subscribe_public("lobby").await;
    let error = idle.expect("pusher:error").await;
    assert_eq!(
        error["data"],
        json!({"code": 4009, "message": "Connection not authorized within timeout."})
    );
    assert_eq!(idle.expect_close().await.0, 4009);

    // Signing in does, and so does a private subscription.
    let mut signed = PusherClient::connect(server.addr).await;
    signin(&mut signed, &json!({"id": "ann"})).await;
    let mut private = PusherClient::connect(server.addr).await;
    private.subscribe_private("private-room").await;
    for client in [&mut signed, &mut private] {
        client.expect_silence(Duration::from_millis(500)).await;
        client
            .send(json!({"event": "pusher:ping", "data": {}}))
            .await;
        client.expect("pusher:pong").await;
    }
}

#[tokio::test]
async fn subscription_counts_of_busy_channels_are_throttled_without_losing_the_last() {
    let server = start(config(PusherAppConfig {
        enable_subscription_count: true,
        subscription_count_throttle_above: 2,
        subscription_count_interval_ms: 800,
        ..settings()
    }))
    .await;
    let count = |frame: Value| frame["data"]["subscription_count"].clone();
    let mut pusher = PusherClient::connect(server.addr).await;
    pusher.subscribe_public("hot").await;
    assert_eq!(
        count(pusher.expect("pusher_internal:subscription_count").await),
        1
    );
    let mut natives = Vec::new();
    for n in 0..3 {
        let mut native = Client::connect(&server, &format!("app={KEY}&client_id=n{n}")).await;
        native.ok(1, json!({"op": "watch", "channel": "hot"})).await;
        natives.push(native);
    }
    // 2 is at the threshold: sent at once. 3 and 4 come within the interval: only the count
    // as it is when the interval ends goes out.
    assert_eq!(
        count(pusher.expect("pusher_internal:subscription_count").await),
        2
    );
    assert_eq!(
        count(pusher.expect("pusher_internal:subscription_count").await),
        4
    );
    pusher.expect_silence(Duration::from_millis(300)).await;

    // Back at the threshold, a count goes out at once again.
    natives.pop();
    natives.pop();
    let mut seen = Vec::new();
    while seen.last() != Some(&json!(2)) {
        seen.push(count(
            pusher.expect("pusher_internal:subscription_count").await,
        ));
    }
    assert!(seen.len() <= 2, "at most the held-back 3, then 2: {seen:?}");
}

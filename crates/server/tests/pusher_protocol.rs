//! The Pusher protocol's edge cases over real WebSockets against a real server on port 0:
//! refusals and their close codes, signatures, presence ref-counting, client-event limits,
//! timers, the HTTP API's signatures, and one presence set shared with the native protocol.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(unreachable_pub)]
mod common;
#[allow(unreachable_pub)]
mod pusher_support;

use std::time::Duration;

use common::{Client, start};
use pusher_support::{KEY, PusherClient, config, http, settings, sign, signed_target};
use rollcall_server::config::PusherAppConfig;
use serde_json::json;

#[tokio::test]
async fn an_unknown_app_key_gets_error_4001_then_close_4001() {
    let server = start(config(settings())).await;
    let ws = PusherClient::open(server.addr, "nope", "protocol=7").await;
    let mut client = PusherClient {
        ws,
        socket_id: String::new(),
        activity_timeout: 0,
    };
    let error = client.expect("pusher:error").await;
    assert_eq!(error["data"]["code"], 4001);
    assert!(error["data"]["message"].as_str().unwrap().contains("nope"));
    assert_eq!(client.expect_close().await.0, 4001);
}

#[tokio::test]
async fn unsupported_protocol_versions_are_refused_with_4007() {
    let server = start(config(settings())).await;
    for (query, code) in [("protocol=4", 4007), ("protocol=x", 4006)] {
        let ws = PusherClient::open(server.addr, KEY, query).await;
        let mut client = PusherClient {
            ws,
            socket_id: String::new(),
            activity_timeout: 0,
        };
        assert_eq!(client.expect("pusher:error").await["data"]["code"], code);
        assert_eq!(client.expect_close().await.0, code);
    }
}

#[tokio::test]
async fn the_handshake_carries_a_pusher_socket_id_and_an_activity_timeout() {
    let server = start(config(settings())).await;
    let client = PusherClient::connect(server.addr).await;
    let (node, seq) = client.socket_id.split_once('.').unwrap();
    assert!(node.bytes().all(|b| b.is_ascii_digit()) && seq.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(client.activity_timeout, 120);
}

#[tokio::test]
async fn a_bad_signature_gets_the_pusher_error_real_pusher_sends() {
    let server = start(config(settings())).await;
    let mut client = PusherClient::connect(server.addr).await;
    let auth = format!("{KEY}:{}", sign("someone-else:private-x"));
    client
        .send(json!({"event": "pusher:subscribe", "data": {"auth": auth, "channel": "private-x"}}))
        .await;
    let error = client.expect("pusher:error").await;
    assert_eq!(error["data"]["code"], serde_json::Value::Null);
    let expected = format!(
        "Invalid signature: Expected HMAC SHA256 hex digest of {}:private-x, but got {}",
        client.socket_id,
        auth.split_once(':').unwrap().1
    );
    assert_eq!(error["data"]["message"], expected);
    let refused = client.expect("pusher:subscription_error").await;
    assert_eq!(refused["channel"], "private-x");
    assert_eq!(refused["data"]["type"], "AuthError");
    assert_eq!(refused["data"]["status"], 401);
    // Nothing was subscribed: a client event there is refused.
    client
        .send(json!({"event": "client-x", "channel": "private-x", "data": {}}))
        .await;
    let error = client.expect("pusher:error").await;
    assert!(
        error["data"]["message"]
            .as_str()
            .unwrap()
            .contains("not subscribed")
    );
}

#[tokio::test]
async fn presence_signatures_cover_the_exact_channel_data_bytes() {
    let server = start(config(settings())).await;
    let mut client = PusherClient::connect(server.addr).await;
    // Python's json.dumps puts spaces after separators: those bytes are what was signed.
    let data = r#"{"user_id": "u1", "user_info": {"name": "A"}}"#;
    let frame = client.subscribe_presence("presence-py", data).await;
    assert_eq!(frame["event"], "pusher_internal:subscription_succeeded");
    assert_eq!(
        frame["data"],
        json!({"presence": {"ids": ["u1"], "hash": {"u1": {"name": "A"}}, "count": 1}})
    );
}

#[tokio::test]
async fn member_events_are_ref_counted_per_user_id() {
    let server = start(config(settings())).await;
    let mut watcher = PusherClient::connect(server.addr).await;
    watcher.join("presence-room", "w", json!({})).await;

    let mut tab1 = PusherClient::connect(server.addr).await;
    let presence = tab1.join("presence-room", "ann", json!({"tab": 1})).await;
    assert_eq!(presence["count"], 2);
    let added = watcher.expect("pusher_internal:member_added").await;
    assert_eq!(
        added["data"],
        json!({"user_id": "ann", "user_info": {"tab": 1}})
    );

    let mut tab2 = PusherClient::connect(server.addr).await;
    let presence = tab2.join("presence-room", "ann", json!({"tab": 2})).await;
    assert_eq!(presence["count"], 2);
    assert_eq!(
        presence["hash"]["ann"],
        json!({"tab": 1}),
        "first user_info wins"
    );
    watcher.expect_silence(Duration::from_millis(300)).await;

    drop(tab1);
    watcher.expect_silence(Duration::from_millis(300)).await;
    tab2.send(json!({"event": "pusher:unsubscribe", "data": {"channel": "presence-room"}}))
        .await;
    let removed = watcher.expect("pusher_internal:member_removed").await;
    assert_eq!(removed["data"], json!({"user_id": "ann"}));
}

#[tokio::test]
async fn numeric_user_ids_and_non_object_user_info_round_trip() {
    let server = start(config(settings())).await;
    let mut laravel = PusherClient::connect(server.addr).await;
    let frame = laravel
        .subscribe_presence("presence-l", r#"{"user_id":3559,"user_info":true}"#)
        .await;
    assert_eq!(
        frame["data"]["presence"],
        json!({"ids": ["3559"], "hash": {"3559": true}, "count": 1})
    );
    // Native clients see an object: the value under `pusher_user_info`.
    let mut native = Client::connect(&server, &format!("app={KEY}&client_id=n")).await;
    let snapshot = native
        .ok(1, json!({"op": "members", "channel": "presence-l"}))
        .await;
    assert_eq!(snapshot["members"][0]["client_id"], "3559");
    assert_eq!(
        snapshot["members"][0]["data"],
        json!({"pusher_user_info": true})
    );
}

#[tokio::test]
async fn client_events_over_the_rate_limit_get_4301_and_the_socket_stays_open() {
    let server = start(config(PusherAppConfig {
        max_client_events_per_second: 3,
        ..settings()
    }))
    .await;
    let mut ann = PusherClient::connect(server.addr).await;
    let mut bob = PusherClient::connect(server.addr).await;
    ann.subscribe_private("private-burst").await;
    bob.subscribe_private("private-burst").await;
    for i in 0..5 {
        ann.send(json!({"event": "client-n", "channel": "private-burst", "data": {"i": i}}))
            .await;
    }
    for i in 0..3 {
        let event = bob.expect("client-n").await;
        assert_eq!(event["data"], json!({"i": i}));
        assert!(
            event.get("user_id").is_none(),
            "no user_id off presence channels"
        );
    }
    for _ in 0..2 {
        let error = ann.expect("pusher:error").await;
        assert_eq!(error["data"]["code"], 4301);
    }
    bob.expect_silence(Duration::from_millis(200)).await;
    ann.send(json!({"event": "pusher:ping", "data": {}})).await;
    ann.expect("pusher:pong").await;
}

#[tokio::test]
async fn client_events_need_the_app_flag() {
    let server = start(config(PusherAppConfig::default())).await;
    let mut ann = PusherClient::connect(server.addr).await;
    ann.subscribe_private("private-x").await;
    ann.send(json!({"event": "client-n", "channel": "private-x", "data": {}}))
        .await;
    let error = ann.expect("pusher:error").await;
    assert!(
        error["data"]["message"]
            .as_str()
            .unwrap()
            .contains("enable")
    );
}

#[tokio::test]
async fn a_silent_client_is_pinged_then_closed_with_4201() {
    let mut config = config(settings());
    config.pusher.activity_timeout_s = 1;
    config.pusher.pong_timeout_ms = 300;
    let server = start(config).await;
    let mut client = PusherClient::connect(server.addr).await;
    assert_eq!(client.activity_timeout, 1);
    client.expect("pusher:ping").await;
    // Answering keeps the connection: the next ping comes a full activity timeout later.
    client
        .send(json!({"event": "pusher:pong", "data": {}}))
        .await;
    client.expect("pusher:ping").await;
    let error = client.expect("pusher:error").await;
    assert_eq!(error["data"]["code"], 4201);
    assert_eq!(client.expect_close().await.0, 4201);
}

#[tokio::test]
async fn one_presence_set_two_protocols() {
    let server = start(config(settings())).await;
    let mut native = Client::connect(&server, &format!("app={KEY}&client_id=nat")).await;
    native
        .ok(
            1,
            json!({"op": "join", "channel": "presence-both", "data": {"name": "Nat"}}),
        )
        .await;

    // Pusher sees the native member, and itself.
    let mut pusher = PusherClient::connect(server.addr).await;
    let presence = pusher
        .join("presence-both", "pu", json!({"name": "Pu"}))
        .await;
    assert_eq!(
        presence,
        json!({"ids": ["nat", "pu"], "hash": {"nat": {"name": "Nat"}, "pu": {"name": "Pu"}}, "count": 2})
    );
    // Native sees the Pusher member join, with its user_info as data.
    let joined = native.expect("join").await;
    assert_eq!(joined["client_id"], "pu");
    assert_eq!(joined["member"]["data"], json!({"name": "Pu"}));

    // A second native device is an `update` natively and nothing for Pusher.
    let mut phone = Client::connect(&server, &format!("app={KEY}&client_id=nat")).await;
    phone
        .ok(1, json!({"op": "join", "channel": "presence-both"}))
        .await;
    assert_eq!(native.expect("update").await["reason"], "connection_added");
    pusher.expect_silence(Duration::from_millis(200)).await;

    // A Pusher client event reaches native as a message with the event envelope.
    pusher
        .send(json!({"event": "client-wave", "channel": "presence-both", "data": {"hi": 1}}))
        .await;
    let message = native.expect("message").await;
    assert_eq!(message["client_id"], "pu");
    assert_eq!(message["connection_id"], pusher.socket_id);
    assert_eq!(
        message["data"],
        json!({"event": "client-wave", "data": {"hi": 1}})
    );

    // A native publish in that shape is a Pusher event; other payloads are `message`.
    native
        .ok(
            2,
            json!({"op": "publish", "channel": "presence-both",
                      "echo": false, "data": {"event": "client-typing", "data": {"on": true}}}),
        )
        .await;
    let event = pusher.expect("client-typing").await;
    assert_eq!(event["data"], json!({"on": true}));
    assert_eq!(event["user_id"], "nat");
    native
        .ok(
            3,
            json!({"op": "publish", "channel": "presence-both", "echo": false, "data": [1, 2]}),
        )
        .await;
    assert_eq!(pusher.expect("message").await["data"], json!([1, 2]));

    // The native member leaves only when its last device does.
    drop(phone);
    pusher.expect_silence(Duration::from_millis(200)).await;
    assert_eq!(
        native.expect("update").await["reason"],
        "connection_removed"
    );
    native
        .ok(4, json!({"op": "leave", "channel": "presence-both"}))
        .await;
    let removed = pusher.expect("pusher_internal:member_removed").await;
    assert_eq!(removed["data"], json!({"user_id": "nat"}));
}

#[tokio::test]
async fn api_triggers_reach_both_protocols() {
    let server = start(config(settings())).await;
    let mut native = Client::connect(&server, &format!("app={KEY}&client_id=nat")).await;
    native
        .ok(1, json!({"op": "watch", "channel": "news"}))
        .await;
    let mut pusher = PusherClient::connect(server.addr).await;
    pusher.subscribe_public("news").await;

    let body = r#"{"name":"headline","channels":["news"],"data":"{\"t\":1}"}"#;
    let target = signed_target("POST", "/apps/123/events", &[], body, true, true);
    let (status, answer) = http(server.addr, "POST", &target, body).await;
    assert_eq!((status, answer.as_str()), (200, "{}"));

    let event = pusher.expect("headline").await;
    assert_eq!(event["data"], json!({"t": 1}));
    let message = native.expect("message").await;
    assert_eq!(message["client_id"], serde_json::Value::Null);
    assert_eq!(message["connection_id"], "0.0");
    assert_eq!(
        message["data"],
        json!({"event": "headline", "data": "{\"t\":1}"})
    );
}

#[tokio::test]
async fn api_signatures_are_checked() {
    let server = start(config(settings())).await;
    let body = r#"{"name":"e","channel":"c","data":"1"}"#;

    let target = signed_target("POST", "/apps/123/events", &[], body, true, false);
    let (status, answer) = http(server.addr, "POST", &target, body).await;
    assert_eq!(status, 401);
    assert!(answer.starts_with("Invalid signature: you should have sent HmacSHA256Hex(\"POST\\n/apps/123/events\\nauth_key="), "{answer}");

    let target = signed_target("POST", "/apps/123/events", &[], "{}", true, true);
    let (status, answer) = http(server.addr, "POST", &target, body).await;
    assert_eq!(status, 401, "a body_md5 of another body: {answer}");

    let target = signed_target("POST", "/apps/123/events", &[], body, false, true);
    assert_eq!(
        http(server.addr, "POST", &target, body).await.0,
        401,
        "no body_md5"
    );

    // GET with body_md5 of the empty body, as the Python SDK sends.
    let target = signed_target(
        "GET",
        "/apps/123/channels",
        &[("filter_by_prefix", "presence-")],
        "",
        true,
        true,
    );
    let (status, answer) = http(server.addr, "GET", &target, "").await;
    assert_eq!((status, answer.as_str()), (200, r#"{"channels":{}}"#));

    let target = signed_target("GET", "/apps/999/channels", &[], "", false, true);
    assert_eq!(http(server.addr, "GET", &target, "").await.0, 404);

    let stale = format!("auth_timestamp={}", pusher_support::now_s() - 700);
    let target = signed_target("GET", "/apps/123/channels", &[], "", false, true);
    let fresh = target
        .split('&')
        .find(|p| p.starts_with("auth_timestamp"))
        .unwrap()
        .to_owned();
    let (status, answer) = http(server.addr, "GET", &target.replace(&fresh, &stale), "").await;
    assert_eq!(status, 401);
    assert!(answer.contains("Timestamp expired"), "{answer}");
}

#[tokio::test]
async fn terminating_a_user_closes_its_connections_with_4009() {
    let server = start(config(settings())).await;
    let mut client = PusherClient::connect(server.addr).await;
    let user_data = r#"{"id":"doomed"}"#;
    let auth = format!(
        "{KEY}:{}",
        sign(&format!("{}::user::{user_data}", client.socket_id))
    );
    client
        .send(json!({"event": "pusher:signin", "data": {"auth": auth, "user_data": user_data}}))
        .await;
    let ok = client.expect("pusher:signin_success").await;
    assert_eq!(ok["data"]["user_data"], user_data);

    let target = signed_target(
        "POST",
        "/users/doomed/terminate_connections",
        &[],
        "{}",
        true,
        true,
    );
    let (status, _) = http(server.addr, "POST", &target, "{}").await;
    assert_eq!(status, 200);
    assert_eq!(client.expect("pusher:error").await["data"]["code"], 4009);
    assert_eq!(client.expect_close().await.0, 4009);
    // After the close handshake the server ends the TCP connection.
    let end = tokio::time::timeout(
        pusher_support::PATIENCE,
        futures_util::StreamExt::next(&mut client.ws),
    )
    .await;
    assert!(matches!(end, Ok(None | Some(Err(_)))), "{end:?}");
}

#[tokio::test]
async fn subscription_counts_go_to_pusher_subscribers_of_non_presence_channels() {
    let server = start(config(PusherAppConfig {
        enable_subscription_count: true,
        ..settings()
    }))
    .await;
    let mut first = PusherClient::connect(server.addr).await;
    first.subscribe_public("counted").await;
    assert_eq!(
        first.expect("pusher_internal:subscription_count").await["data"],
        json!({"subscription_count": 1})
    );
    let mut native = Client::connect(&server, &format!("app={KEY}&client_id=n")).await;
    native
        .ok(1, json!({"op": "watch", "channel": "counted"}))
        .await;
    assert_eq!(
        first.expect("pusher_internal:subscription_count").await["data"],
        json!({"subscription_count": 2})
    );
    native
        .ok(2, json!({"op": "leave", "channel": "counted"}))
        .await;
    assert_eq!(
        first.expect("pusher_internal:subscription_count").await["data"],
        json!({"subscription_count": 1})
    );
    // Never on presence channels, which have member events instead.
    first.join("presence-uncounted", "u", json!({})).await;
    first.expect_silence(Duration::from_millis(200)).await;
}

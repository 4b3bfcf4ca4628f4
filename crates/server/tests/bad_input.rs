//! Every kind of bad input a client can send, one test each: the documented error `code`, the
//! request id echoed when the frame had a readable one, and what happens to the connection
//! afterwards (still usable, or closed with the documented close code). A few tests also check
//! that another client in the same channel is not disturbed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// The harness's items are `pub` for every test crate that shares it.
#[allow(unreachable_pub)]
mod common;

use std::time::Duration;

use common::{
    Client, PATIENCE, TestServer, client_ids, config, connect_raw, start, start_default, token,
};
use futures_util::{SinkExt, StreamExt};
use rollcall_server::auth::{TokenClaims, mint_token};
use rollcall_server::config::Limits;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Starts a server with the test configuration and `limits` adjusted.
async fn start_with(adjust: impl FnOnce(&mut Limits)) -> TestServer {
    let mut config = config();
    adjust(&mut config.limits);
    start(config).await
}

/// Sends `text` as is and returns the next message, which must be an `error` without an `id`
/// (the frame had no readable id).
async fn anonymous_error(client: &mut Client, text: &str) -> String {
    client.send_text(text).await;
    let reply = client.expect("error").await;
    assert!(
        reply.get("id").is_none(),
        "an unreadable id must not be echoed: {reply}"
    );
    reply["code"].as_str().expect("code is a string").to_owned()
}

/// Sends `text` as is and returns the next message, which must be an `error` echoing `id`.
async fn error_with_id(client: &mut Client, text: &str, id: &Value) -> String {
    client.send_text(text).await;
    let reply = client.expect("error").await;
    assert_eq!(&reply["id"], id, "the request id is echoed: {reply}");
    reply["code"].as_str().expect("code is a string").to_owned()
}

/// Asserts the connection is still open and answering requests.
async fn assert_usable(client: &mut Client) {
    let pong = client.request(4242, json!({"op": "ping"})).await;
    assert_eq!(pong["type"], "pong", "a ping after bad input: {pong}");
}

/// A `bystander` and then `bad` (client id `bad`) both joined to `room`; the bystander has read
/// the `join` of `bad`.
async fn room_with_bystander(server: &TestServer) -> (Client, Client) {
    let mut bystander = Client::anon(server, "bystander").await;
    bystander.join("room", json!({})).await;
    let mut bad = Client::anon(server, "bad").await;
    bad.join("room", json!({})).await;
    let joined = bystander.expect("join").await;
    assert_eq!(joined["client_id"], "bad");
    (bad, bystander)
}

/// `speaker` publishes `text` to `room`; the very next thing `bystander` receives is that
/// message (so nothing else, such as a leave, came before it).
async fn assert_bystander_hears(bystander: &mut Client, speaker: &mut Client, text: &str) {
    speaker
        .ok(
            4343,
            json!({"op": "publish", "channel": "room", "data": text, "echo": false}),
        )
        .await;
    let message = bystander.expect("message").await;
    assert_eq!(message["data"], text);
    assert_eq!(message["client_id"], speaker.session["client_id"]);
}

/// Connects with `query`, which the server must refuse: returns the `error` code (the first and
/// only message) and the close code that follows it.
async fn refused(server: &TestServer, query: &str) -> (String, u16) {
    let ws = connect_raw(server, query).await;
    let mut client = Client::unopened(ws);
    let error = client.recv().await;
    assert_eq!(
        error["type"], "error",
        "a refusal starts with an error: {error}"
    );
    assert!(error.get("id").is_none(), "{error}");
    let code = error["code"].as_str().expect("code is a string").to_owned();
    let (close, _reason) = client
        .expect_close()
        .await
        .expect("a close frame with a code follows the error");
    (code, close)
}

/// Closes `client` and waits until the server has finished the close handshake.
async fn disconnect(mut client: Client) {
    client.ws.close(None).await.expect("close sent");
    while let Ok(Some(Ok(_))) = tokio::time::timeout(PATIENCE, client.ws.next()).await {}
}

// ---------------------------------------------------------------------------------------------
// Frames that do not decode
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_is_invalid_json_and_the_connection_stays_open() {
    let server = start_default().await;
    let (mut bad, mut bystander) = room_with_bystander(&server).await;
    for text in [r#"{"op":"ping","#, "{nope", "", r#"{"op":"ping","id":1}}"#] {
        assert_eq!(
            anonymous_error(&mut bad, text).await,
            "invalid_json",
            "{text:?}"
        );
    }
    assert_usable(&mut bad).await;
    assert_bystander_hears(&mut bystander, &mut bad, "after invalid json").await;
}

#[tokio::test]
async fn a_frame_that_is_not_an_object_is_invalid_message() {
    let server = start_default().await;
    let mut client = Client::anon(&server, "ann").await;
    for text in [
        "[1]",
        r#""x""#,
        "3",
        "null",
        "true",
        r#"[{"op":"ping","id":1}]"#,
    ] {
        assert_eq!(
            anonymous_error(&mut client, text).await,
            "invalid_message",
            "{text:?}"
        );
    }
    assert_usable(&mut client).await;
}

#[tokio::test]
async fn an_unknown_op_is_unknown_op_with_the_id_echoed() {
    let server = start_default().await;
    let (mut bad, mut bystander) = room_with_bystander(&server).await;
    let code = error_with_id(&mut bad, r#"{"op":"dance","id":5}"#, &json!(5)).await;
    assert_eq!(code, "unknown_op");
    let code = error_with_id(
        &mut bad,
        r#"{"op":"JOIN","id":"abc","channel":"x"}"#,
        &json!("abc"),
    )
    .await;
    assert_eq!(code, "unknown_op");
    let long_op = format!(r#"{{"op":"{}","id":6}}"#, "z".repeat(5000));
    assert_eq!(
        error_with_id(&mut bad, &long_op, &json!(6)).await,
        "unknown_op"
    );
    assert_usable(&mut bad).await;
    assert_bystander_hears(&mut bystander, &mut bad, "after unknown op").await;
}

#[tokio::test]
async fn a_missing_op_is_invalid_message() {
    let server = start_default().await;
    let mut client = Client::anon(&server, "ann").await;
    let code = error_with_id(&mut client, r#"{"id":3,"channel":"room"}"#, &json!(3)).await;
    assert_eq!(code, "invalid_message");
    assert_eq!(anonymous_error(&mut client, "{}").await, "invalid_message");
    assert_usable(&mut client).await;
}

#[tokio::test]
async fn an_op_that_is_not_a_string_is_invalid_message() {
    let server = start_default().await;
    let mut client = Client::anon(&server, "ann").await;
    for (n, op) in [
        json!(5),
        json!(null),
        json!(["join"]),
        json!({"op": "join"}),
    ]
    .into_iter()
    .enumerate()
    {
        let id = json!(n + 10);
        let text = json!({"op": op, "id": id, "channel": "room"}).to_string();
        assert_eq!(
            error_with_id(&mut client, &text, &id).await,
            "invalid_message",
            "{text}"
        );
    }
    assert_usable(&mut client).await;
}

#[tokio::test]
async fn a_join_without_a_channel_is_invalid_message() {
    let server = start_default().await;
    let mut client = Client::anon(&server, "ann").await;
    assert_eq!(
        client.err(1, json!({"op": "join"})).await,
        "invalid_message"
    );
    assert_eq!(
        client.err(2, json!({"op": "join", "data": {}})).await,
        "invalid_message"
    );
    // Nothing was joined: the same channel-less mistake did not leave a half-joined state.
    client.join("room", json!({})).await;
}

#[tokio::test]
async fn a_channel_that_is_not_a_string_is_invalid_message() {
    let server = start_default().await;
    let mut client = Client::anon(&server, "ann").await;
    for (id, channel) in [
        (1, json!(7)),
        (2, json!(null)),
        (3, json!(["room"])),
        (4, json!({})),
    ] {
        for op in ["join", "watch", "leave", "members"] {
            let code = client.err(id, json!({"op": op, "channel": channel})).await;
            assert_eq!(code, "invalid_message", "{op} with channel {channel}");
        }
    }
    assert_usable(&mut client).await;
}

#[tokio::test]
async fn a_publish_without_data_is_invalid_message() {
    let server = start_default().await;
    let (mut bad, mut bystander) = room_with_bystander(&server).await;
    let code = bad
        .err(1, json!({"op": "publish", "channel": "room"}))
        .await;
    assert_eq!(code, "invalid_message");
    let code = bad
        .err(2, json!({"op": "ephemeral", "channel": "room"}))
        .await;
    assert_eq!(code, "invalid_message");
    // Nothing reached the bystander: the next thing it hears is the valid publish.
    assert_bystander_hears(&mut bystander, &mut bad, "after publish without data").await;
}

#[tokio::test]
async fn an_update_needs_exactly_one_of_data_and_patch() {
    let server = start_default().await;
    let (mut bad, mut bystander) = room_with_bystander(&server).await;
    let both = json!({"op": "update", "channel": "room", "data": {"a": 1}, "patch": {"b": 2}});
    assert_eq!(bad.err(1, both).await, "invalid_message");
    let neither = json!({"op": "update", "channel": "room"});
    assert_eq!(bad.err(2, neither).await, "invalid_message");
    // The member data did not change, and no update event went out.
    let member = bad
        .ok(
            3,
            json!({"op": "members", "channel": "room", "client_id": "bad"}),
        )
        .await;
    assert_eq!(member["member"]["data"], json!({}));
    assert_bystander_hears(&mut bystander, &mut bad, "after bad update").await;
}

#[tokio::test]
async fn mistyped_fields_are_invalid_message() {
    let server = start_default().await;
    let mut client = Client::anon(&server, "ann").await;
    client.join("room", json!({})).await;
    let cases = [
        json!({"op": "invite_reply", "invitation_id": "inv_1", "accept": "yes"}),
        json!({"op": "invite_reply", "invitation_id": "inv_1"}),
        json!({"op": "invite_reply", "invitation_id": 12, "accept": true}),
        json!({"op": "invite_reply", "invitation_id": "", "accept": true}),
        json!({"op": "publish", "channel": "room", "data": 1, "echo": "no"}),
        json!({"op": "publish", "channel": "room", "data": 1, "message_id": 5}),
        json!({"op": "publish", "channel": "room", "data": 1, "message_id": "m".repeat(65)}),
        json!({"op": "members", "channel": "room", "client_id": 5}),
        json!({"op": "is_present", "channel": "room"}),
        json!({"op": "invite", "channel": "room"}),
    ];
    for (id, request) in (1..).zip(cases) {
        assert_eq!(
            client.err(id, request.clone()).await,
            "invalid_message",
            "{request}"
        );
    }
    assert_usable(&mut client).await;
}

#[tokio::test]
async fn an_unreadable_request_id_is_invalid_message_without_an_id() {
    let server = start_default().await;
    let mut client = Client::anon(&server, "ann").await;
    let long = "i".repeat(65);
    for id in [
        json!(-1),
        json!(1.5),
        json!({"n": 1}),
        json!([1]),
        json!(true),
        json!(long),
    ] {
        let text = json!({"op": "ping", "id": id}).to_string();
        assert_eq!(
            anonymous_error(&mut client, &text).await,
            "invalid_message",
            "id {id}"
        );
    }
    // The limits are inclusive: a 64-byte string id and the largest integer are echoed.
    let longest = "i".repeat(64);
    let pong = error_or_pong(&mut client, json!({"op": "ping", "id": longest})).await;
    assert_eq!(pong, json!({"type": "pong", "id": longest}));
    let pong = error_or_pong(&mut client, json!({"op": "ping", "id": u64::MAX})).await;
    assert_eq!(pong, json!({"type": "pong", "id": u64::MAX}));
}

/// Sends `request` and returns the next message.
async fn error_or_pong(client: &mut Client, request: Value) -> Value {
    client.send(request).await;
    client.recv().await
}

// ---------------------------------------------------------------------------------------------
// Channel names and client ids
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn invalid_channel_names_are_invalid_channel() {
    let server = start_default().await;
    let mut client = Client::anon(&server, "ann").await;
    let names = [
        String::new(),
        "c".repeat(201),
        "a b".into(),
        "a/b".into(),
        "caf\u{e9}".into(),
        "tab\there".into(),
        "room#1".into(),
    ];
    let mut id = 0;
    for name in &names {
        for op in ["join", "watch", "leave", "members"] {
            id += 1;
            let code = client.err(id, json!({"op": op, "channel": name})).await;
            assert_eq!(code, "invalid_channel", "{op} {name:?}");
        }
        id += 1;
        let publish = json!({"op": "publish", "channel": name, "data": 1});
        assert_eq!(client.err(id, publish).await, "invalid_channel", "{name:?}");
    }
    assert_usable(&mut client).await;
}

#[tokio::test]
async fn a_channel_name_of_200_bytes_with_every_allowed_character_is_accepted() {
    let server = start_default().await;
    let mut client = Client::anon(&server, "ann").await;
    let name = format!("{}-_=@,.;:", "c".repeat(192));
    assert_eq!(name.len(), 200);
    let snapshot = client.join(&name, json!({})).await;
    assert_eq!(snapshot["channel"], name.as_str());
    assert_eq!(client_ids(&snapshot["members"]), ["ann"]);
}

#[tokio::test]
async fn an_invalid_client_id_in_a_request_is_invalid_client_id() {
    let server = start_default().await;
    let mut client = Client::anon(&server, "ann").await;
    client.join("room", json!({})).await;
    let too_long = "u".repeat(129);
    let cases = [
        json!({"op": "is_present", "channel": "room", "client_id": ""}),
        json!({"op": "is_present", "channel": "room", "client_id": too_long}),
        json!({"op": "members", "channel": "room", "client_id": "bell\u{7}"}),
        json!({"op": "invite", "channel": "room", "client_id": "new\nline"}),
    ];
    for (id, request) in (1..).zip(cases) {
        assert_eq!(
            client.err(id, request.clone()).await,
            "invalid_client_id",
            "{request}"
        );
    }
    // 128 bytes is the limit, inclusive.
    let longest = "u".repeat(128);
    let present = client
        .ok(
            9,
            json!({"op": "is_present", "channel": "room", "client_id": longest}),
        )
        .await;
    assert_eq!(present["present"], false);
}

// ---------------------------------------------------------------------------------------------
// Member data and payload sizes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn member_data_that_is_not_an_object_is_invalid_data() {
    let server = start_default().await;
    let mut client = Client::anon(&server, "ann").await;
    for (id, data) in (1..).zip([json!([1]), json!("x"), json!(3), json!(true)]) {
        let code = client
            .err(id, json!({"op": "join", "channel": "room", "data": data}))
            .await;
        assert_eq!(code, "invalid_data", "join with {data}");
    }
    // The refused joins left nothing behind: joining now is a first join.
    let snapshot = client.join("room", json!({"a": 1})).await;
    assert_eq!(client_ids(&snapshot["members"]), ["ann"]);
    let code = client
        .err(10, json!({"op": "update", "channel": "room", "data": "x"}))
        .await;
    assert_eq!(code, "invalid_data");
    let code = client
        .err(11, json!({"op": "update", "channel": "room", "patch": [1]}))
        .await;
    assert_eq!(code, "invalid_data");
    let member = client
        .ok(
            12,
            json!({"op": "members", "channel": "room", "client_id": "ann"}),
        )
        .await;
    assert_eq!(member["member"]["data"], json!({"a": 1}));
}

/// Member data `{"x":"aaa…"}` whose serialized form is exactly `bytes` long.
fn data_of(bytes: usize) -> Value {
    let data = json!({"x": "a".repeat(bytes - 8)});
    assert_eq!(data.to_string().len(), bytes);
    data
}

#[tokio::test]
async fn member_data_over_the_limit_on_join_is_data_too_large() {
    let server = start_with(|l| l.max_member_data_bytes = 2048).await;
    let mut client = Client::anon(&server, "ann").await;
    let code = client
        .err(
            1,
            json!({"op": "join", "channel": "room", "data": data_of(2049)}),
        )
        .await;
    assert_eq!(code, "data_too_large");
    assert_usable(&mut client).await;
    // Exactly at the limit is accepted.
    let snapshot = client.join("room", data_of(2048)).await;
    assert_eq!(client_ids(&snapshot["members"]), ["ann"]);
}

#[tokio::test]
async fn member_data_over_the_limit_on_update_is_data_too_large() {
    let server = start_with(|l| l.max_member_data_bytes = 2048).await;
    let (mut bad, mut bystander) = room_with_bystander(&server).await;
    let code = bad
        .err(
            1,
            json!({"op": "update", "channel": "room", "data": data_of(2049)}),
        )
        .await;
    assert_eq!(code, "data_too_large");
    let member = bad
        .ok(
            2,
            json!({"op": "members", "channel": "room", "client_id": "bad"}),
        )
        .await;
    assert_eq!(member["member"]["data"], json!({}), "data unchanged");
    // No update event reached the bystander.
    assert_bystander_hears(&mut bystander, &mut bad, "after oversized update").await;
    let result = updated(
        &mut bad,
        3,
        json!({"op": "update", "channel": "room", "data": data_of(2048)}),
    )
    .await;
    assert_eq!(result["changed"], true);
    let event = bystander.expect("update").await;
    assert_eq!(event["member"]["data"], data_of(2048));
}

#[tokio::test]
async fn a_merge_patch_that_makes_member_data_too_large_is_data_too_large() {
    let server = start_with(|l| l.max_member_data_bytes = 2048).await;
    let mut client = Client::anon(&server, "ann").await;
    let original = json!({"a": "a".repeat(1500)});
    client.join("room", original.clone()).await;
    // The patch alone is small enough; the merged result is not.
    let patch = json!({"b": "b".repeat(1000)});
    let code = client
        .err(
            1,
            json!({"op": "update", "channel": "room", "patch": patch}),
        )
        .await;
    assert_eq!(code, "data_too_large");
    let member = client
        .ok(
            2,
            json!({"op": "members", "channel": "room", "client_id": "ann"}),
        )
        .await;
    assert_eq!(member["member"]["data"], original, "data unchanged");
    // A patch that shrinks it first is fine.
    let patch = json!({"a": null, "b": "b".repeat(1000)});
    let result = updated(
        &mut client,
        3,
        json!({"op": "update", "channel": "room", "patch": patch}),
    )
    .await;
    assert_eq!(result["changed"], true);
}

/// Sends an `update` that must succeed: the requester, a subscriber too, first gets the `update`
/// event and then the ack; returns the ack's result.
async fn updated(client: &mut Client, id: u64, mut request: Value) -> Value {
    request["id"] = json!(id);
    client.send(request).await;
    client.expect("update").await;
    let ack = client.expect("ack").await;
    assert_eq!(ack["id"], id);
    ack["result"].clone()
}

/// A JSON string payload whose serialized form is exactly `bytes` long.
fn payload_of(bytes: usize) -> Value {
    json!("p".repeat(bytes - 2))
}

#[tokio::test]
async fn a_publish_payload_over_the_limit_is_message_too_large() {
    let server = start_with(|l| l.max_message_bytes = 16384).await;
    let (mut bad, mut bystander) = room_with_bystander(&server).await;
    let code = bad
        .err(
            1,
            json!({"op": "publish", "channel": "room", "data": payload_of(16385)}),
        )
        .await;
    assert_eq!(code, "message_too_large");
    // Nothing was delivered; exactly at the limit is.
    bad.ok(
        2,
        json!({"op": "publish", "channel": "room", "data": payload_of(16384), "echo": false}),
    )
    .await;
    let message = bystander.expect("message").await;
    assert_eq!(message["data"], payload_of(16384));
}

#[tokio::test]
async fn sending_faster_than_the_rate_limit_is_rate_limited_and_recovers() {
    let server = start_with(|l| l.max_messages_per_second = 5).await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice.join("busy", json!({})).await;
    bob.join("busy", json!({})).await;
    let _ = alice.expect("join").await;

    // A burst of five passes; the sixth is refused and delivers nothing.
    for n in 0..5 {
        let publish =
            json!({"op": "publish", "id": n, "channel": "busy", "data": n, "echo": false});
        alice.send(publish).await;
        assert_eq!(alice.expect("ack").await["id"], n);
        assert_eq!(bob.expect("message").await["data"], n);
    }
    let code = alice
        .err(
            9,
            json!({"op": "ephemeral", "channel": "busy", "data": "too fast"}),
        )
        .await;
    assert_eq!(code, "rate_limited");
    assert_usable(&mut alice).await;

    // Tokens come back with time: 5 per second, so one after 200 ms.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    let publish =
        json!({"op": "publish", "id": 10, "channel": "busy", "data": "later", "echo": false});
    alice.send(publish).await;
    assert_eq!(alice.expect("ack").await["id"], 10);
    let message = bob.expect("message").await;
    assert_eq!(
        message["data"], "later",
        "the refused ephemeral was never delivered"
    );
}

#[tokio::test]
async fn an_ephemeral_payload_over_the_limit_is_message_too_large() {
    let server = start_with(|l| l.max_message_bytes = 16384).await;
    let (mut bad, mut bystander) = room_with_bystander(&server).await;
    let code = bad
        .err(
            1,
            json!({"op": "ephemeral", "channel": "room", "data": payload_of(16385)}),
        )
        .await;
    assert_eq!(code, "message_too_large");
    assert_bystander_hears(&mut bystander, &mut bad, "after oversized ephemeral").await;
}

// ---------------------------------------------------------------------------------------------
// Limits on channels and members
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_connection_over_its_channel_limit_gets_too_many_channels() {
    let server = start_with(|l| l.max_channels_per_connection = 3).await;
    let mut client = Client::anon(&server, "ann").await;
    client.join("a", json!({})).await;
    client.join("b", json!({})).await;
    client.ok(1, json!({"op": "watch", "channel": "c"})).await;
    let code = client.err(2, json!({"op": "join", "channel": "d"})).await;
    assert_eq!(code, "too_many_channels");
    let code = client.err(3, json!({"op": "watch", "channel": "d"})).await;
    assert_eq!(code, "too_many_channels");
    // The refused join did not enter presence.
    let present = client
        .ok(
            4,
            json!({"op": "is_present", "channel": "d", "client_id": "ann"}),
        )
        .await;
    assert_eq!(present["present"], false);
    // Leaving one makes room.
    client.ok(5, json!({"op": "leave", "channel": "a"})).await;
    let snapshot = client.join("d", json!({})).await;
    assert_eq!(client_ids(&snapshot["members"]), ["ann"]);
    let code = client.err(6, json!({"op": "watch", "channel": "a"})).await;
    assert_eq!(code, "too_many_channels");
}

#[tokio::test]
async fn a_full_channel_refuses_a_new_member_but_not_another_device() {
    let server = start_with(|l| l.max_members_per_channel = 2).await;
    let mut alice = Client::anon(&server, "alice").await;
    alice.join("room", json!({})).await;
    let mut bob = Client::anon(&server, "bob").await;
    bob.join("room", json!({})).await;
    alice.expect("join").await;

    let mut carol = Client::anon(&server, "carol").await;
    let code = carol.err(1, json!({"op": "join", "channel": "room"})).await;
    assert_eq!(code, "channel_full");
    assert_usable(&mut carol).await;

    // A second device of a member is not a new member.
    let mut alice_phone = Client::anon(&server, "alice").await;
    let snapshot = alice_phone.join("room", json!({})).await;
    assert_eq!(client_ids(&snapshot["members"]), ["alice", "bob"]);
    let update = bob.expect("update").await;
    assert_eq!(update["client_id"], "alice");
    assert_eq!(update["member"]["connections"].as_array().unwrap().len(), 2);

    // Once bob leaves there is room for carol.
    bob.ok(2, json!({"op": "leave", "channel": "room"})).await;
    let snapshot = carol.join("room", json!({})).await;
    assert_eq!(client_ids(&snapshot["members"]), ["alice", "carol"]);
}

// ---------------------------------------------------------------------------------------------
// Requests that do not fit the connection's state
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn joining_a_channel_twice_is_already_joined() {
    let server = start_default().await;
    let (mut bad, mut bystander) = room_with_bystander(&server).await;
    let code = bad.err(1, json!({"op": "join", "channel": "room"})).await;
    assert_eq!(code, "already_joined");
    let snapshot = bad.ok(2, json!({"op": "members", "channel": "room"})).await;
    let member = snapshot["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["client_id"] == "bad")
        .unwrap();
    assert_eq!(member["connections"].as_array().unwrap().len(), 1);
    // The bystander saw no second join nor update.
    assert_bystander_hears(&mut bystander, &mut bad, "after joining twice").await;
}

#[tokio::test]
async fn watching_twice_or_watching_a_joined_channel_is_already_subscribed() {
    let server = start_default().await;
    let mut client = Client::anon(&server, "ann").await;
    client
        .ok(1, json!({"op": "watch", "channel": "seen"}))
        .await;
    let code = client
        .err(2, json!({"op": "watch", "channel": "seen"}))
        .await;
    assert_eq!(code, "already_subscribed");
    client.join("room", json!({})).await;
    let code = client
        .err(3, json!({"op": "watch", "channel": "room"}))
        .await;
    assert_eq!(code, "already_subscribed");
    // Still joined and subscribed exactly once: leaving works once, then not again.
    client
        .ok(4, json!({"op": "leave", "channel": "room"}))
        .await;
    let code = client
        .err(5, json!({"op": "leave", "channel": "room"}))
        .await;
    assert_eq!(code, "not_subscribed");
}

#[tokio::test]
async fn leaving_a_channel_never_joined_is_not_subscribed() {
    let server = start_default().await;
    let mut client = Client::anon(&server, "ann").await;
    let code = client
        .err(1, json!({"op": "leave", "channel": "room"}))
        .await;
    assert_eq!(code, "not_subscribed");
    // Also when someone else is in it.
    let mut other = Client::anon(&server, "other").await;
    other.join("room", json!({})).await;
    let code = client
        .err(2, json!({"op": "leave", "channel": "room"}))
        .await;
    assert_eq!(code, "not_subscribed");
    other.expect_silence(Duration::from_millis(200)).await;
    assert_usable(&mut client).await;
}

#[tokio::test]
async fn updating_without_joining_is_not_joined() {
    let server = start_default().await;
    let mut client = Client::anon(&server, "ann").await;
    let update = json!({"op": "update", "channel": "room", "data": {"a": 1}});
    assert_eq!(client.err(1, update.clone()).await, "not_joined");
    // Watching is not joining.
    client
        .ok(2, json!({"op": "watch", "channel": "room"}))
        .await;
    assert_eq!(client.err(3, update).await, "not_joined");
    let patch = json!({"op": "update", "channel": "room", "patch": {"a": 1}});
    assert_eq!(client.err(4, patch).await, "not_joined");
    assert_usable(&mut client).await;
}

#[tokio::test]
async fn sending_to_an_unsubscribed_channel_is_not_subscribed() {
    let server = start_default().await;
    let mut listener = Client::anon(&server, "listener").await;
    listener.join("room", json!({})).await;
    let mut client = Client::anon(&server, "ann").await;
    let requests = [
        json!({"op": "publish", "channel": "room", "data": "hi"}),
        json!({"op": "ephemeral", "channel": "room", "data": "hi"}),
        json!({"op": "invite", "channel": "room", "client_id": "listener"}),
    ];
    for (id, request) in (1..).zip(requests) {
        assert_eq!(
            client.err(id, request.clone()).await,
            "not_subscribed",
            "{request}"
        );
    }
    // None of them reached the channel.
    listener.expect_silence(Duration::from_millis(200)).await;
    assert_usable(&mut client).await;
}

#[tokio::test]
async fn joining_without_a_client_id_is_identity_required() {
    let server = start_default().await;
    let mut client = Client::connect(&server, "app=dev-key").await;
    assert_eq!(client.session["client_id"], Value::Null);
    let code = client
        .err(1, json!({"op": "join", "channel": "room"}))
        .await;
    assert_eq!(code, "identity_required");
    // An anonymous connection may still watch.
    let snapshot = client
        .ok(2, json!({"op": "watch", "channel": "room"}))
        .await;
    assert_eq!(client_ids(&snapshot["members"]), Vec::<String>::new());
    let code = client
        .err(3, json!({"op": "join", "channel": "room"}))
        .await;
    assert_eq!(code, "identity_required");
}

// ---------------------------------------------------------------------------------------------
// WebSocket-level misuse
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_binary_frame_is_binary_not_supported_and_the_connection_stays_open() {
    let server = start_default().await;
    let (mut bad, mut bystander) = room_with_bystander(&server).await;
    let binary = Message::binary(br#"{"op":"ping","id":1}"#.to_vec());
    bad.ws.send(binary).await.unwrap();
    let error = bad.expect("error").await;
    assert_eq!(error["code"], "binary_not_supported");
    assert!(error.get("id").is_none(), "{error}");
    assert_usable(&mut bad).await;
    assert_bystander_hears(&mut bystander, &mut bad, "after a binary frame").await;
}

#[tokio::test]
async fn a_frame_over_the_size_limit_is_frame_too_large_then_close_1009() {
    let server = start_with(|l| l.max_frame_bytes = 4096).await;
    let (mut bad, mut bystander) = room_with_bystander(&server).await;
    // Just under the limit is fine.
    let under =
        json!({"op": "publish", "channel": "room", "data": "u".repeat(4000), "echo": false});
    assert!(under.to_string().len() < 4096);
    bad.ok(1, under).await;
    assert_eq!(
        bystander.expect("message").await["data"]
            .as_str()
            .unwrap()
            .len(),
        4000
    );

    let over = json!({"op": "publish", "channel": "room", "data": "o".repeat(5000), "id": 2});
    bad.send(over).await;
    let error = bad.expect("error").await;
    assert_eq!(error["code"], "frame_too_large");
    assert!(
        error.get("id").is_none(),
        "the oversized frame was never read: {error}"
    );
    let close = bad.expect_close().await.expect("a close frame");
    assert_eq!(close.0, 1009);

    // The bystander sees the closed connection leave, and nothing of the oversized frame.
    let left = bystander.expect("leave").await;
    assert_eq!(left["client_id"], "bad");
    let mut other = Client::anon(&server, "other").await;
    other.join("room", json!({})).await;
    assert_eq!(bystander.expect("join").await["client_id"], "other");
    assert_bystander_hears(&mut bystander, &mut other, "after a frame too large").await;
}

#[tokio::test]
async fn a_message_over_the_size_limit_in_small_fragments_is_frame_too_large_then_close_1009() {
    let server = start_with(|l| l.max_frame_bytes = 4096).await;
    let (mut bad, mut bystander) = room_with_bystander(&server).await;
    let text = json!({"op": "publish", "channel": "room", "data": "f".repeat(6000)}).to_string();
    let (head, tail) = text.as_bytes().split_at(3000);
    let first = Frame::message(head.to_vec(), OpCode::Data(Data::Text), false);
    let rest = Frame::message(tail.to_vec(), OpCode::Data(Data::Continue), true);
    bad.ws.feed(Message::Frame(first)).await.unwrap();
    bad.ws.send(Message::Frame(rest)).await.unwrap();
    let error = bad.expect("error").await;
    assert_eq!(error["code"], "frame_too_large");
    assert!(
        error.get("id").is_none(),
        "the oversized frame was never read: {error}"
    );
    assert_eq!(bad.expect_close().await.expect("a close frame").0, 1009);
    assert_eq!(bystander.expect("leave").await["client_id"], "bad");
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    let server = start_default().await;
    let (mut bad, mut bystander) = room_with_bystander(&server).await;
    let frame = Frame::message(
        b"{\"op\":\"ping\xff\"}".to_vec(),
        OpCode::Data(Data::Text),
        true,
    );
    bad.ws.send(Message::Frame(frame)).await.unwrap();
    assert_eq!(bad.expect_close().await.expect("a close frame").0, 1007);
    assert_eq!(bystander.expect("leave").await["client_id"], "bad");
}

#[tokio::test]
async fn deeply_nested_json_is_invalid_json_and_the_server_survives() {
    let server = start_default().await;
    let (mut bad, mut bystander) = room_with_bystander(&server).await;
    let depth = 20_000;
    let nested = format!(
        r#"{{"op":"publish","channel":"room","id":1,"data":{}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert_eq!(anonymous_error(&mut bad, &nested).await, "invalid_json");
    assert_usable(&mut bad).await;
    assert_bystander_hears(&mut bystander, &mut bad, "after deep nesting").await;
}

// ---------------------------------------------------------------------------------------------
// Refused connections
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_app_key_is_unknown_app_then_close_4001() {
    let server = start_default().await;
    let (code, close) = refused(&server, "app=nope&client_id=ann").await;
    assert_eq!((code.as_str(), close), ("unknown_app", 4001));
    // Keys are exact.
    let (code, close) = refused(&server, "app=DEV-KEY&client_id=ann").await;
    assert_eq!((code.as_str(), close), ("unknown_app", 4001));
}

#[tokio::test]
async fn a_missing_app_when_there_are_several_is_unknown_app_then_close_4001() {
    let server = start_default().await;
    let (code, close) = refused(&server, "client_id=ann").await;
    assert_eq!((code.as_str(), close), ("unknown_app", 4001));
}

#[tokio::test]
async fn a_missing_app_with_a_single_app_is_accepted() {
    let mut config = config();
    config.apps.retain(|a| a.key == "dev-key");
    let server = start(config).await;
    let client = Client::connect(&server, "client_id=ann").await;
    assert_eq!(client.session["client_id"], "ann");
}

#[tokio::test]
async fn a_bad_token_is_invalid_token_then_close_4003() {
    let server = start_default().await;
    let good = token("ann", None, None, None);
    // The signature of another token: well-formed, but does not verify.
    let other = token("bob", None, None, None);
    let (head, _) = good.rsplit_once('.').unwrap();
    let (_, other_signature) = other.rsplit_once('.').unwrap();
    let bad_signature = format!("{head}.{other_signature}");
    let wrong_secret = mint_token(
        &TokenClaims {
            sub: "ann".into(),
            exp: None,
            nbf: None,
            iat: None,
            app: None,
            data: None,
            grants: None,
        },
        b"not-the-secure-secret",
    );
    assert_ne!(wrong_secret, good);
    for bad in [
        "garbage",
        "a.b.c",
        "a.b",
        "",
        bad_signature.as_str(),
        wrong_secret.as_str(),
    ] {
        let (code, close) = refused(&server, &format!("app=secure-key&token={bad}")).await;
        assert_eq!(
            (code.as_str(), close),
            ("invalid_token", 4003),
            "token {bad:?}"
        );
    }
    // The genuine token is accepted, so the refusals above are about the tokens.
    let client = Client::connect(&server, &format!("app=secure-key&token={good}")).await;
    assert_eq!(client.session["client_id"], "ann");
}

#[tokio::test]
async fn an_expired_token_is_token_expired_then_close_4003() {
    let server = start_default().await;
    let expired = token("ann", None, None, Some(1_000_000_000));
    let (code, close) = refused(&server, &format!("app=secure-key&token={expired}")).await;
    assert_eq!((code.as_str(), close), ("token_expired", 4003));
    let later = token("ann", None, None, Some(4_000_000_000));
    let client = Client::connect(&server, &format!("app=secure-key&token={later}")).await;
    assert_eq!(client.session["client_id"], "ann");
}

#[tokio::test]
async fn no_token_on_a_token_only_app_is_anonymous_not_allowed_then_close_4003() {
    let server = start_default().await;
    let (code, close) = refused(&server, "app=secure-key").await;
    assert_eq!((code.as_str(), close), ("anonymous_not_allowed", 4003));
    let (code, close) = refused(&server, "app=secure-key&client_id=ann").await;
    assert_eq!((code.as_str(), close), ("anonymous_not_allowed", 4003));
}

#[tokio::test]
async fn a_token_and_a_client_id_together_are_bad_request_then_close_4000() {
    let server = start_default().await;
    let good = token("ann", None, None, None);
    let (code, close) = refused(
        &server,
        &format!("app=secure-key&token={good}&client_id=ann"),
    )
    .await;
    assert_eq!((code.as_str(), close), ("bad_request", 4000));
}

#[tokio::test]
async fn an_invalid_client_id_in_the_url_is_bad_request_then_close_4000() {
    let server = start_default().await;
    let too_long = "u".repeat(200);
    for client_id in [too_long.as_str(), "", "bell%07", "new%0Aline"] {
        let (code, close) = refused(&server, &format!("app=dev-key&client_id={client_id}")).await;
        assert_eq!(
            (code.as_str(), close),
            ("bad_request", 4000),
            "{client_id:?}"
        );
    }
    // 128 bytes is the limit, inclusive.
    let longest = "u".repeat(128);
    let client = Client::connect(&server, &format!("app=dev-key&client_id={longest}")).await;
    assert_eq!(client.session["client_id"], longest.as_str());
}

#[tokio::test]
async fn a_repeated_url_parameter_is_bad_request_then_close_4000() {
    let server = start_default().await;
    for query in [
        "app=dev-key&client_id=ann&client_id=bob",
        "app=dev-key&app=dev-key&client_id=ann",
    ] {
        let url = format!("ws://{}/ws?{query}", server.addr);
        let upgraded = tokio_tungstenite::connect_async(url).await;
        let Ok((ws, _)) = upgraded else {
            panic!("{query}: refused before the upgrade, not with an error message: {upgraded:?}");
        };
        let mut client = Client::unopened(ws);
        let error = client.expect("error").await;
        assert_eq!(error["code"], "bad_request", "{query}");
        assert_eq!(client.expect_close().await.expect("a close frame").0, 4000);
    }
}

#[tokio::test]
async fn a_full_server_is_server_full_then_close_4013_until_someone_leaves() {
    let server = start_with(|l| l.max_connections = 2).await;
    let first = Client::anon(&server, "one").await;
    let mut second = Client::anon(&server, "two").await;
    let (code, close) = refused(&server, "app=dev-key&client_id=three").await;
    assert_eq!((code.as_str(), close), ("server_full", 4013));
    // Refused connections do not take a place: still full, not over-full.
    let (code, close) = refused(&server, "app=dev-key&client_id=three").await;
    assert_eq!((code.as_str(), close), ("server_full", 4013));
    assert_usable(&mut second).await;

    disconnect(first).await;
    // The place frees once the server has finished with the closed connection.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut ws = connect_raw(&server, "app=dev-key&client_id=three").await;
        let first = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a first message")
            .expect("open")
            .expect("no error");
        let first: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
        if first["type"] == "session" {
            assert_eq!(first["client_id"], "three");
            break;
        }
        assert_eq!(first["code"], "server_full", "{first}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "a place never freed after a disconnect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Invitations
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn replying_to_an_unknown_invitation_is_invitation_not_found() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    alice.join("room", json!({})).await;
    let mut bob = Client::anon(&server, "bob").await;
    let mut carol = Client::anon(&server, "carol").await;

    let reply = json!({"op": "invite_reply", "invitation_id": "inv_nope", "accept": true});
    assert_eq!(bob.err(1, reply).await, "invitation_not_found");

    let invited = alice
        .ok(
            1,
            json!({"op": "invite", "channel": "room", "client_id": "bob"}),
        )
        .await;
    let invitation_id = invited["invitation_id"].as_str().unwrap().to_owned();
    assert_eq!(
        bob.expect("invitation").await["invitation_id"],
        invitation_id.as_str()
    );
    // Someone else cannot answer bob's invitation.
    let reply = json!({"op": "invite_reply", "invitation_id": invitation_id, "accept": true});
    assert_eq!(carol.err(2, reply.clone()).await, "invitation_not_found");
    // Bob can, once; a second answer finds nothing.
    bob.ok(3, reply.clone()).await;
    assert_eq!(bob.err(4, reply).await, "invitation_not_found");
    assert_usable(&mut bob).await;
}

#[tokio::test]
async fn too_many_pending_invitations_is_too_many_invitations() {
    let server = start_with(|l| l.max_pending_invitations = 1).await;
    let mut alice = Client::anon(&server, "alice").await;
    alice.join("room", json!({})).await;
    let mut bob = Client::anon(&server, "bob").await;
    let invite = json!({"op": "invite", "channel": "room", "client_id": "bob"});
    let invited = alice.ok(1, invite.clone()).await;
    let invitation_id = invited["invitation_id"].as_str().unwrap().to_owned();
    bob.expect("invitation").await;

    assert_eq!(alice.err(2, invite.clone()).await, "too_many_invitations");
    // The refused invitation was not delivered.
    bob.expect_silence(Duration::from_millis(200)).await;

    // Once bob answers, alice may invite again.
    bob.ok(
        1,
        json!({"op": "invite_reply", "invitation_id": invitation_id, "accept": false}),
    )
    .await;
    let answered = alice.expect("invitation_reply").await;
    assert_eq!(answered["accepted"], false);
    alice.ok(3, invite).await;
    bob.expect("invitation").await;
}

// ---------------------------------------------------------------------------------------------
// Slow consumers
// ---------------------------------------------------------------------------------------------

/// How a connection that stopped reading ended, as its client finally sees it.
#[derive(Debug, PartialEq)]
enum Ending {
    Close(u16),
    CloseWithoutCode,
    StreamEnded,
    ReadError(String),
}

/// Reads everything `ws` still holds; returns the seqs of the `message`s and how it ended.
async fn drain(ws: &mut common::Ws) -> (Vec<u64>, Ending) {
    let mut seqs = Vec::new();
    loop {
        let frame = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("the slow consumer's connection ends within the patience window");
        match frame {
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                if message["type"] == "message" {
                    seqs.push(message["seq"].as_u64().unwrap());
                }
            }
            Some(Ok(Message::Close(Some(CloseFrame { code, .. })))) => {
                return (seqs, Ending::Close(code.into()));
            }
            Some(Ok(Message::Close(None))) => return (seqs, Ending::CloseWithoutCode),
            Some(Ok(_)) => {}
            Some(Err(e)) => return (seqs, Ending::ReadError(e.to_string())),
            None => return (seqs, Ending::StreamEnded),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_disconnected_and_nobody_else_loses_anything() {
    const BATCH: usize = 8;
    const AT_LEAST: usize = 2000;
    // Loopback socket buffers can absorb a few MB before the server's queue even starts to
    // grow, so publishing goes on (bounded) until the slow consumer has been dropped.
    const AT_MOST: usize = 20_000;

    // The publisher floods on purpose: lift the per-connection rate limit.
    let server = start_with(|l| {
        l.max_queue_bytes = 16 * 1024;
        l.max_messages_per_second = 1_000_000;
    })
    .await;
    let mut watcher = Client::anon(&server, "watcher").await;
    watcher
        .ok(1, json!({"op": "watch", "channel": "room"}))
        .await;
    let mut slow = Client::anon(&server, "slow").await;
    slow.join("room", json!({})).await;
    let mut publisher = Client::anon(&server, "publisher").await;
    publisher.join("room", json!({})).await;
    let mut last_seq = 0;
    for who in ["slow", "publisher"] {
        let joined = watcher.expect("join").await;
        assert_eq!(joined["client_id"], who);
        last_seq = joined["seq"].as_u64().unwrap();
    }
    // From here on `slow` is never read until the end.

    let payload = "m".repeat(1000);
    let mut published = 0;
    let mut slow_left_at = None;
    while published < AT_LEAST || slow_left_at.is_none() {
        assert!(
            published < AT_MOST,
            "the slow consumer was still a member after {published} messages"
        );
        for i in 0..BATCH {
            let request = json!({"op": "publish", "channel": "room", "echo": false,
                                 "data": {"n": published + i, "pad": payload}, "id": i});
            publisher.send(request).await;
        }
        let mut acked = Vec::new();
        while acked.len() < BATCH {
            let reply = publisher.recv().await;
            match reply["type"].as_str().unwrap() {
                "ack" => acked.push(reply["result"]["seq"].as_u64().unwrap()),
                "leave" => assert_eq!(reply["client_id"], "slow"),
                other => panic!("the publisher got an unexpected {other}: {reply}"),
            }
        }
        let mut received = 0;
        while received < BATCH {
            let event = watcher.recv().await;
            let seq = event["seq"].as_u64().unwrap();
            assert_eq!(
                seq,
                last_seq + 1,
                "the watcher sees every seq in order: {event}"
            );
            last_seq = seq;
            match event["type"].as_str().unwrap() {
                "message" => {
                    assert_eq!(
                        event["data"]["n"],
                        published + received,
                        "no loss, in order"
                    );
                    assert_eq!(seq, acked[received], "the seq the publisher was told");
                    received += 1;
                }
                "leave" => {
                    assert_eq!(event["client_id"], "slow");
                    assert!(slow_left_at.is_none(), "one leave only");
                    slow_left_at = Some(published + received);
                }
                other => panic!("the watcher got an unexpected {other}: {event}"),
            }
        }
        published += BATCH;
    }

    // The member list no longer holds the slow consumer.
    let members = watcher
        .ok(2, json!({"op": "members", "channel": "room"}))
        .await;
    assert_eq!(client_ids(&members["members"]), ["publisher"]);
    assert_usable(&mut watcher).await;
    assert_usable(&mut publisher).await;

    // The slow consumer finally reads: a contiguous run of what was published, then the end.
    let (seqs, ending) = drain(&mut slow.ws).await;
    println!(
        "slow consumer: dropped after {} of {published} messages; it read {} of them, then {ending:?}",
        slow_left_at.unwrap(),
        seqs.len()
    );
    assert!(
        seqs.len() < published,
        "the slow consumer cannot have received everything"
    );
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "what it got has no gaps"
    );
    assert!(
        matches!(
            ending,
            Ending::Close(4009) | Ending::StreamEnded | Ending::ReadError(_)
        ),
        "the slow consumer ends with 4009 or the stream ending, got {ending:?}"
    );
    // Its place on the server is gone too: the same client id can come back.
    let mut again = Client::anon(&server, "slow").await;
    let snapshot = again.join("room", json!({})).await;
    assert_eq!(client_ids(&snapshot["members"]), ["publisher", "slow"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_waiting_for_a_client_do_not_make_it_a_slow_consumer() {
    const MEMBERS: usize = 40;
    const ASKS: u64 = 400;
    const EVENTS: u64 = 5;
    // Each member list is ~45 KB, over the whole queue limit, and 400 of them (~18 MB) are more
    // than loopback's socket buffers hold: the server has to stop reading the requests, with a
    // list waiting in the queue.
    let server = start_with(|l| l.max_queue_bytes = 16 * 1024).await;
    let pad = "p".repeat(1000);
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let mut member = Client::anon(&server, &format!("m{i}")).await;
        member.join("big", json!({ "pad": pad })).await;
        members.push(member);
    }
    let mut asker = Client::anon(&server, "asker").await;
    asker.ok(1, json!({"op": "watch", "channel": "big"})).await;
    for id in 0..ASKS {
        asker
            .send(json!({"op": "members", "channel": "big", "id": 10 + id}))
            .await;
    }
    // Until the server stops reading them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A few small events meanwhile: a client is closed as a slow consumer for events it does
    // not read, not for the answers it asked for.
    let mut publisher = Client::anon(&server, "publisher").await;
    publisher
        .ok(99, json!({"op": "watch", "channel": "big"}))
        .await;
    for n in 0..EVENTS {
        let request = json!({"op": "publish", "channel": "big", "echo": false, "data": {"n": n}});
        publisher.ok(100 + n, request).await;
    }
    let (mut answered, mut published) = (0, 0);
    while answered < ASKS || published < EVENTS {
        let reply = asker.recv().await;
        match reply["type"].as_str() {
            Some("ack") => {
                assert_eq!(reply["id"], 10 + answered, "answers in order");
                let listed = reply["result"]["members"].as_array().map(Vec::len);
                assert_eq!(
                    listed,
                    Some(MEMBERS),
                    "answer {answered} lists every member"
                );
                answered += 1;
            }
            Some("message") => {
                assert_eq!(reply["data"]["n"], published, "events in order");
                published += 1;
            }
            _ => panic!("unexpected: {reply:.300}"),
        }
    }
    let pong = asker.request(ASKS, json!({"op": "ping"})).await;
    assert_eq!(pong["type"], "pong", "still connected: {pong}");
}

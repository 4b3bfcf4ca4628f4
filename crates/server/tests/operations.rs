//! One test (or a few) per native-protocol operation and behaviour, over real WebSockets
//! against a real server on port 0.
//!
//! "Nothing else arrived" is checked with a fence rather than a fixed wait: every message for a
//! connection goes through one ordered queue, and an event is queued before the ack of the
//! request that caused it, so once that ack has been read, a `ping` sent on the observing
//! connection must be answered by a `pong` with nothing in between.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// The shared harness is written for several test crates; not every one uses every item.
#[allow(unreachable_pub)]
mod common;

use std::time::Duration;

use common::{
    Client, PATIENCE, TestServer, client_ids, config, masked_frame, parse_server_frame, start,
    start_default, token,
};
use rollcall_server::auth::{ChannelPattern, Grants};
use rollcall_server::config::{Config, HeartbeatConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

// ---------------------------------------------------------------------------------------------
// Helpers local to this file.

/// Sends `request` with `id` and reads up to the ack or error that answers it; returns that reply
/// and every message that arrived before it.
async fn exchange(client: &mut Client, id: u64, mut request: Value) -> (Value, Vec<Value>) {
    request["id"] = json!(id);
    client.send(request).await;
    let mut before = Vec::new();
    for _ in 0..100 {
        let message = client.recv().await;
        let is_reply =
            message["id"] == json!(id) && (message["type"] == "ack" || message["type"] == "error");
        if is_reply {
            return (message, before);
        }
        before.push(message);
    }
    panic!("no reply to request {id} among 100 messages: {before:?}");
}

/// Like [`exchange`], and asserts the reply is an ack; returns its `result` and the messages
/// that came before it.
async fn ok_with(client: &mut Client, id: u64, request: Value) -> (Value, Vec<Value>) {
    let (reply, before) = exchange(client, id, request).await;
    assert_eq!(reply["type"], "ack", "expected an ack: {reply}");
    (reply["result"].clone(), before)
}

/// Asserts nothing is queued for `client`: a `ping` is answered by the very next message.
async fn assert_drained(client: &mut Client) {
    client.send(json!({"op": "ping", "id": "fence"})).await;
    let next = client.recv().await;
    assert_eq!(
        next,
        json!({"type": "pong", "id": "fence"}),
        "expected nothing before the fence's pong"
    );
}

/// Whether `s` has the form `\d+\.\d+`.
fn is_connection_id(s: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    s.split_once('.')
        .is_some_and(|(a, b)| digits(a) && digits(b))
}

/// The current time in Unix milliseconds.
fn now_ms() -> u64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    u64::try_from(elapsed.as_millis()).unwrap()
}

/// Asserts `ts` is a plausible server timestamp (Unix ms, within a minute of now).
fn assert_recent(ts: &Value) {
    let ts = ts
        .as_u64()
        .unwrap_or_else(|| panic!("ts is a number: {ts}"));
    assert!(now_ms().abs_diff(ts) < 60_000, "ts {ts} is not about now");
}

/// The connection ids of a member's `connections`.
fn connection_ids(member: &Value) -> Vec<String> {
    member["connections"]
        .as_array()
        .expect("connections is an array")
        .iter()
        .map(|c| c["connection_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The member with `client_id` in a snapshot's `members`.
fn member_of<'a>(snapshot: &'a Value, client_id: &str) -> &'a Value {
    snapshot["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["client_id"] == client_id)
        .unwrap_or_else(|| panic!("{client_id} in {snapshot}"))
}

/// A test configuration with a fast heartbeat: ping every 100 ms, give up after 300 ms.
fn fast_heartbeat() -> Config {
    Config {
        heartbeat: HeartbeatConfig {
            interval_ms: 100,
            timeout_ms: 300,
        },
        ..config()
    }
}

/// A connection to the token-only `secure` app.
async fn with_token(server: &TestServer, token: &str) -> Client {
    Client::connect(server, &format!("app=secure-key&token={token}")).await
}

/// A WebSocket client written by hand over a raw TCP stream, so a test controls exactly what is
/// (not) sent: it never answers pings.
struct RawWs {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl RawWs {
    /// Performs the opening handshake to `/ws?{query}`.
    async fn connect(server: &TestServer, query: &str) -> Self {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let request = format!(
            "GET /ws?{query} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            server.addr
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Self {
            stream,
            buffer: Vec::new(),
        };
        let end = loop {
            if let Some(at) = raw.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            assert!(raw.fill().await, "the server answers the handshake");
        };
        let head = String::from_utf8_lossy(&raw.buffer[..end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "handshake answer: {head}");
        raw.buffer.drain(..end);
        raw
    }

    /// Reads more bytes into the buffer; false at end of stream or on a read error.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0_u8; 4096];
        let read = timeout(PATIENCE, self.stream.read(&mut chunk))
            .await
            .expect("bytes within the patience window");
        match read {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Sends a masked text frame.
    async fn send_text(&mut self, text: &str) {
        let frame = masked_frame(0x81, text.as_bytes());
        self.stream.write_all(&frame).await.unwrap();
    }

    /// The next frame from the server as (opcode, payload), or `None` once the stream ends.
    async fn next_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.buffer) {
                self.buffer.drain(..used);
                return Some(frame);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// The next text frame as JSON, skipping pings.
    async fn next_json(&mut self) -> Value {
        loop {
            let (opcode, payload) = self.next_frame().await.expect("the connection is open");
            match opcode {
                0x1 => return serde_json::from_slice(&payload).unwrap(),
                0x9 | 0xA => {}
                other => panic!("unexpected opcode {other}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// session

#[tokio::test]
async fn session_message_describes_the_connection() {
    let mut config = config();
    config.heartbeat = HeartbeatConfig {
        interval_ms: 1234,
        timeout_ms: 5678,
    };
    config.limits.max_frame_bytes = 30_000;
    config.limits.max_member_data_bytes = 1_111;
    config.limits.max_message_bytes = 2_222;
    config.limits.max_channels_per_connection = 33;
    let server = start(config).await;

    let named = Client::anon(&server, "alice").await;
    let nameless = Client::connect(&server, "app=dev-key").await;
    let s = &named.session;

    let (a, b) = (named.connection_id(), nameless.connection_id());
    assert!(is_connection_id(&a), "connection id {a}");
    assert!(is_connection_id(&b), "connection id {b}");
    assert_ne!(a, b, "connection ids are unique");

    assert_eq!(s["client_id"], "alice");
    assert!(
        nameless.session["client_id"].is_null(),
        "no client id: {}",
        nameless.session
    );
    assert_eq!(s["server_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["protocol_version"], 1);
    assert_eq!(s["heartbeat_interval_ms"], 1234);
    assert_eq!(s["heartbeat_timeout_ms"], 5678);
    assert_eq!(
        s["limits"],
        json!({
            "max_frame_bytes": 30_000,
            "max_member_data_bytes": 1_111,
            "max_message_bytes": 2_222,
            "max_channels_per_connection": 33,
        })
    );

    let resume = s["resume_token"]
        .as_str()
        .expect("resume_token is a string");
    let (conn, tag) = resume
        .rsplit_once('.')
        .expect("resume token has a MAC part");
    assert_eq!(conn, a, "the resume token names the connection");
    assert!(
        !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_hexdigit()),
        "resume token tag: {tag}"
    );
    assert_ne!(
        nameless.session["resume_token"], s["resume_token"],
        "each connection has its own resume token"
    );
}

// ---------------------------------------------------------------------------------------------
// join

#[tokio::test]
async fn join_acks_with_a_snapshot_and_others_see_a_join_event() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let first = alice.join("room", json!({"name": "Alice"})).await;
    assert_eq!(first["channel"], "room");
    assert_eq!(first["seq"], 1);
    assert_eq!(client_ids(&first["members"]), ["alice"]);
    let me = member_of(&first, "alice");
    assert_eq!(me["data"], json!({"name": "Alice"}));
    assert_eq!(connection_ids(me), [alice.connection_id()]);

    let mut bob = Client::anon(&server, "bob").await;
    let snapshot = bob.join("room", json!({"name": "Bob"})).await;
    assert_eq!(snapshot["channel"], "room");
    assert_eq!(snapshot["seq"], 2);
    assert_eq!(client_ids(&snapshot["members"]), ["alice", "bob"]);
    assert_eq!(
        member_of(&snapshot, "alice")["data"],
        json!({"name": "Alice"})
    );

    let event = alice.expect("join").await;
    assert_eq!(event["channel"], "room");
    assert_eq!(event["client_id"], "bob");
    assert_eq!(event["connection_id"], bob.connection_id());
    assert_eq!(event["seq"], snapshot["seq"]);
    assert_recent(&event["ts"]);
    assert_eq!(event["member"]["client_id"], "bob");
    assert_eq!(event["member"]["data"], json!({"name": "Bob"}));
    assert_eq!(connection_ids(&event["member"]), [bob.connection_id()]);

    // The joiner does not receive its own join event, and nothing else is pending.
    assert_drained(&mut bob).await;
    assert_drained(&mut alice).await;
}

#[tokio::test]
async fn seq_increases_by_exactly_one_per_event() {
    let server = start_default().await;
    let mut watcher = Client::connect(&server, "app=dev-key").await;
    let snapshot = watcher
        .ok(1, json!({"op": "watch", "channel": "seq"}))
        .await;
    assert_eq!(snapshot["seq"], 0);

    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    let mut acked = Vec::new();
    acked.push(alice.join("seq", json!({"n": 0})).await["seq"].clone());
    acked.push(bob.join("seq", json!({})).await["seq"].clone());
    let _ = alice.expect("join").await;
    let (result, _) = ok_with(
        &mut alice,
        2,
        json!({"op": "update", "channel": "seq", "data": {"n": 1}}),
    )
    .await;
    acked.push(result["seq"].clone());
    let (result, _) = ok_with(
        &mut bob,
        3,
        json!({"op": "publish", "channel": "seq", "data": "hello"}),
    )
    .await;
    acked.push(result["seq"].clone());
    // Ephemeral messages and unchanged updates take no sequence number.
    ok_with(
        &mut alice,
        4,
        json!({"op": "ephemeral", "channel": "seq", "data": "typing"}),
    )
    .await;
    let (result, _) = ok_with(
        &mut alice,
        5,
        json!({"op": "update", "channel": "seq", "data": {"n": 1}}),
    )
    .await;
    assert_eq!(result["changed"], false);
    alice.ok(6, json!({"op": "leave", "channel": "seq"})).await;
    drop(bob);

    let mut kinds = Vec::new();
    let mut seqs = Vec::new();
    for _ in 0..7 {
        let event = watcher.recv().await;
        kinds.push(event["type"].as_str().unwrap().to_owned());
        if event["type"] == "ephemeral" {
            assert!(event.get("seq").is_none(), "ephemeral has no seq: {event}");
        } else {
            seqs.push(event["seq"].as_u64().expect("events carry a seq"));
        }
    }
    assert_eq!(
        kinds,
        [
            "join",
            "join",
            "update",
            "message",
            "ephemeral",
            "leave",
            "leave"
        ]
    );
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    assert_eq!(acked, [json!(1), json!(2), json!(3), json!(4)]);
    assert_drained(&mut watcher).await;
}

#[tokio::test]
async fn concurrent_publishers_get_distinct_gapless_seqs() {
    const PUBLISHERS: u64 = 4;
    const EACH: u64 = 25;
    let server = start_default().await;
    let mut watcher = Client::connect(&server, "app=dev-key").await;
    watcher
        .ok(1, json!({"op": "watch", "channel": "busy"}))
        .await;
    let mut tasks = Vec::new();
    for p in 0..PUBLISHERS {
        let mut client = Client::connect(&server, "app=dev-key").await;
        client
            .ok(1, json!({"op": "watch", "channel": "busy"}))
            .await;
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..EACH {
                let request =
                    json!({"op": "publish", "channel": "busy", "data": [p, i], "echo": false});
                let (result, _) = ok_with(&mut client, 10 + i, request).await;
                seqs.push(result["seq"].as_u64().unwrap());
            }
            seqs
        }));
    }
    let mut acked = Vec::new();
    for task in tasks {
        acked.extend(task.await.unwrap());
    }
    acked.sort_unstable();
    let all: Vec<u64> = (1..=PUBLISHERS * EACH).collect();
    assert_eq!(acked, all, "every publish got its own seq");
    let mut seen = Vec::new();
    for _ in 0..PUBLISHERS * EACH {
        seen.push(watcher.expect("message").await["seq"].as_u64().unwrap());
    }
    assert_eq!(seen, all, "the watcher sees every seq once, in order");
    assert_drained(&mut watcher).await;
}

#[tokio::test]
async fn a_watcher_can_then_join_the_same_channel() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice.join("stage", json!({})).await;
    bob.ok(1, json!({"op": "watch", "channel": "stage"})).await;
    let snapshot = bob.join("stage", json!({"up": true})).await;
    assert_eq!(client_ids(&snapshot["members"]), ["alice", "bob"]);
    assert_eq!(alice.expect("join").await["client_id"], "bob");
    assert_drained(&mut bob).await;
    bob.ok(2, json!({"op": "leave", "channel": "stage"})).await;
    assert_eq!(alice.expect("leave").await["client_id"], "bob");
    assert_drained(&mut bob).await;
}

// ---------------------------------------------------------------------------------------------
// watch

#[tokio::test]
async fn watch_gives_a_snapshot_and_events_without_membership() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    alice.join("hall", json!({"a": 1})).await;

    let mut watcher = Client::anon(&server, "walter").await;
    let snapshot = watcher
        .ok(1, json!({"op": "watch", "channel": "hall"}))
        .await;
    assert_eq!(snapshot["channel"], "hall");
    assert_eq!(snapshot["seq"], 1);
    assert_eq!(client_ids(&snapshot["members"]), ["alice"]);
    // Watching is silent for the members.
    assert_drained(&mut alice).await;

    let mut bob = Client::anon(&server, "bob").await;
    let bob_snapshot = bob.join("hall", json!({})).await;
    assert_eq!(
        client_ids(&bob_snapshot["members"]),
        ["alice", "bob"],
        "the watcher is not a member"
    );
    let join = watcher.expect("join").await;
    assert_eq!(join["client_id"], "bob");
    let _ = alice.expect("join").await;

    ok_with(
        &mut alice,
        2,
        json!({"op": "update", "channel": "hall", "data": {"a": 2}}),
    )
    .await;
    let update = watcher.expect("update").await;
    assert_eq!(update["client_id"], "alice");
    assert_eq!(update["member"]["data"], json!({"a": 2}));

    ok_with(
        &mut bob,
        3,
        json!({"op": "publish", "channel": "hall", "data": [1, 2], "echo": false}),
    )
    .await;
    let message = watcher.expect("message").await;
    assert_eq!(message["data"], json!([1, 2]));
    assert_eq!(message["client_id"], "bob");

    bob.ok(4, json!({"op": "leave", "channel": "hall"})).await;
    let leave = watcher.expect("leave").await;
    assert_eq!(leave["client_id"], "bob");
    let _ = alice.expect("message").await;
    let _ = alice.expect("leave").await;

    let members = alice
        .ok(5, json!({"op": "members", "channel": "hall"}))
        .await;
    assert_eq!(client_ids(&members["members"]), ["alice"]);
    let present = alice
        .ok(
            6,
            json!({"op": "is_present", "channel": "hall", "client_id": "walter"}),
        )
        .await;
    assert_eq!(present["present"], false);
    assert_drained(&mut watcher).await;
}

#[tokio::test]
async fn a_connection_without_client_id_can_watch_and_publish() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    alice.join("open", json!({})).await;
    let mut anon = Client::connect(&server, "app=dev-key").await;
    anon.ok(1, json!({"op": "watch", "channel": "open"})).await;
    anon.ok(
        2,
        json!({"op": "publish", "channel": "open", "data": "hi", "echo": false}),
    )
    .await;
    let message = alice.expect("message").await;
    assert!(message["client_id"].is_null(), "no client id: {message}");
    assert_eq!(message["connection_id"], anon.connection_id());
    assert_eq!(message["data"], "hi");
}

// ---------------------------------------------------------------------------------------------
// update

#[tokio::test]
async fn update_replaces_or_merge_patches_and_everyone_sees_it() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice
        .join("doc", json!({"status": "online", "pos": {"x": 1, "y": 2}}))
        .await;
    bob.join("doc", json!({})).await;
    let _ = alice.expect("join").await;

    // Full replace.
    let (result, before) = ok_with(
        &mut alice,
        1,
        json!({"op": "update", "channel": "doc", "data": {"status": "away"}}),
    )
    .await;
    assert_eq!(result, json!({"channel": "doc", "seq": 3, "changed": true}));
    assert_eq!(
        before.len(),
        1,
        "the updater gets the event too: {before:?}"
    );
    let own = &before[0];
    assert_eq!(own["type"], "update");
    assert_eq!(own["seq"], 3);
    assert_eq!(own["reason"], "data");
    assert_eq!(own["client_id"], "alice");
    assert_eq!(own["connection_id"], alice.connection_id());
    assert_eq!(own["member"]["data"], json!({"status": "away"}));
    assert_recent(&own["ts"]);
    let seen = bob.expect("update").await;
    assert_eq!(&seen, own, "every subscriber gets the same event");

    // Merge patch: add a nested object.
    let (result, before) = ok_with(
        &mut alice,
        2,
        json!({"op": "update", "channel": "doc", "patch": {"pos": {"x": 1, "y": 2}, "mood": "ok"}}),
    )
    .await;
    assert_eq!(result["changed"], true);
    assert_eq!(
        before[0]["member"]["data"],
        json!({"status": "away", "pos": {"x": 1, "y": 2}, "mood": "ok"})
    );
    let _ = bob.expect("update").await;

    // Merge patch: nested merge, and null deletes keys at both levels.
    let (result, before) = ok_with(
        &mut alice,
        3,
        json!({"op": "update", "channel": "doc", "patch": {"pos": {"y": null, "z": 3}, "mood": null}}),
    )
    .await;
    assert_eq!(result["seq"], 5);
    let expected = json!({"status": "away", "pos": {"x": 1, "z": 3}});
    assert_eq!(before[0]["member"]["data"], expected);
    let seen = bob.expect("update").await;
    assert_eq!(seen["seq"], 5);
    assert_eq!(seen["member"]["data"], expected);

    let members = bob
        .ok(
            4,
            json!({"op": "members", "channel": "doc", "client_id": "alice"}),
        )
        .await;
    assert_eq!(members["member"]["data"], expected);

    assert_drained(&mut alice).await;
    assert_drained(&mut bob).await;
}

#[tokio::test]
async fn an_update_to_identical_data_changes_nothing() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice.join("same", json!({"a": 1, "b": {"c": 2}})).await;
    bob.join("same", json!({})).await;
    let _ = alice.expect("join").await;

    let (result, before) = ok_with(
        &mut alice,
        1,
        json!({"op": "update", "channel": "same", "data": {"a": 1, "b": {"c": 2}}}),
    )
    .await;
    assert_eq!(
        result,
        json!({"channel": "same", "seq": 2, "changed": false})
    );
    assert!(before.is_empty(), "no event for the updater: {before:?}");

    let (result, before) = ok_with(
        &mut alice,
        2,
        json!({"op": "update", "channel": "same", "patch": {"a": 1}}),
    )
    .await;
    assert_eq!(result["changed"], false);
    assert!(before.is_empty(), "no event for the updater: {before:?}");

    assert_drained(&mut bob).await;
}

// ---------------------------------------------------------------------------------------------
// leave

#[tokio::test]
async fn leave_acks_and_others_see_a_leave_event() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice.join("exit", json!({})).await;
    bob.join("exit", json!({"k": "v"})).await;
    let _ = alice.expect("join").await;

    let reply = bob
        .request(1, json!({"op": "leave", "channel": "exit"}))
        .await;
    assert_eq!(reply, json!({"type": "ack", "id": 1}));

    let leave = alice.expect("leave").await;
    assert_eq!(leave["channel"], "exit");
    assert_eq!(leave["client_id"], "bob");
    assert_eq!(leave["connection_id"], bob.connection_id());
    assert_eq!(leave["seq"], 3);
    assert_recent(&leave["ts"]);
    assert_eq!(leave["member"]["client_id"], "bob");
    assert_eq!(leave["member"]["data"], json!({"k": "v"}));
    assert_eq!(
        leave["member"]["connections"],
        json!([]),
        "the departed member carries no connections"
    );

    let members = alice
        .ok(2, json!({"op": "members", "channel": "exit"}))
        .await;
    assert_eq!(client_ids(&members["members"]), ["alice"]);

    // The leaver is no longer subscribed: it gets nothing further.
    ok_with(
        &mut alice,
        3,
        json!({"op": "publish", "channel": "exit", "data": 1}),
    )
    .await;
    assert_drained(&mut bob).await;
}

#[tokio::test]
async fn leaving_a_watched_channel_only_unsubscribes() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut watcher = Client::anon(&server, "walter").await;
    alice.join("tv", json!({})).await;
    watcher.ok(1, json!({"op": "watch", "channel": "tv"})).await;

    let reply = watcher
        .request(2, json!({"op": "leave", "channel": "tv"}))
        .await;
    assert_eq!(reply, json!({"type": "ack", "id": 2}));
    assert_drained(&mut alice).await;

    let (result, _) = ok_with(
        &mut alice,
        3,
        json!({"op": "update", "channel": "tv", "data": {"x": 1}}),
    )
    .await;
    assert_eq!(
        result["seq"], 2,
        "the watcher's leave took no sequence number"
    );
    assert_drained(&mut watcher).await;
}

// ---------------------------------------------------------------------------------------------
// many channels

#[tokio::test]
async fn events_stay_in_their_channel() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    for channel in ["one", "two", "three"] {
        let snapshot = alice.join(channel, json!({"in": channel})).await;
        assert_eq!(snapshot["channel"], channel);
        assert_eq!(snapshot["seq"], 1, "each channel has its own sequence");
    }
    let mut bob = Client::anon(&server, "bob").await;
    let mut carol = Client::anon(&server, "carol").await;
    bob.ok(1, json!({"op": "watch", "channel": "one"})).await;
    carol.ok(1, json!({"op": "watch", "channel": "two"})).await;

    ok_with(
        &mut alice,
        1,
        json!({"op": "update", "channel": "two", "data": {"in": "two!"}}),
    )
    .await;
    let update = carol.expect("update").await;
    assert_eq!(update["channel"], "two");
    assert_eq!(update["seq"], 2);
    assert_drained(&mut bob).await;

    ok_with(
        &mut alice,
        2,
        json!({"op": "publish", "channel": "one", "data": "for one"}),
    )
    .await;
    let message = bob.expect("message").await;
    assert_eq!(message["channel"], "one");
    assert_eq!(message["seq"], 2);
    assert_drained(&mut carol).await;

    ok_with(
        &mut alice,
        3,
        json!({"op": "publish", "channel": "three", "data": "for three", "echo": false}),
    )
    .await;
    alice
        .ok(4, json!({"op": "leave", "channel": "three"}))
        .await;
    assert_drained(&mut bob).await;
    assert_drained(&mut carol).await;

    // Alice's data is per channel.
    let one = bob
        .ok(
            2,
            json!({"op": "members", "channel": "one", "client_id": "alice"}),
        )
        .await;
    assert_eq!(one["member"]["data"], json!({"in": "one"}));
    let two = bob
        .ok(
            3,
            json!({"op": "members", "channel": "two", "client_id": "alice"}),
        )
        .await;
    assert_eq!(two["member"]["data"], json!({"in": "two!"}));
}

// ---------------------------------------------------------------------------------------------
// multi-device

#[tokio::test]
async fn one_client_on_two_connections_is_one_member() {
    let server = start_default().await;
    let mut watcher = Client::connect(&server, "app=dev-key").await;
    watcher
        .ok(1, json!({"op": "watch", "channel": "desk"}))
        .await;

    let mut phone = Client::anon(&server, "ann").await;
    let mut laptop = Client::anon(&server, "ann").await;
    phone.join("desk", json!({"status": "here"})).await;
    let join = watcher.expect("join").await;
    assert_eq!(join["client_id"], "ann");
    assert_eq!(connection_ids(&join["member"]), [phone.connection_id()]);

    // The second device joins without data: the member keeps its data.
    let snapshot = laptop.ok(2, json!({"op": "join", "channel": "desk"})).await;
    assert_eq!(client_ids(&snapshot["members"]), ["ann"]);
    let ann = member_of(&snapshot, "ann");
    assert_eq!(
        connection_ids(ann),
        [phone.connection_id(), laptop.connection_id()]
    );
    assert_eq!(ann["data"], json!({"status": "here"}));

    let added = watcher.expect("update").await;
    assert_eq!(added["reason"], "connection_added");
    assert_eq!(added["client_id"], "ann");
    assert_eq!(added["connection_id"], laptop.connection_id());
    assert_eq!(added["member"]["connections"].as_array().unwrap().len(), 2);
    assert_eq!(added["member"]["data"], json!({"status": "here"}));
    assert_eq!(
        added["member"]["joined_at"], join["member"]["joined_at"],
        "the member joined when its first device did"
    );
    assert_eq!(&phone.expect("update").await, &added);
    assert_drained(&mut laptop).await;

    let members = watcher
        .ok(3, json!({"op": "members", "channel": "desk"}))
        .await;
    assert_eq!(members["members"].as_array().unwrap().len(), 1);
    assert_eq!(connection_ids(&members["members"][0]).len(), 2);

    phone.ok(4, json!({"op": "leave", "channel": "desk"})).await;
    let removed = watcher.expect("update").await;
    assert_eq!(removed["reason"], "connection_removed");
    assert_eq!(removed["connection_id"], phone.connection_id());
    assert_eq!(connection_ids(&removed["member"]), [laptop.connection_id()]);
    assert_eq!(&laptop.expect("update").await, &removed);
    let present = watcher
        .ok(
            5,
            json!({"op": "is_present", "channel": "desk", "client_id": "ann"}),
        )
        .await;
    assert_eq!(present["present"], true, "one device is still there");

    laptop
        .ok(6, json!({"op": "leave", "channel": "desk"}))
        .await;
    let leave = watcher.expect("leave").await;
    assert_eq!(leave["client_id"], "ann");
    assert_eq!(leave["connection_id"], laptop.connection_id());
    // Exactly one join and one leave: nothing else is pending for the watcher.
    assert_drained(&mut watcher).await;
}

#[tokio::test]
async fn devices_that_disconnect_give_one_leave_for_the_last() {
    let server = start_default().await;
    let mut watcher = Client::connect(&server, "app=dev-key").await;
    watcher
        .ok(1, json!({"op": "watch", "channel": "desk"}))
        .await;
    let mut phone = Client::anon(&server, "ann").await;
    let mut laptop = Client::anon(&server, "ann").await;
    phone.join("desk", json!({})).await;
    laptop.join("desk", json!({})).await;
    let _ = phone.expect("update").await;

    let mut seen = vec![watcher.recv().await, watcher.recv().await];
    // The phone vanishes without a close frame; the laptop closes cleanly.
    drop(phone);
    seen.push(watcher.recv().await);
    laptop.ws.close(None).await.unwrap();
    seen.push(watcher.recv().await);
    let kinds: Vec<&str> = seen.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["join", "update", "update", "leave"]);
    assert_eq!(seen[1]["reason"], "connection_added");
    assert_eq!(seen[2]["reason"], "connection_removed");
    assert_eq!(connection_ids(&seen[2]["member"]), [laptop.connection_id()]);
    assert_eq!(seen[3]["client_id"], "ann");
    assert_drained(&mut watcher).await;
}

// ---------------------------------------------------------------------------------------------
// members and is_present

#[tokio::test]
async fn members_lists_everyone_or_one_and_is_present_answers() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice.join("club", json!({"a": 1})).await;
    bob.join("club", json!({"b": 2})).await;
    // Carol asks without subscribing.
    let mut carol = Client::anon(&server, "carol").await;

    let all = carol
        .ok(1, json!({"op": "members", "channel": "club"}))
        .await;
    assert_eq!(all["channel"], "club");
    assert_eq!(all["seq"], 2);
    assert_eq!(client_ids(&all["members"]), ["alice", "bob"]);
    assert_eq!(member_of(&all, "bob")["data"], json!({"b": 2}));

    let one = carol
        .ok(
            2,
            json!({"op": "members", "channel": "club", "client_id": "bob"}),
        )
        .await;
    assert_eq!(one["channel"], "club");
    assert_eq!(one["seq"], 2);
    assert_eq!(one["member"]["client_id"], "bob");
    assert_eq!(one["member"]["data"], json!({"b": 2}));
    assert_eq!(connection_ids(&one["member"]), [bob.connection_id()]);

    let none = carol
        .ok(
            3,
            json!({"op": "members", "channel": "club", "client_id": "zed"}),
        )
        .await;
    assert!(
        none.get("member").is_some_and(Value::is_null),
        "member is null: {none}"
    );

    let yes = carol
        .ok(
            4,
            json!({"op": "is_present", "channel": "club", "client_id": "alice"}),
        )
        .await;
    assert_eq!(
        yes,
        json!({"channel": "club", "client_id": "alice", "present": true})
    );
    let no = carol
        .ok(
            5,
            json!({"op": "is_present", "channel": "club", "client_id": "carol"}),
        )
        .await;
    assert_eq!(no["present"], false);

    bob.ok(6, json!({"op": "leave", "channel": "club"})).await;
    let gone = carol
        .ok(
            7,
            json!({"op": "is_present", "channel": "club", "client_id": "bob"}),
        )
        .await;
    assert_eq!(gone["present"], false);
    let all = carol
        .ok(8, json!({"op": "members", "channel": "club"}))
        .await;
    assert_eq!(client_ids(&all["members"]), ["alice"]);

    let empty = carol
        .ok(9, json!({"op": "members", "channel": "nobody-here"}))
        .await;
    assert_eq!(empty["members"], json!([]));
    assert_drained(&mut carol).await;
}

// ---------------------------------------------------------------------------------------------
// publish

#[tokio::test]
async fn publish_delivers_a_sequenced_message_echoed_by_default() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice.join("chat", json!({})).await;
    bob.join("chat", json!({})).await;
    let _ = alice.expect("join").await;

    let (result, before) = ok_with(
        &mut alice,
        1,
        json!({"op": "publish", "channel": "chat", "data": {"text": "hi"}}),
    )
    .await;
    assert_eq!(result, json!({"channel": "chat", "seq": 3}));
    assert_eq!(before.len(), 1, "echoed to the sender: {before:?}");
    let message = bob.expect("message").await;
    assert_eq!(&message, &before[0]);
    assert_eq!(message["channel"], "chat");
    assert_eq!(message["data"], json!({"text": "hi"}));
    assert_eq!(message["client_id"], "alice");
    assert_eq!(message["connection_id"], alice.connection_id());
    assert_eq!(message["seq"], 3);
    assert_recent(&message["ts"]);
    assert!(message.get("message_id").is_none(), "{message}");

    // echo: false: the sender only gets the ack, which still carries the seq.
    let (result, before) = ok_with(
        &mut alice,
        2,
        json!({"op": "publish", "channel": "chat", "data": "quiet", "echo": false}),
    )
    .await;
    assert_eq!(result["seq"], 4);
    assert!(before.is_empty(), "not echoed: {before:?}");
    let message = bob.expect("message").await;
    assert_eq!(message["data"], "quiet");
    assert_eq!(message["seq"], 4);
    assert_drained(&mut alice).await;
    assert_drained(&mut bob).await;
}

#[tokio::test]
async fn a_repeated_message_id_is_acknowledged_but_not_delivered_twice() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice.join("once", json!({})).await;
    bob.join("once", json!({})).await;
    let _ = alice.expect("join").await;

    let publish = json!({"op": "publish", "channel": "once", "data": 1, "message_id": "m-1"});
    let (result, _) = ok_with(&mut alice, 1, publish.clone()).await;
    assert_eq!(result["seq"], 3);
    let message = bob.expect("message").await;
    assert_eq!(message["message_id"], "m-1");

    let (result, before) = ok_with(&mut alice, 2, publish).await;
    assert_eq!(
        result,
        json!({"channel": "once", "seq": 3, "duplicate": true}),
        "the duplicate's ack names the seq of the first delivery"
    );
    assert!(before.is_empty(), "no second echo: {before:?}");
    assert_drained(&mut bob).await;

    // The id is remembered per sender: another sender may use the same id.
    let (result, _) = ok_with(
        &mut bob,
        3,
        json!({"op": "publish", "channel": "once", "data": 2, "message_id": "m-1"}),
    )
    .await;
    assert_eq!(result["seq"], 4, "the duplicate took no sequence number");
    let message = alice.expect("message").await;
    assert_eq!(message["data"], 2);
    assert_drained(&mut alice).await;
}

// ---------------------------------------------------------------------------------------------
// ephemeral

#[tokio::test]
async fn ephemeral_messages_are_unsequenced_and_not_echoed_by_default() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice.join("cursor", json!({})).await;
    bob.join("cursor", json!({})).await;
    let _ = alice.expect("join").await;

    let (reply, before) = exchange(
        &mut alice,
        1,
        json!({"op": "ephemeral", "channel": "cursor", "data": {"x": 5}}),
    )
    .await;
    assert_eq!(reply, json!({"type": "ack", "id": 1}));
    assert!(before.is_empty(), "not echoed by default: {before:?}");
    let eph = bob.expect("ephemeral").await;
    assert_eq!(eph["channel"], "cursor");
    assert_eq!(eph["data"], json!({"x": 5}));
    assert_eq!(eph["client_id"], "alice");
    assert_eq!(eph["connection_id"], alice.connection_id());
    assert_recent(&eph["ts"]);
    assert!(eph.get("seq").is_none(), "ephemeral has no seq: {eph}");

    let (reply, before) = exchange(
        &mut alice,
        2,
        json!({"op": "ephemeral", "channel": "cursor", "data": "me too", "echo": true}),
    )
    .await;
    assert_eq!(reply["type"], "ack");
    assert_eq!(before.len(), 1, "echo: true echoes: {before:?}");
    assert_eq!(before[0]["type"], "ephemeral");
    assert_eq!(before[0]["data"], "me too");
    assert_eq!(bob.expect("ephemeral").await["data"], "me too");

    assert_drained(&mut alice).await;
    assert_drained(&mut bob).await;
}

// ---------------------------------------------------------------------------------------------
// invitations

#[tokio::test]
async fn an_accepted_invitation_joins_the_invitee() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice.join("party", json!({})).await;

    let invited = alice
        .ok(
            1,
            json!({"op": "invite", "channel": "party", "client_id": "bob", "data": {"note": "come"}}),
        )
        .await;
    assert_eq!(invited["delivered"], 1);
    let invitation_id = invited["invitation_id"].as_str().unwrap().to_owned();

    let invitation = bob.expect("invitation").await;
    assert_eq!(invitation["invitation_id"], invitation_id.as_str());
    assert_eq!(invitation["channel"], "party");
    assert_eq!(invitation["from"], "alice");
    assert_eq!(invitation["from_connection_id"], alice.connection_id());
    assert_eq!(invitation["data"], json!({"note": "come"}));
    assert_recent(&invitation["ts"]);
    let ts = invitation["ts"].as_u64().unwrap();
    assert_eq!(
        invitation["expires_at"].as_u64().unwrap(),
        ts + 60_000,
        "the default invitation time-to-live"
    );

    // Carol cannot answer an invitation addressed to Bob.
    let mut carol = Client::anon(&server, "carol").await;
    let code = carol
        .err(
            2,
            json!({"op": "invite_reply", "invitation_id": invitation_id, "accept": true}),
        )
        .await;
    assert_eq!(code, "invitation_not_found");

    let snapshot = bob
        .ok(
            3,
            json!({"op": "invite_reply", "invitation_id": invitation_id, "accept": true, "data": {"b": 1}}),
        )
        .await;
    assert_eq!(snapshot["channel"], "party");
    assert_eq!(client_ids(&snapshot["members"]), ["alice", "bob"]);
    assert_eq!(member_of(&snapshot, "bob")["data"], json!({"b": 1}));

    let mut seen = [alice.recv().await, alice.recv().await];
    seen.sort_by_key(|m| m["type"].as_str().unwrap().to_owned());
    let (reply, join) = (&seen[0], &seen[1]);
    assert_eq!(reply["type"], "invitation_reply");
    assert_eq!(reply["invitation_id"], invitation_id.as_str());
    assert_eq!(reply["channel"], "party");
    assert_eq!(reply["client_id"], "bob");
    assert_eq!(reply["accepted"], true);
    assert_eq!(join["type"], "join");
    assert_eq!(join["client_id"], "bob");
    assert_eq!(join["seq"], snapshot["seq"]);

    // Answering twice fails.
    let code = bob
        .err(
            4,
            json!({"op": "invite_reply", "invitation_id": invitation_id, "accept": true}),
        )
        .await;
    assert_eq!(code, "invitation_not_found");
    assert_drained(&mut alice).await;
}

#[tokio::test]
async fn a_declined_invitation_joins_nobody() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob_phone = Client::anon(&server, "bob").await;
    let mut bob_laptop = Client::anon(&server, "bob").await;
    alice.join("party", json!({})).await;

    let invited = alice
        .ok(
            1,
            json!({"op": "invite", "channel": "party", "client_id": "bob"}),
        )
        .await;
    assert_eq!(invited["delivered"], 2, "every connection of the invitee");
    let invitation_id = invited["invitation_id"].as_str().unwrap().to_owned();
    let on_phone = bob_phone.expect("invitation").await;
    let on_laptop = bob_laptop.expect("invitation").await;
    assert_eq!(on_phone, on_laptop);
    assert!(on_phone.get("data").is_none(), "no note: {on_phone}");

    let reply = bob_laptop
        .request(
            2,
            json!({"op": "invite_reply", "invitation_id": invitation_id, "accept": false}),
        )
        .await;
    assert_eq!(reply, json!({"type": "ack", "id": 2}));
    let answer = alice.expect("invitation_reply").await;
    assert_eq!(answer["accepted"], false);
    assert_eq!(answer["client_id"], "bob");
    assert_drained(&mut alice).await;

    let members = alice
        .ok(3, json!({"op": "members", "channel": "party"}))
        .await;
    assert_eq!(client_ids(&members["members"]), ["alice"]);

    // The other device cannot answer an invitation already answered.
    let code = bob_phone
        .err(
            4,
            json!({"op": "invite_reply", "invitation_id": invitation_id, "accept": true}),
        )
        .await;
    assert_eq!(code, "invitation_not_found");
}

#[tokio::test]
async fn a_failed_acceptance_leaves_the_invitation_pending() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice.join("party", json!({})).await;
    bob.join("party", json!({})).await;
    let _ = alice.expect("join").await;

    let invited = alice
        .ok(
            1,
            json!({"op": "invite", "channel": "party", "client_id": "bob"}),
        )
        .await;
    let invitation_id = invited["invitation_id"].as_str().unwrap().to_owned();
    let _ = bob.expect("invitation").await;

    // Bob is already in the channel, so accepting fails, and Alice hears nothing yet.
    let code = bob
        .err(
            2,
            json!({"op": "invite_reply", "invitation_id": invitation_id, "accept": true}),
        )
        .await;
    assert_eq!(code, "already_joined");
    assert_drained(&mut alice).await;

    // The invitation is still pending: Bob can still decline it.
    let reply = bob
        .request(
            3,
            json!({"op": "invite_reply", "invitation_id": invitation_id, "accept": false}),
        )
        .await;
    assert_eq!(reply["type"], "ack", "{reply}");
    let answer = alice.expect("invitation_reply").await;
    assert_eq!(answer["accepted"], false);
}

#[tokio::test]
async fn an_invitation_lapses_after_its_ttl_and_frees_the_inviters_slot() {
    let mut config = config();
    config.limits.invitation_ttl_ms = 200;
    config.limits.max_pending_invitations = 1;
    let server = start(config).await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice.join("party", json!({})).await;

    let invite = json!({"op": "invite", "channel": "party", "client_id": "bob"});
    let invited = alice.ok(1, invite.clone()).await;
    let invitation_id = invited["invitation_id"].as_str().unwrap().to_owned();
    let invitation = bob.expect("invitation").await;
    let ttl = invitation["expires_at"].as_u64().unwrap() - invitation["ts"].as_u64().unwrap();
    assert_eq!(ttl, 200, "expires_at announces the configured lifetime");
    // The one pending slot is taken until the invitation lapses.
    assert_eq!(alice.err(2, invite.clone()).await, "too_many_invitations");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply = json!({"op": "invite_reply", "invitation_id": invitation_id, "accept": true});
    assert_eq!(bob.err(3, reply).await, "invitation_not_found");
    let members = alice
        .ok(4, json!({"op": "members", "channel": "party"}))
        .await;
    assert_eq!(
        client_ids(&members["members"]),
        ["alice"],
        "a lapsed invitation joins nobody"
    );
    let again = alice.ok(5, invite).await;
    assert_ne!(again["invitation_id"], json!(invitation_id));
}

#[tokio::test]
async fn inviting_a_client_that_is_not_connected_fails() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    alice.join("party", json!({})).await;
    let code = alice
        .err(
            1,
            json!({"op": "invite", "channel": "party", "client_id": "ghost"}),
        )
        .await;
    assert_eq!(code, "client_not_connected");

    // A client that was connected and left is offline again.
    let bob = Client::anon(&server, "bob").await;
    let invited = alice
        .ok(
            2,
            json!({"op": "invite", "channel": "party", "client_id": "bob"}),
        )
        .await;
    assert_eq!(invited["delivered"], 1);
    drop(bob);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let reply = alice
            .request(
                3,
                json!({"op": "invite", "channel": "party", "client_id": "bob"}),
            )
            .await;
        if reply["code"] == "client_not_connected" {
            break;
        }
        assert!(Instant::now() < deadline, "bob never went offline: {reply}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// ping and request ids

#[tokio::test]
async fn ping_is_answered_with_pong_carrying_the_id() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let pong = alice.request(42, json!({"op": "ping"})).await;
    assert_eq!(pong, json!({"type": "pong", "id": 42}));
    alice.send(json!({"op": "ping", "id": "text-id"})).await;
    assert_eq!(alice.recv().await, json!({"type": "pong", "id": "text-id"}));
    alice.send(json!({"op": "ping"})).await;
    assert_eq!(alice.recv().await, json!({"type": "pong"}));
}

#[tokio::test]
async fn requests_without_an_id_are_still_acknowledged() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    alice
        .send(json!({"op": "join", "channel": "noid", "data": {}}))
        .await;
    let ack = alice.expect("ack").await;
    assert!(ack.get("id").is_none(), "no id: {ack}");
    assert_eq!(ack["result"]["channel"], "noid");
    assert_eq!(client_ids(&ack["result"]["members"]), ["alice"]);

    alice
        .send(json!({"op": "publish", "channel": "noid", "data": 1, "echo": false}))
        .await;
    let ack = alice.expect("ack").await;
    assert_eq!(
        ack,
        json!({"type": "ack", "result": {"channel": "noid", "seq": 2}})
    );

    alice.send(json!({"op": "leave", "channel": "noid"})).await;
    assert_eq!(alice.recv().await, json!({"type": "ack"}));
}

// ---------------------------------------------------------------------------------------------
// disconnects

#[tokio::test]
async fn a_clean_close_leaves_every_channel_at_once() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    for channel in ["a", "b"] {
        alice.join(channel, json!({})).await;
        bob.join(channel, json!({})).await;
        let _ = alice.expect("join").await;
    }
    let normal = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    bob.ws.close(Some(normal)).await.unwrap();
    let mut left = Vec::new();
    for _ in 0..2 {
        let leave = alice.expect("leave").await;
        assert_eq!(leave["client_id"], "bob");
        left.push(leave["channel"].as_str().unwrap().to_owned());
    }
    left.sort();
    assert_eq!(left, ["a", "b"]);
    // The server completes the close handshake.
    let close = bob.expect_close().await;
    assert_eq!(close.map(|(code, _)| code), Some(1000));
    let members = alice.ok(1, json!({"op": "members", "channel": "a"})).await;
    assert_eq!(client_ids(&members["members"]), ["alice"]);
    assert_drained(&mut alice).await;
}

#[tokio::test]
async fn a_dropped_connection_leaves_promptly() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice.join("drop", json!({})).await;
    bob.join("drop", json!({})).await;
    let _ = alice.expect("join").await;
    // No close frame: the TCP stream just goes away.
    drop(bob);
    let leave = alice.expect("leave").await;
    assert_eq!(leave["client_id"], "bob");
    assert_drained(&mut alice).await;
}

#[tokio::test]
async fn a_shut_down_tcp_stream_leaves_promptly() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice.join("shut", json!({})).await;
    bob.join("shut", json!({})).await;
    let _ = alice.expect("join").await;
    let MaybeTlsStream::Plain(tcp) = bob.ws.get_mut() else {
        panic!("a plain TCP stream");
    };
    tcp.shutdown().await.unwrap();
    let leave = alice.expect("leave").await;
    assert_eq!(leave["client_id"], "bob");
    assert_eq!(leave["connection_id"], bob.connection_id());
    drop(bob);
    assert_drained(&mut alice).await;
}

#[tokio::test]
async fn a_silent_client_is_removed_after_the_heartbeat_timeout() {
    let server = start(fast_heartbeat()).await;
    let mut alice = Client::anon(&server, "alice").await;
    alice.join("beat", json!({})).await;

    // A hand-made WebSocket client that joins, then never answers a ping.
    let mut zombie = RawWs::connect(&server, "app=dev-key&client_id=zombie").await;
    let session = zombie.next_json().await;
    assert_eq!(session["type"], "session");
    assert_eq!(session["heartbeat_timeout_ms"], 300);
    zombie
        .send_text(r#"{"op":"join","id":1,"channel":"beat","data":{}}"#)
        .await;
    let ack = zombie.next_json().await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let join = alice.expect("join").await;
    assert_eq!(join["client_id"], "zombie");

    let leave = timeout(Duration::from_secs(2), alice.expect("leave"))
        .await
        .expect("the silent client leaves within 2 s");
    assert_eq!(leave["client_id"], "zombie");

    // The zombie's socket got the reason and close code 4008, after some unanswered pings.
    let mut pings = 0;
    let mut error = None;
    let close = loop {
        let Some((opcode, payload)) = zombie.next_frame().await else {
            break None;
        };
        match opcode {
            0x9 => pings += 1,
            0x1 => error = Some(serde_json::from_slice::<Value>(&payload).unwrap()),
            0x8 => break Some(payload),
            other => panic!("unexpected opcode {other}"),
        }
    };
    assert!(pings >= 1, "the server pinged before giving up");
    let error = error.expect("an error message before the close");
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "heartbeat_timeout");
    let close = close.expect("a close frame");
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 4008);
    assert_eq!(&close[2..], b"heartbeat_timeout");

    // Alice, idle but answering pings, stays for several timeouts.
    alice.expect_silence(Duration::from_millis(1000)).await;
    let members = alice
        .ok(2, json!({"op": "members", "channel": "beat"}))
        .await;
    assert_eq!(client_ids(&members["members"]), ["alice"]);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_removed_after_the_heartbeat_timeout() {
    let server = start(fast_heartbeat()).await;
    let mut alice = Client::anon(&server, "alice").await;
    alice.join("beat", json!({})).await;
    // A real client library whose stream is simply no longer polled: it never answers a ping.
    let mut bob = Client::anon(&server, "bob").await;
    bob.join("beat", json!({})).await;
    let _ = alice.expect("join").await;
    let leave = timeout(Duration::from_secs(2), alice.expect("leave"))
        .await
        .expect("the unresponsive client leaves within 2 s");
    assert_eq!(leave["client_id"], "bob");
    assert_eq!(leave["connection_id"], bob.connection_id());
    // If the client library still reads the close frame, it carries 4008.
    if let Some((code, reason)) = bob.expect_close().await {
        assert_eq!((code, reason.as_str()), (4008, "heartbeat_timeout"));
    }
}

// ---------------------------------------------------------------------------------------------
// tokens

fn grants(join: &[&str], watch: &[&str], publish: &[&str]) -> Grants {
    let patterns = |list: &[&str]| list.iter().map(|p| ChannelPattern::new(*p)).collect();
    Grants {
        join: patterns(join),
        watch: patterns(watch),
        publish: patterns(publish),
    }
}

#[tokio::test]
async fn a_second_device_joining_without_data_keeps_the_members_data() {
    let server = start_default().await;
    let t = token("tom", Some(json!({"role": "viewer"})), None, None);
    let mut phone = with_token(&server, &t).await;
    let mut laptop = with_token(&server, &t).await;
    phone.join("room", json!({"status": "busy"})).await;

    let snapshot = laptop.ok(1, json!({"op": "join", "channel": "room"})).await;
    assert_eq!(
        member_of(&snapshot, "tom")["data"],
        json!({"status": "busy", "role": "viewer"}),
        "the token's data must not wipe what the first device set"
    );
    let update = phone.expect("update").await;
    assert_eq!(update["reason"], "connection_added");
    assert_eq!(
        update["member"]["data"],
        json!({"status": "busy", "role": "viewer"})
    );
}

#[tokio::test]
async fn a_token_names_the_client_and_its_data_wins() {
    let server = start_default().await;
    let data = json!({"role": "viewer", "verified": true});
    let mut tina = with_token(&server, &token("tina", Some(data), None, None)).await;
    assert_eq!(tina.session["client_id"], "tina");

    let snapshot = tina
        .join("room-1", json!({"name": "Tina", "role": "admin"}))
        .await;
    let me = member_of(&snapshot, "tina");
    assert_eq!(
        me["data"],
        json!({"name": "Tina", "role": "viewer", "verified": true})
    );

    // Updates cannot override the token's keys either.
    let (result, _) = ok_with(
        &mut tina,
        1,
        json!({"op": "update", "channel": "room-1", "data": {"role": "admin"}}),
    )
    .await;
    assert_eq!(result["changed"], true);
    let (result, _) = ok_with(
        &mut tina,
        2,
        json!({"op": "update", "channel": "room-1", "patch": {"verified": null}}),
    )
    .await;
    assert_eq!(result["changed"], false);
    let one = tina
        .ok(
            3,
            json!({"op": "members", "channel": "room-1", "client_id": "tina"}),
        )
        .await;
    assert_eq!(
        one["member"]["data"],
        json!({"role": "viewer", "verified": true})
    );

    // Joining without data enters with the token's data; a token without grants may do anything.
    let snapshot = tina
        .ok(4, json!({"op": "join", "channel": "anything"}))
        .await;
    assert_eq!(
        member_of(&snapshot, "tina")["data"],
        json!({"role": "viewer", "verified": true})
    );
    let (result, _) = ok_with(
        &mut tina,
        5,
        json!({"op": "publish", "channel": "anything", "data": 1}),
    )
    .await;
    assert_eq!(result["seq"], 2);
}

#[tokio::test]
async fn join_grants_limit_join_and_watch_and_imply_no_publish() {
    let server = start_default().await;
    let t = token("jo", None, Some(grants(&["room-*"], &[], &[])), None);
    let mut jo = with_token(&server, &t).await;

    jo.join("room-1", json!({})).await;
    let code = jo
        .err(1, json!({"op": "join", "channel": "lobby", "data": {}}))
        .await;
    assert_eq!(code, "forbidden");
    // A join grant implies watching.
    jo.ok(2, json!({"op": "watch", "channel": "room-2"})).await;
    let code = jo.err(3, json!({"op": "watch", "channel": "lobby"})).await;
    assert_eq!(code, "forbidden");
    let code = jo
        .err(4, json!({"op": "members", "channel": "lobby"}))
        .await;
    assert_eq!(code, "forbidden");

    // Grants without a publish list: no publishing of any kind, even where joined.
    let code = jo
        .err(5, json!({"op": "publish", "channel": "room-1", "data": 1}))
        .await;
    assert_eq!(code, "forbidden");
    let code = jo
        .err(
            6,
            json!({"op": "ephemeral", "channel": "room-1", "data": 1}),
        )
        .await;
    assert_eq!(code, "forbidden");
    let _other = with_token(&server, &token("pat", None, None, None)).await;
    let code = jo
        .err(
            7,
            json!({"op": "invite", "channel": "room-1", "client_id": "pat"}),
        )
        .await;
    assert_eq!(code, "forbidden");
}

#[tokio::test]
async fn watch_and_publish_grants_allow_exactly_what_they_list() {
    let server = start_default().await;
    let t = token("wes", None, Some(grants(&[], &["news"], &[])), None);
    let mut wes = with_token(&server, &t).await;
    wes.ok(1, json!({"op": "watch", "channel": "news"})).await;
    wes.ok(2, json!({"op": "members", "channel": "news"})).await;
    let code = wes
        .err(3, json!({"op": "join", "channel": "news", "data": {}}))
        .await;
    assert_eq!(code, "forbidden");
    let code = wes.err(4, json!({"op": "watch", "channel": "sport"})).await;
    assert_eq!(code, "forbidden");

    let t = token(
        "pia",
        None,
        Some(grants(&["room-*"], &[], &["room-1"])),
        None,
    );
    let mut pia = with_token(&server, &t).await;
    pia.join("room-1", json!({})).await;
    pia.join("room-2", json!({})).await;
    let (result, _) = ok_with(
        &mut pia,
        5,
        json!({"op": "publish", "channel": "room-1", "data": "ok"}),
    )
    .await;
    assert_eq!(result["seq"], 2);
    let code = pia
        .err(
            6,
            json!({"op": "publish", "channel": "room-2", "data": "no"}),
        )
        .await;
    assert_eq!(code, "forbidden");
}

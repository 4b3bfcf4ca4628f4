//! The driver against an in-memory server, under tokio's paused clock: backoff schedules are
//! checked to the millisecond without waiting for them.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, timeout};

use crate::transport::fake::{Attempt, FakeConnector, ServerEnd};
use crate::{
    Backoff, Channel, ChannelEvent, Client, CloseReason, ConnectOptions, ConnectionState, Error,
    ErrorCode, UpdateReason,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn options() -> ConnectOptions {
    ConnectOptions::anonymous("ann".parse().unwrap()).with_reconnect(Backoff {
        initial: ms(100),
        max: ms(1_000),
        multiplier: 2.0,
        jitter: 0.0,
        max_attempts: None,
    })
}

struct Setup {
    client: Client,
    connector: FakeConnector,
    ends: UnboundedReceiver<ServerEnd>,
    server: ServerEnd,
}

async fn connected(options: ConnectOptions) -> Setup {
    let (connector, mut ends) = FakeConnector::new(&[Attempt::Accept]);
    let start = tokio::spawn(Client::start(connector.clone(), options));
    let server = ends.recv().await.unwrap();
    server.greet("1.1");
    let client = start.await.unwrap().unwrap();
    Setup {
        client,
        connector,
        ends,
        server,
    }
}

fn member(id: &str, data: Value) -> Value {
    let mut member = json!({"client_id": id, "joined_at": 1, "updated_at": 1,
                            "connections": [{"connection_id": "1.1", "joined_at": 1}]});
    member["data"] = data;
    member
}

fn snapshot(seq: u64, members: &[Value]) -> Value {
    json!({"channel": "room", "seq": seq, "members": members})
}

async fn join_room(setup: &mut Setup, data: Value, members: &[Value]) -> Channel {
    let server = &mut setup.server;
    let (channel, ()) = tokio::join!(setup.client.join("room", data), async {
        let request = server.recv().await;
        assert_eq!(request["op"], "join");
        server.ack(&request, &snapshot(1, members));
    });
    channel.unwrap()
}

async fn next(channel: &mut Channel) -> ChannelEvent {
    timeout(Duration::from_secs(60), channel.next_event())
        .await
        .expect("an event")
        .expect("the channel is open")
}

fn who(event: &ChannelEvent) -> String {
    match event {
        ChannelEvent::MemberJoined(m) => format!("+{}", m.client_id),
        ChannelEvent::MemberLeft(m) => format!("-{}", m.client_id),
        ChannelEvent::MemberUpdated { member, .. } => format!("~{}", member.client_id),
        ChannelEvent::Resynced { cause, members } => format!("resynced {cause:?} {members}"),
        other => format!("{other:?}"),
    }
}

async fn closed(client: &Client) -> CloseReason {
    let mut states = client.state_changes();
    loop {
        if let ConnectionState::Closed(reason) = states.borrow_and_update().clone() {
            return reason;
        }
        timeout(Duration::from_secs(600), states.changed())
            .await
            .expect("closes in time")
            .expect("state is kept until the end");
    }
}

#[tokio::test(start_paused = true)]
async fn reconnects_with_backoff_rejoins_with_latest_data_and_reports_only_differences() {
    let mut setup = connected(options()).await;
    let mut room = join_room(
        &mut setup,
        json!({"a": 1}),
        &[member("ann", json!({"a": 1})), member("bob", json!({}))],
    )
    .await;
    let server = &mut setup.server;
    let (updated, ()) = tokio::join!(room.patch(json!({"b": 2})), async {
        let request = server.recv().await;
        assert_eq!(request["patch"], json!({"b": 2}));
        server.send(
            &json!({"type": "update", "channel": "room", "seq": 2, "ts": 1,
            "client_id": "ann", "connection_id": "1.1", "reason": "data",
            "member": member("ann", json!({"a": 1, "b": 2}))}),
        );
        server.ack(
            &request,
            &json!({"channel": "room", "seq": 2, "changed": true}),
        );
    });
    assert!(updated.unwrap().changed);
    let event = next(&mut room).await;
    assert!(matches!(
        &event,
        ChannelEvent::MemberUpdated { reason: UpdateReason::Data, previous: Some(p), .. } if p.data == json!({"a": 1})
    ));

    setup
        .connector
        .then(&[Attempt::Refuse, Attempt::Refuse, Attempt::Accept]);
    let lost_at = Instant::now();
    setup.server.hang_up();
    let mut server = setup.ends.recv().await.unwrap();
    let waits: Vec<Duration> = setup.connector.attempt_times()[1..]
        .iter()
        .map(|t| t.duration_since(lost_at))
        .collect();
    assert_eq!(
        waits,
        [ms(100), ms(300), ms(700)],
        "100, then 200, then 400 ms apart"
    );

    server.greet("1.2");
    let rejoin = server.recv().await;
    assert_eq!(rejoin["op"], "join");
    assert_eq!(rejoin["data"], json!({"a": 1, "b": 2}), "the latest data");
    server.ack(
        &rejoin,
        &snapshot(
            1,
            &[
                member("ann", json!({"a": 1, "b": 2})),
                member("cat", json!({})),
            ],
        ),
    );
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(who(&next(&mut room).await));
    }
    assert_eq!(events, ["-bob", "+cat", "resynced Reconnected 2"]);
    assert_eq!(setup.client.session().connection_id.to_string(), "1.2");
    assert_eq!(setup.client.state(), ConnectionState::Connected);
    let ids: Vec<String> = room
        .members()
        .iter()
        .map(|m| m.client_id.to_string())
        .collect();
    assert_eq!(ids, ["ann", "cat"]);
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_the_configured_attempts() {
    let mut options = options();
    options.reconnect.max_attempts = Some(2);
    let mut setup = connected(options).await;
    setup.server.hang_up();
    assert_eq!(
        closed(&setup.client).await,
        CloseReason::GaveUp { attempts: 2 }
    );
    assert_eq!(setup.connector.attempt_times().len(), 3);
    assert!(matches!(
        setup.client.join("room", Value::Null).await,
        Err(Error::Closed)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_refused_token_on_reconnect_closes_for_good() {
    let mut setup = connected(options()).await;
    setup.connector.then(&[Attempt::Accept]);
    setup.server.hang_up();
    let server = setup.ends.recv().await.unwrap();
    server.send(&json!({"type": "error", "code": "token_expired", "message": "token expired"}));
    let CloseReason::Rejected(error) = closed(&setup.client).await else {
        panic!("expected a rejection")
    };
    assert_eq!(error.code, ErrorCode::TokenExpired);
}

#[tokio::test(start_paused = true)]
async fn a_late_publish_ack_leads_to_a_retry_with_the_same_message_id() {
    let mut setup = connected(options().with_publish_retry(ms(500), 3)).await;
    let room = join_room(&mut setup, json!({}), &[member("ann", json!({}))]).await;
    let server = &mut setup.server;
    let started = Instant::now();
    let (published, ()) = tokio::join!(room.publish(json!({"text": "hi"})), async {
        let first = server.recv().await;
        let second = server.recv().await;
        assert_eq!(second["op"], "publish");
        assert_eq!(second["message_id"], first["message_id"]);
        assert_ne!(second["id"], first["id"]);
        server.ack(&second, &json!({"channel": "room", "duplicate": true}));
        server.ack(&first, &json!({"channel": "room", "seq": 2}));
    });
    let published = published.unwrap();
    assert!(published.duplicate);
    assert_eq!(published.attempts, 2);
    assert_eq!(started.elapsed(), ms(500));
}

#[tokio::test(start_paused = true)]
async fn calls_in_flight_are_resent_after_a_reconnect_when_idempotent() {
    let mut setup = connected(options()).await;
    let mut room = join_room(
        &mut setup,
        json!({"a": 1}),
        &[member("ann", json!({"a": 1}))],
    )
    .await;
    let (connector, ends, server) = (&setup.connector, &mut setup.ends, &mut setup.server);
    let (updated, ephemeral, ()) = tokio::join!(
        room.update(json!({"x": 1})),
        room.send_ephemeral(json!("typing")),
        async {
            assert_eq!(server.recv().await["op"], "update");
            assert_eq!(server.recv().await["op"], "ephemeral");
            connector.then(&[Attempt::Accept]);
            server.hang_up();
            let mut next = ends.recv().await.unwrap();
            next.greet("1.2");
            let rejoin = next.recv().await;
            assert_eq!(
                rejoin["data"],
                json!({"a": 1}),
                "the update was never acknowledged"
            );
            next.ack(&rejoin, &snapshot(1, &[member("ann", json!({"a": 1}))]));
            let resent = next.recv().await;
            assert_eq!(resent["op"], "update");
            assert_eq!(resent["data"], json!({"x": 1}));
            next.ack(
                &resent,
                &json!({"channel": "room", "seq": 2, "changed": true}),
            );
            *server = next;
        }
    );
    assert_eq!(updated.unwrap().seq, 2);
    assert!(matches!(ephemeral, Err(Error::Disconnected)));
    assert_eq!(who(&next(&mut room).await), "resynced Reconnected 1");
}

#[tokio::test(start_paused = true)]
async fn a_sequence_gap_triggers_a_resync() {
    let mut setup = connected(options()).await;
    let mut room = join_room(&mut setup, json!({}), &[member("ann", json!({}))]).await;
    let server = &mut setup.server;
    server.send(
        &json!({"type": "join", "channel": "room", "seq": 3, "ts": 1, "client_id": "bob",
        "connection_id": "1.9", "member": member("bob", json!({}))}),
    );
    let request = server.recv().await;
    assert_eq!(request["op"], "members");
    server.ack(
        &request,
        &snapshot(
            3,
            &[
                member("ann", json!({})),
                member("bob", json!({})),
                member("cat", json!({})),
            ],
        ),
    );
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(who(&next(&mut room).await));
    }
    assert_eq!(events, ["+bob", "+cat", "resynced Gap 3"]);
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_is_given_up_on_and_reconnected() {
    let (connector, mut ends) = FakeConnector::new(&[Attempt::Accept, Attempt::Accept]);
    let start = tokio::spawn(Client::start(connector.clone(), options()));
    let mut first = ends.recv().await.unwrap();
    first.greet_with("1.1", 1_000, 3_000);
    let _client = start.await.unwrap().unwrap();
    let began = Instant::now();
    // The client keeps the server informed while it waits.
    let ping = timeout(Duration::from_secs(2), first.recv_raw())
        .await
        .unwrap();
    assert_eq!(ping["op"], "ping");
    let _second = ends.recv().await.unwrap();
    // Silence for the timeout plus a second of grace, then the first backoff step.
    assert_eq!(began.elapsed(), ms(4_000 + 100));
}

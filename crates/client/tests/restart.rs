//! The member view converges after the server restarts mid-session.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Node, PATIENCE, any_port, connect, eventually, ids, next_event, options};
use rollcall_client::{
    Backoff, ChannelEvent, Client, ClientEvent, ConnectionState, ErrorCode, ResyncCause,
};
use rollcall_server::config::Config;
use serde_json::json;

#[tokio::test]
async fn members_converge_after_a_server_restart() {
    let node = Node::start_async(any_port()).await;
    let addr = node.addr;
    let alice = connect(&node.url(), "alice").await;
    let bob = connect(&node.url(), "bob").await;
    let mut a_lobby = alice.join("lobby", json!({"n": "a"})).await.unwrap();
    let mut b_lobby = bob.join("lobby", json!({"n": "b"})).await.unwrap();
    assert!(matches!(
        next_event(&mut a_lobby).await,
        ChannelEvent::MemberJoined(_)
    ));
    let before = alice.session().connection_id;

    tokio::task::spawn_blocking(move || node.stop())
        .await
        .unwrap();
    let mut states = alice.state_changes();
    tokio::time::timeout(
        PATIENCE,
        states.wait_for(|s| {
            matches!(
                s,
                ConnectionState::Reconnecting { .. } | ConnectionState::Connecting { .. }
            )
        }),
    )
    .await
    .expect("alice notices the restart")
    .unwrap();

    // An update made while the server is down waits, and is applied after the re-join.
    let (patched, node) = tokio::join!(a_lobby.patch(json!({"status": "away"})), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        Node::start_async(addr).await
    });
    assert!(patched.unwrap().changed);

    let alice_data = json!({"n": "a", "status": "away"});
    for (who, lobby) in [("alice", &a_lobby), ("bob", &b_lobby)] {
        eventually(&format!("{who}'s view to converge"), || {
            ids(lobby) == ["alice", "bob"]
                && lobby.member("alice").is_some_and(|m| m.data == alice_data)
                && lobby
                    .member("bob")
                    .is_some_and(|m| m.data == json!({"n": "b"}))
        })
        .await;
    }
    assert_ne!(alice.session().connection_id, before, "a new session");
    assert_eq!(alice.state(), ConnectionState::Connected);
    for lobby in [&mut a_lobby, &mut b_lobby] {
        loop {
            if let ChannelEvent::Resynced { cause, .. } = next_event(lobby).await {
                assert_eq!(cause, ResyncCause::Reconnected);
                break;
            }
        }
    }
    // The server's own view agrees with the clients'.
    let listed = bob.members("lobby").await.unwrap();
    let names: Vec<String> = listed
        .members
        .iter()
        .map(|m| m.client_id.to_string())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    drop(node);
}

#[tokio::test]
async fn a_graceful_shutdown_is_reported_and_the_client_comes_back() {
    let node = Node::start_async(any_port()).await;
    let addr = node.addr;
    let alice = connect(&node.url(), "alice").await;
    let mut events = alice.events();
    let mut lobby = alice.join("lobby", json!({"n": "a"})).await.unwrap();

    tokio::task::spawn_blocking(move || node.stop_gracefully())
        .await
        .unwrap();
    let event = tokio::time::timeout(PATIENCE, events.next()).await.unwrap();
    assert!(
        matches!(&event, Some(ClientEvent::ServerError(e)) if e.code == ErrorCode::ServerShutdown),
        "{event:?}"
    );
    let _node = Node::start_async(addr).await;
    loop {
        if let ChannelEvent::Resynced { members, .. } = next_event(&mut lobby).await {
            assert_eq!(members, 1);
            break;
        }
    }
    assert_eq!(ids(&lobby), ["alice"]);
}

#[tokio::test]
async fn after_a_graceful_shutdown_the_first_retry_waits_as_the_server_asked() {
    // The server spreads reconnections over 300 ms; the client's own backoff would wait a
    // minute. The first retry must keep to the server's window.
    let config = Config {
        listen: any_port(),
        shutdown: rollcall_server::config::ShutdownConfig {
            reconnect_window_ms: 300,
            ..Default::default()
        },
        ..Config::default()
    };
    let node = tokio::task::spawn_blocking(move || Node::start_with(config))
        .await
        .unwrap();
    let slow = Backoff {
        initial: std::time::Duration::from_secs(60),
        max: std::time::Duration::from_secs(60),
        ..Backoff::default()
    };
    let alice = Client::connect(&node.url(), options("alice").with_reconnect(slow))
        .await
        .unwrap();
    let mut states = alice.state_changes();
    tokio::task::spawn_blocking(move || node.stop_gracefully())
        .await
        .unwrap();
    let state = tokio::time::timeout(
        PATIENCE,
        states.wait_for(|s| matches!(s, ConnectionState::Reconnecting { .. })),
    )
    .await
    .expect("alice notices the shutdown")
    .unwrap()
    .clone();
    let ConnectionState::Reconnecting { attempt, retry_in } = state else {
        unreachable!()
    };
    assert_eq!(attempt, 1);
    assert!(
        retry_in <= std::time::Duration::from_millis(300),
        "the first retry waits {retry_in:?}, not the server's hint (at most 300 ms)"
    );
}

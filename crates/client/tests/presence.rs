//! Two SDK clients in one channel, against a real server.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Node, any_port, connect, ids, next_event};
use rollcall_client::{ChannelEvent, UpdateReason};
use serde_json::json;

#[tokio::test]
async fn two_clients_see_each_others_join_update_and_leave() {
    let node = Node::start_async(any_port()).await;
    let alice = connect(&node.url(), "alice").await;
    let mut a_lobby = alice.join("lobby", json!({"name": "Alice"})).await.unwrap();
    assert_eq!(ids(&a_lobby), ["alice"]);

    let bob = connect(&node.url(), "bob").await;
    let mut b_lobby = bob.join("lobby", json!({"name": "Bob"})).await.unwrap();
    assert_eq!(ids(&b_lobby), ["alice", "bob"]);
    assert_eq!(
        b_lobby.member("alice").unwrap().data,
        json!({"name": "Alice"})
    );

    let ChannelEvent::MemberJoined(joined) = next_event(&mut a_lobby).await else {
        panic!("expected bob's join")
    };
    assert_eq!(joined.client_id.as_str(), "bob");
    assert_eq!(
        joined.connections[0].connection_id,
        bob.session().connection_id
    );
    assert!(a_lobby.is_present("bob"));

    let updated = b_lobby.patch(json!({"status": "away"})).await.unwrap();
    assert!(updated.changed);
    for lobby in [&mut a_lobby, &mut b_lobby] {
        let ChannelEvent::MemberUpdated {
            member,
            previous,
            reason,
        } = next_event(lobby).await
        else {
            panic!("expected bob's update")
        };
        assert_eq!(reason, UpdateReason::Data);
        assert_eq!(member.data, json!({"name": "Bob", "status": "away"}));
        assert_eq!(previous.unwrap().data, json!({"name": "Bob"}));
    }
    assert_eq!(
        a_lobby.member("bob").unwrap().data,
        json!({"name": "Bob", "status": "away"})
    );

    b_lobby.leave().await.unwrap();
    let ChannelEvent::MemberLeft(left) = next_event(&mut a_lobby).await else {
        panic!("expected bob's leave")
    };
    assert_eq!(left.client_id.as_str(), "bob");
    assert_eq!(ids(&a_lobby), ["alice"]);
    assert!(!alice.is_present("lobby", "bob").await.unwrap());
    assert!(bob.is_present("lobby", "alice").await.unwrap());
    let listed = bob.members("lobby").await.unwrap();
    assert_eq!(listed.members.len(), 1);
    assert_eq!(listed.seq, 4, "join, join, update, leave");
}

#[tokio::test]
async fn a_dropped_channel_handle_leaves_and_a_closed_client_leaves_everything() {
    let node = Node::start_async(any_port()).await;
    let alice = connect(&node.url(), "alice").await;
    let mut watching = alice.watch("lobby").await.unwrap();
    assert!(!watching.is_member());

    let bob = connect(&node.url(), "bob").await;
    let lobby = bob.join("lobby", json!({})).await.unwrap();
    let room = bob.join("room", json!({})).await.unwrap();
    assert!(matches!(
        next_event(&mut watching).await,
        ChannelEvent::MemberJoined(_)
    ));
    drop(lobby);
    assert!(matches!(
        next_event(&mut watching).await,
        ChannelEvent::MemberLeft(_)
    ));

    let mut in_room = alice.watch("room").await.unwrap();
    assert_eq!(ids(&in_room), ["bob"]);
    bob.close().await;
    assert!(matches!(
        next_event(&mut in_room).await,
        ChannelEvent::MemberLeft(_)
    ));
    assert!(matches!(
        room.publish(json!("too late")).await,
        Err(rollcall_client::Error::Closed)
    ));
}

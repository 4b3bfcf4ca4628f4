//! Invitations: sent, received on the client-level stream, accepted (which joins) or declined.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Node, PATIENCE, any_port, connect, ids, next_event};
use rollcall_client::{ChannelEvent, ClientEvent, ClientEvents, Error, ErrorCode, Invitation};
use serde_json::json;

async fn next(events: &mut ClientEvents) -> ClientEvent {
    tokio::time::timeout(PATIENCE, events.next())
        .await
        .expect("a client event in time")
        .expect("the client is open")
}

async fn invitation_for(events: &mut ClientEvents) -> Invitation {
    match next(events).await {
        ClientEvent::Invitation(invitation) => invitation,
        other => panic!("expected an invitation, got {other:?}"),
    }
}

#[tokio::test]
async fn an_invitation_round_trip() {
    let node = Node::start_async(any_port()).await;
    let alice = connect(&node.url(), "alice").await;
    let mut alice_events = alice.events();
    let mut room = alice.join("room", json!({"name": "Alice"})).await.unwrap();
    let bob = connect(&node.url(), "bob").await;
    let mut bob_events = bob.events();

    let invited = room
        .invite("bob", Some(json!({"note": "come in"})))
        .await
        .unwrap();
    assert_eq!(invited.delivered, 1);
    let invitation = invitation_for(&mut bob_events).await;
    assert_eq!(invitation.invitation_id, invited.invitation_id);
    assert_eq!(invitation.from.as_str(), "alice");
    assert_eq!(invitation.channel.as_str(), "room");
    assert_eq!(invitation.data, Some(json!({"note": "come in"})));

    let bob_room = invitation.accept(json!({"name": "Bob"})).await.unwrap();
    assert_eq!(ids(&bob_room), ["alice", "bob"]);
    let ClientEvent::InvitationReply(reply) = next(&mut alice_events).await else {
        panic!("expected the reply")
    };
    assert!(reply.accepted);
    assert_eq!(reply.client_id.as_str(), "bob");
    assert!(
        matches!(next_event(&mut room).await, ChannelEvent::MemberJoined(m) if m.data == json!({"name": "Bob"}))
    );

    // Declining, and answering twice.
    let carol = connect(&node.url(), "carol").await;
    let mut carol_events = carol.events();
    room.invite("carol", None).await.unwrap();
    let invitation = invitation_for(&mut carol_events).await;
    invitation.decline().await.unwrap();
    let ClientEvent::InvitationReply(reply) = next(&mut alice_events).await else {
        panic!("expected the reply")
    };
    assert!(!reply.accepted);
    let again = invitation.decline().await.unwrap_err();
    assert_eq!(again.code(), Some(ErrorCode::InvitationNotFound));
    assert!(matches!(again, Error::Server(_)));

    let nobody = room.invite("dave", None).await.unwrap_err();
    assert_eq!(nobody.code(), Some(ErrorCode::ClientNotConnected));
}

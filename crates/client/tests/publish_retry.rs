//! A publish whose ack is late is sent again, and the channel still sees it once.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Node, PATIENCE, Proxy, any_port, connect, next_message, options};
use rollcall_client::{ChannelEvent, Client};
use serde_json::json;

#[tokio::test]
async fn a_retried_publish_is_delivered_once() {
    let node = Node::start_async(any_port()).await;
    let proxy = Proxy::start(node.addr).await;
    let publisher = Client::connect(
        &proxy.url(),
        options("publisher").with_publish_retry(Duration::from_millis(150), 10),
    )
    .await
    .unwrap();
    let mut p_room = publisher.join("room", json!({})).await.unwrap();
    let listener = connect(&node.url(), "listener").await;
    let mut l_room = listener.join("room", json!({})).await.unwrap();

    // The server gets the publish (and every retry) at once; its acks wait in the proxy.
    proxy.hold(true);
    let (published, ()) = tokio::join!(p_room.publish(json!({"text": "once"})), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        proxy.hold(false);
    });
    let published = published.unwrap();
    assert!(published.attempts >= 2, "{published:?}");
    assert!(
        published.duplicate,
        "the acknowledged attempt was a repeat: {published:?}"
    );

    for room in [&mut l_room, &mut p_room] {
        let ChannelEvent::Message(message) = next_message(room).await else {
            panic!("expected the message")
        };
        assert_eq!(message.data, json!({"text": "once"}));
        assert_eq!(
            message.message_id.as_deref(),
            Some(published.message_id.as_str())
        );
    }
    // Nothing else: a second copy would have arrived right behind the first.
    p_room.publish(json!({"text": "marker"})).await.unwrap();
    for room in [&mut l_room, &mut p_room] {
        let ChannelEvent::Message(message) = next_message(room).await else {
            panic!("expected the marker")
        };
        assert_eq!(
            message.data,
            json!({"text": "marker"}),
            "no duplicate before the marker"
        );
    }
    let _ = PATIENCE;
}

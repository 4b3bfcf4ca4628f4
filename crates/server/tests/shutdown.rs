//! A stopping server tells every client why before it goes.

#![allow(clippy::unwrap_used)]

#[allow(unreachable_pub)]
mod common;

use common::{Client, start_default};
use serde_json::json;

#[tokio::test]
async fn stopping_the_server_closes_every_connection_with_server_shutdown() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let mut bob = Client::anon(&server, "bob").await;
    alice.join("lobby", json!({})).await;
    bob.join("lobby", json!({})).await;
    let _ = alice.expect("join").await;

    drop(server);

    for client in [&mut alice, &mut bob] {
        let mut saw_error = false;
        let close = loop {
            match client.try_recv().await {
                Some(message) if message["type"] == "error" => {
                    assert_eq!(message["code"], "server_shutdown", "{message}");
                    // A random delay within the default reconnect window (5 s).
                    let after = message["reconnect_after_ms"].as_u64().expect("a hint");
                    assert!(after <= 5000, "{message}");
                    saw_error = true;
                }
                // A leave of the other client may come first; anything else is a bug.
                Some(message) => assert_eq!(message["type"], "leave", "{message}"),
                None => break client.expect_close().await,
            }
        };
        assert!(saw_error, "an error message explains the close");
        assert_eq!(close, Some((1001, "server_shutdown".to_owned())));
    }
}

//! The shortest path through the protocol: two clients in one channel see each other.

#![allow(clippy::unwrap_used)]

// The harness's items are `pub` for every test crate that shares it.
#[allow(unreachable_pub)]
mod common;

use common::{Client, client_ids, start_default};
use serde_json::json;

#[tokio::test]
async fn two_clients_in_one_channel_see_each_other() {
    let server = start_default().await;
    let mut alice = Client::anon(&server, "alice").await;
    let snapshot = alice.join("lobby", json!({"name": "Alice"})).await;
    assert_eq!(client_ids(&snapshot["members"]), ["alice"]);

    let mut bob = Client::anon(&server, "bob").await;
    let snapshot = bob.join("lobby", json!({})).await;
    assert_eq!(client_ids(&snapshot["members"]), ["alice", "bob"]);

    let joined = alice.expect("join").await;
    assert_eq!(joined["client_id"], "bob");
    assert_eq!(joined["seq"], snapshot["seq"]);
    assert_eq!(joined["connection_id"], bob.connection_id());
}

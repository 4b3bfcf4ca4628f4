//! A live member list: joins a channel and redraws who is there whenever it changes.
//!
//! ```sh
//! rollcall serve &
//! cargo run -p rollcall-client --example presence_list -- lobby alice
//! cargo run -p rollcall-client --example presence_list -- lobby bob     # in another terminal
//! ```
//!
//! Arguments: channel (default `lobby`), client id (default `viewer-<pid>`), server URL (default
//! `ws://127.0.0.1:7070/ws`). Stop the server and start it again: the list comes back by itself.

use rollcall_client::{Channel, Client, ConnectOptions};
use serde_json::json;

fn show(channel: &Channel) {
    let names: Vec<String> = channel
        .members()
        .iter()
        .map(|m| match m.data.get("status").and_then(|s| s.as_str()) {
            Some(status) => format!("{} ({status})", m.client_id),
            None => m.client_id.to_string(),
        })
        .collect();
    println!("{}: {}", channel.name(), names.join(", "));
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let channel = args.next().unwrap_or_else(|| "lobby".into());
    let me = args
        .next()
        .unwrap_or_else(|| format!("viewer-{}", std::process::id()));
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:7070/ws".into());

    let client = Client::connect(&url, ConnectOptions::anonymous(me.parse()?)).await?;
    let mut lobby = client.join(&channel, json!({"status": "online"})).await?;
    show(&lobby);
    loop {
        tokio::select! {
            changed = lobby.members_changed() => {
                changed?;
                show(&lobby);
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    lobby.leave().await?;
    client.close().await;
    Ok(())
}

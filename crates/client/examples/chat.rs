//! A chat room in the terminal: lines typed on stdin are published, messages and arrivals are
//! printed.
//!
//! ```sh
//! rollcall serve &
//! cargo run -p rollcall-client --example chat -- room-1 alice
//! cargo run -p rollcall-client --example chat -- room-1 bob     # in another terminal
//! ```
//!
//! Arguments: channel, client id, server URL (default `ws://127.0.0.1:7070/ws`).

use rollcall_client::{ChannelEvent, Client, ConnectOptions};
use serde_json::json;
use tokio::sync::mpsc;

/// Lines from stdin, on a thread of their own (a blocking read cannot be cancelled).
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(channel), Some(me)) = (args.next(), args.next()) else {
        eprintln!("usage: chat <channel> <client-id> [url]");
        std::process::exit(2);
    };
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:7070/ws".into());

    let client = Client::connect(&url, ConnectOptions::anonymous(me.parse()?)).await?;
    let mut room = client.join(&channel, json!({"name": me})).await?;
    let others: Vec<String> = room
        .members()
        .iter()
        .map(|m| m.client_id.to_string())
        .filter(|id| *id != me)
        .collect();
    println!("* you are in {channel}; here: {}", others.join(", "));

    let mut lines = stdin_lines();
    loop {
        tokio::select! {
            Some(line) = lines.recv() => {
                // The ack comes back once the server has sent the message to everyone; a lost
                // ack is retried without the room seeing the line twice.
                if let Err(error) = room.publish(json!({"text": line})).await {
                    eprintln!("* not sent: {error}");
                }
            }
            event = room.next_event() => match event {
                Some(ChannelEvent::Message(m)) => {
                    let who = m.client_id.map_or_else(|| "someone".into(), |c| c.to_string());
                    let text = m.data["text"].as_str().map_or_else(|| m.data.to_string(), str::to_owned);
                    println!("{who}: {text}");
                }
                Some(ChannelEvent::MemberJoined(m)) => println!("* {} joined", m.client_id),
                Some(ChannelEvent::MemberLeft(m)) => println!("* {} left", m.client_id),
                Some(_) => {}
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    room.leave().await?;
    client.close().await;
    Ok(())
}

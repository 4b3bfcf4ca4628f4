//! A typing indicator with ephemeral messages: this client "types" for two seconds, sends a
//! line, rests, and repeats; meanwhile it shows who else is typing right now.
//!
//! ```sh
//! rollcall serve &
//! cargo run -p rollcall-client --example typing -- room-1 alice
//! cargo run -p rollcall-client --example typing -- room-1 bob     # in another terminal
//! ```
//!
//! Ephemeral messages suit this: they are not sequenced or kept, and a reader that lags skips
//! them instead of queueing stale "typing" signals. So each signal says "typing" and the reader
//! forgets it after a short while, rather than waiting for a "stopped typing" that may be lost.

use std::collections::HashMap;
use std::time::Duration;

use rollcall_client::{ChannelEvent, Client, ConnectOptions};
use serde_json::json;
use tokio::time::{Instant, interval};

/// How long a typing signal counts; signals are sent twice as often.
const FRESH: Duration = Duration::from_millis(1_000);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let channel = args.next().unwrap_or_else(|| "room-1".into());
    let me = args
        .next()
        .unwrap_or_else(|| format!("typist-{}", std::process::id()));
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:7070/ws".into());

    let client = Client::connect(&url, ConnectOptions::anonymous(me.parse()?)).await?;
    let mut room = client.join(&channel, json!({})).await?;
    let mut typing: HashMap<String, Instant> = HashMap::new();
    let mut shown = String::new();
    let mut ticks = interval(FRESH / 2);
    let mut tick: u32 = 0;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                tick = (tick + 1) % 10;
                match tick {
                    1..=4 => room.send_ephemeral(json!({"typing": true})).await?,
                    5 => {
                        room.publish(json!({"text": format!("a line from {me}")})).await?;
                    }
                    _ => {}
                }
            }
            event = room.next_event() => match event {
                Some(ChannelEvent::Ephemeral(e)) if e.data["typing"] == true => {
                    if let Some(who) = e.client_id {
                        typing.insert(who.to_string(), Instant::now());
                    }
                }
                Some(ChannelEvent::Message(m)) => {
                    if let Some(who) = &m.client_id {
                        typing.remove(who.as_str());
                    }
                    let who = m.client_id.map_or_else(String::new, |c| c.to_string());
                    println!("{who}: {}", m.data["text"].as_str().unwrap_or_default());
                }
                Some(_) => {}
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
        typing.retain(|_, at| at.elapsed() < FRESH);
        let mut names: Vec<&str> = typing.keys().map(String::as_str).collect();
        names.sort_unstable();
        let now = if names.is_empty() {
            String::new()
        } else {
            format!("{} typing…", names.join(", "))
        };
        if now != shown {
            println!(
                "[{}]",
                if now.is_empty() {
                    "nobody is typing"
                } else {
                    &now
                }
            );
            shown = now;
        }
    }
    room.leave().await?;
    client.close().await;
    Ok(())
}

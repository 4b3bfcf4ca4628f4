//! `rollcall join` and `rollcall watch`: a live member list and event feed; with `join`, lines
//! typed on stdin are published. Ctrl-C leaves cleanly.

use std::io::BufRead;

use clap::Args;
use rollcall_client::{Channel, ChannelName, Client, ConnectionState};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::output::Printer;
use crate::remote::{ConnectArgs, Failure, channel, json_arg};

/// Options of `rollcall join`.
#[derive(Debug, Args)]
pub(crate) struct JoinArgs {
    /// The channel to join.
    channel: String,

    /// Member data, a JSON object, e.g. '{"name":"Ann"}'.
    #[arg(long)]
    data: Option<String>,

    #[command(flatten)]
    connect: ConnectArgs,
}

/// Options of `rollcall watch`.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// The channel to watch.
    channel: String,

    #[command(flatten)]
    connect: ConnectArgs,
}

pub(crate) async fn join(args: JoinArgs) -> Result<(), Failure> {
    let name = channel(&args.channel)?;
    let data = match &args.data {
        Some(text) => json_arg("--data", text)?,
        None => Value::Null,
    };
    if !args.connect.has_identity() {
        return Err(Failure::Usage(
            "joining needs an identity: pass --as <client-id> or --token <token>".into(),
        ));
    }
    let printer = Printer::new(args.connect.json);
    let client = args.connect.connect().await?;
    let channel = client.join(name.as_str(), data).await?;
    announce(&printer, &client, &channel, "joined")?;
    follow(&printer, &client, channel, Some(stdin_lines())).await
}

pub(crate) async fn watch(args: WatchArgs) -> Result<(), Failure> {
    let name = channel(&args.channel)?;
    let printer = Printer::new(args.connect.json);
    let client = args.connect.connect().await?;
    let channel = client.watch(name.as_str()).await?;
    announce(&printer, &client, &channel, "watching")?;
    follow(&printer, &client, channel, None).await
}

fn announce(
    printer: &Printer,
    client: &Client,
    channel: &Channel,
    verb: &str,
) -> Result<(), Failure> {
    let session = client.session();
    let members = channel.members();
    let who = session
        .client_id
        .as_ref()
        .map_or_else(|| "an anonymous watcher".to_owned(), ToString::to_string);
    let header = json!({
        "event": verb, "channel": channel.name(), "client_id": session.client_id,
        "connection_id": session.connection_id,
    });
    let heading = format!(
        "{verb} {} as {who} — {} member{}",
        channel.name(),
        members.len(),
        if members.len() == 1 { "" } else { "s" }
    );
    printer.members(header, &heading, &members)?;
    if channel.is_member() {
        printer.note("(type a line to send it; Ctrl-C to leave)")?;
    }
    Ok(())
}

/// Lines from stdin, read on a thread of their own: a blocking read cannot be cancelled, and a
/// detached thread does not hold up the exit.
fn stdin_lines() -> mpsc::Receiver<String> {
    let (lines, receiver) = mpsc::channel(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines.blocking_send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

async fn follow(
    printer: &Printer,
    client: &Client,
    channel: Channel,
    mut input: Option<mpsc::Receiver<String>>,
) -> Result<(), Failure> {
    let mut channel = channel;
    let mut states = client.state_changes();
    states.mark_unchanged();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            event = channel.next_event() => match event {
                Some(event) => printer.event(channel.name(), &event)?,
                None => return Err(Failure::Runtime(format!("{} is no longer subscribed", channel.name()))),
            },
            changed = states.changed() => {
                if changed.is_err() {
                    return Err(Failure::Runtime("the connection closed".into()));
                }
                let state = states.borrow_and_update().clone();
                printer.state(&state, &client.session().connection_id.to_string())?;
                if let ConnectionState::Closed(reason) = state {
                    return Err(Failure::Runtime(format!("the connection closed: {reason:?}")));
                }
            }
            line = next_line(&mut input) => match line {
                Some(line) => publish(printer, &channel, line).await?,
                // End of input: keep following the channel.
                None => input = None,
            },
        }
    }
    let name: ChannelName = channel.name().clone();
    let left = channel.leave().await;
    client.close().await;
    left?;
    printer.either(
        &json!({"event": "left", "channel": name}),
        &format!("left {name}"),
    )?;
    Ok(())
}

async fn next_line(input: &mut Option<mpsc::Receiver<String>>) -> Option<String> {
    match input {
        Some(lines) => lines.recv().await,
        None => std::future::pending().await,
    }
}

async fn publish(printer: &Printer, channel: &Channel, line: String) -> Result<(), Failure> {
    if line.trim().is_empty() {
        return Ok(());
    }
    match channel.publish(json!({ "text": line })).await {
        Ok(published) => printer.json_only(&json!({
            "event": "published", "channel": channel.name(),
            "message_id": published.message_id, "seq": published.seq,
        }))?,
        // A failed line is reported and the session goes on.
        Err(error) => eprintln!("rollcall: not sent: {}", crate::remote::explain(&error)),
    }
    Ok(())
}

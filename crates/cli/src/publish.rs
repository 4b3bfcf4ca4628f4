//! `rollcall publish <channel> <message>`: one message, acknowledged.

use clap::Args;
use serde_json::json;

use crate::output::Printer;
use crate::remote::{ConnectArgs, Failure, channel, json_arg};

/// Options of `rollcall publish`.
#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// The channel.
    channel: String,

    /// The message. Sent as {"text": MESSAGE}, or as given with --raw.
    message: String,

    /// Send MESSAGE as a JSON value rather than as {"text": MESSAGE}.
    #[arg(long)]
    raw: bool,

    #[command(flatten)]
    connect: ConnectArgs,
}

pub(crate) async fn run(args: PublishArgs) -> Result<(), Failure> {
    let name = channel(&args.channel)?;
    let data = if args.raw {
        json_arg("MESSAGE", &args.message)?
    } else {
        json!({ "text": args.message })
    };
    let printer = Printer::new(args.connect.json);
    let client = args.connect.connect().await?;
    // The server delivers messages only from subscribers; watching is the lightest way to be one.
    let outcome = async {
        let channel = client.watch(name.as_str()).await?;
        let published = channel.publish(data).await?;
        channel.leave().await?;
        Ok::<_, rollcall_client::Error>(published)
    }
    .await;
    client.close().await;
    let published = outcome?;
    let seq = published
        .seq
        .map_or_else(|| "?".to_owned(), |s| s.to_string());
    printer.either(
        &json!({
            "event": "published", "channel": name, "message_id": published.message_id,
            "seq": published.seq, "duplicate": published.duplicate,
        }),
        &format!("published to {name} (seq {seq})"),
    )?;
    Ok(())
}

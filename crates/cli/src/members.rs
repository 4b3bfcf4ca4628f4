//! `rollcall members <channel>`: the member list, once.

use clap::Args;
use serde_json::json;

use crate::output::Printer;
use crate::remote::{ConnectArgs, Failure, channel};

/// Options of `rollcall members`.
#[derive(Debug, Args)]
pub(crate) struct MembersArgs {
    /// The channel.
    channel: String,

    #[command(flatten)]
    connect: ConnectArgs,
}

pub(crate) async fn run(args: MembersArgs) -> Result<(), Failure> {
    let name = channel(&args.channel)?;
    let printer = Printer::new(args.connect.json);
    let client = args.connect.connect().await?;
    let list = client.members(name.as_str()).await;
    client.close().await;
    let list = list?;
    let count = list.members.len();
    let heading = format!(
        "{name}: {count} member{}",
        if count == 1 { "" } else { "s" }
    );
    let header = json!({"event": "members", "channel": list.channel, "seq": list.seq});
    printer.members(header, &heading, &list.members)?;
    Ok(())
}

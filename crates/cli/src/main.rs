//! The `rollcall` command.

mod check_config;
mod live;
mod logging;
mod members;
mod output;
mod publish;
mod remote;
mod serve;
mod signals;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// rollcall: a real-time presence server.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server. With no options it listens on 127.0.0.1:7070 with a development app.
    Serve(Box<serve::ServeArgs>),
    /// Validate a configuration and print the effective result, secrets masked.
    CheckConfig(Box<check_config::CheckConfigArgs>),
    /// Join a channel: show its members and events live, publish the lines typed on stdin.
    /// Ctrl-C leaves.
    Join(live::JoinArgs),
    /// Watch a channel's members and events without joining it. Ctrl-C stops.
    Watch(live::WatchArgs),
    /// Print a channel's members.
    Members(members::MembersArgs),
    /// Publish one message to a channel.
    Publish(publish::PublishArgs),
    /// Mint a connection token with an app's secret (development and tests).
    Token(token::TokenArgs),
    /// Drive load against a server and measure presence and fan-out (docs/benchmarks.md).
    Bench(Box<rollcall_bench::BenchArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::CheckConfig(args) => check_config::run(*args),
        Command::Join(args) => remote::run(live::join(args)),
        Command::Watch(args) => remote::run(live::watch(args)),
        Command::Members(args) => remote::run(members::run(args)),
        Command::Publish(args) => remote::run(publish::run(args)),
        Command::Token(args) => token::run(&args),
        Command::Bench(args) => rollcall_bench::run(*args),
    }
}

//! The `rollcall` command.

mod serve;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(*args),
    }
}

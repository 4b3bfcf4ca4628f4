//! `rollcall-bench`: the load generator on its own, the same as `rollcall bench`.

use std::process::ExitCode;

use clap::Parser;

/// Load generator for rollcall: presence and fan-out scenarios against a running server.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    bench: rollcall_bench::BenchArgs,
}

fn main() -> ExitCode {
    rollcall_bench::run(Cli::parse().bench)
}

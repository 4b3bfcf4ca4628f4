//! `rollcall bench`: a load generator that measures what presence costs.
//!
//! Five scenarios (see [`Scenario`] and `docs/benchmarks.md`) drive a running server over raw
//! WebSockets — no SDK, so that the generator stays cheap and does exactly what it is told —
//! and report latency percentiles, losses and, given the server's pid, its memory. The clients
//! speak rollcall's native protocol or, with `--protocol pusher`, the Pusher Channels protocol,
//! so the same scenarios can drive any Pusher-compatible server (`protocol.rs` has the mapping).
//!
//! A run is one coordinator and its workers. The workers hold the scenario's population of
//! connections; with more than [`CONNECTIONS_PER_WORKER`] connections they are separate
//! processes (this binary re-executed with `--worker I/W`, speaking JSON lines on
//! stdin/stdout), because one process cannot hold more than ~19.9k sockets here. The
//! coordinator drives the few special clients itself (fanout's publisher, churn's churners,
//! reconnect's watcher), tells the workers when to act, and merges their reports.
//!
//! Every run is bounded: sizes and durations are capped, every phase waits at most
//! `--timeout`, and only loopback servers are loaded unless `--allow-remote` is given.
//!
//! ```no_run
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     bench: rollcall_bench::BenchArgs,
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     rollcall_bench::run(Cli::parse().bench)
//! }
//! ```

mod args;
mod conn;
mod error;
mod pool;
mod protocol;
mod pusher;
mod report;
mod rss;
mod scenario;
mod stats;
mod worker;
mod ws;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

pub use args::{
    BadDuration, BadWorkerSlot, BenchArgs, CONNECTIONS_PER_WORKER, ProtocolKind, PublishVia,
    Scenario, WorkerSlot, parse_duration,
};
pub use error::{BenchError, ConnError};
pub use report::{
    Check, ChurnOutcome, FanoutOutcome, IdleOutcome, Outcome, ReconnectOutcome, Report, Setup,
    StormOutcome,
};
pub use rss::RssReport;
pub use stats::Latency;

/// Exit status of a run that completed but failed a correctness check (lost messages, a storm
/// that did not converge, …). 1 is a run that could not be carried out; 2 is a usage error.
pub const EXIT_CHECK_FAILED: u8 = 3;

/// Runs `rollcall bench` (or, with `--worker`, one of its worker processes) and prints the
/// report: a table, or JSON with `--json`.
///
/// Exit status: 0 when every check passed, [`EXIT_CHECK_FAILED`] when one failed, 1 when the
/// run could not be carried out.
#[must_use]
pub fn run(args: BenchArgs) -> ExitCode {
    if let Some(slot) = args.worker {
        return pool::run_worker_process(args, slot);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rollcall bench: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(execute(&args));
    // Connections of aborted tasks may still be closing; don't wait for them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(report) => {
            let text = if args.json {
                serde_json::to_string_pretty(&report).unwrap_or_default()
            } else {
                report.to_table()
            };
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}", text.trim_end());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_CHECK_FAILED)
            }
        }
        Err(e) => {
            eprintln!("rollcall bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the scenario of `args` as coordinator and returns its report (for callers that want
/// the figures rather than printed output, such as tests).
///
/// With one worker (fewer than [`CONNECTIONS_PER_WORKER`] connections, or `--workers 1`) the
/// whole run happens inside the caller's runtime; with more, worker processes are started from
/// [`std::env::current_exe`], which must then be a binary that calls [`run`].
///
/// # Errors
/// [`BenchError`] when the options are invalid or the run cannot be carried out. A run that
/// completes with failed checks is `Ok`; see [`Report::passed`].
pub async fn execute(args: &BenchArgs) -> Result<Report, BenchError> {
    if args.worker.is_some() {
        return Err(BenchError::BadArgs(
            "--worker is for worker processes; call run()".into(),
        ));
    }
    let plan = args::Plan::new(args, new_run_id())?;
    scenario::coordinate(args, plan).await
}

/// A short id that keeps this run's client ids and channel names apart from any other run's
/// on the same server.
fn new_run_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mixed = conn::now_us() ^ (u64::from(std::process::id()) << 24) ^ (n << 48);
    format!("b{:x}", mixed & 0xffff_ffff_ffff)
}

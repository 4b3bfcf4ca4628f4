//! idle: N connections, each joined to one of C presence channels, held quiet, so the server's
//! RSS growth divided by N is its memory per connection.

use std::time::Duration;

use crate::conn::now_us;
use crate::error::BenchError;
use crate::protocol::{Incoming, Request};
use crate::report::{Check, IdleOutcome, Outcome};
use crate::scenario::Run;
use crate::worker::{ConnCtx, ConnOutcome, Observer, observe};

/// Population member: join channel `index % C`, then only read.
pub(super) async fn member(ctx: ConnCtx) {
    let plan = &ctx.plan;
    let channel = plan.channel(ctx.index % plan.channels);
    let join = Request::Join {
        channel,
        stamp_us: now_us(),
    };
    if let Some(conn) = ctx.establish(Some(join)).await {
        observe(ctx, conn, Quiet::default()).await;
    }
}

/// Counts whatever arrives during the hold; the channels are quiet, so it should be nothing.
#[derive(Default)]
struct Quiet {
    outcome: ConnOutcome,
}

impl Observer for Quiet {
    fn on_frame(&mut self, _: Incoming<'_>, _: u64) {
        self.outcome.received += 1;
    }
    fn done(&self, _: u64) -> bool {
        true
    }
    fn outcome(&mut self) -> ConnOutcome {
        std::mem::take(&mut self.outcome)
    }
}

pub(super) async fn coordinate(run: &mut Run<'_>) -> Result<(Outcome, Vec<Check>), BenchError> {
    let hold = run.plan.duration;
    // The hold lets the server settle (outbound queues drained, allocator caches returned)
    // before the RSS is read.
    tokio::time::sleep(hold).await;
    let (deadline_us, deadline) = Run::deadline(Duration::from_secs(5));
    let report = run.pool.finish(0, deadline_us, deadline).await?;
    let open_at_end = report.conns - report.failed;
    let checks = vec![Check::new(
        "no connection lost while idle",
        report.failed == 0,
        format!("{open_at_end} of {} open", run.setup.connected),
    )];
    Ok((
        Outcome::Idle(IdleOutcome {
            channels: run.plan.channels,
            hold_s: hold.as_secs_f64(),
            open_at_end,
            frames_after_join: report.frames,
            rss_per_connection_bytes: None,
        }),
        checks,
    ))
}

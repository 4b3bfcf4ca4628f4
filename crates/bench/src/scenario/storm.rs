//! storm: N connected clients join one presence channel at the same instant. A client's member
//! list is complete when its join snapshot plus the join events after it name all N; the run
//! measures when that happens for each, and what the clients received on the way (the O(N²)
//! cost of sending every join to every member).

use crate::args::ProtocolKind;
use crate::conn::now_us;
use crate::error::BenchError;
use crate::protocol::{Incoming, Request};
use crate::report::{Check, Outcome, StormOutcome};
use crate::scenario::{Run, span_ms};
use crate::worker::{ConnCtx, ConnOutcome, Observer, ToWorker, observe};

/// Population member: connect, wait, join at the signal.
pub(super) async fn client(ctx: ConnCtx) {
    let storm = Storm {
        protocol: ctx.plan.protocol,
        channel: ctx.plan.channel(0),
        go_at: 0,
        target: u64::MAX,
        snapshot_seq: None,
        members: 0,
        complete: false,
        outcome: ConnOutcome::default(),
    };
    if let Some(conn) = ctx.establish(None).await {
        observe(ctx, conn, storm).await;
    }
}

struct Storm {
    protocol: ProtocolKind,
    channel: String,
    go_at: u64,
    target: u64,
    /// The join snapshot's sequence number: later events are changes to it.
    snapshot_seq: Option<u64>,
    members: u64,
    complete: bool,
    outcome: ConnOutcome,
}

impl Storm {
    fn check(&mut self, now: u64) {
        if !self.complete && self.members >= self.target {
            self.complete = true;
            self.outcome.received = self.members;
            self.outcome.sample(now, now.saturating_sub(self.go_at));
        }
    }
}

impl Observer for Storm {
    fn on_go(&mut self, at_us: u64, target: u64) -> Option<Request> {
        self.go_at = at_us;
        self.target = target;
        Some(Request::Join {
            channel: self.channel.clone(),
            stamp_us: now_us(),
        })
    }
    fn on_frame(&mut self, incoming: Incoming<'_>, now: u64) {
        match incoming {
            Incoming::Ack { id, seq, members } if self.protocol.answers(id, 1) => {
                self.snapshot_seq = Some(seq.unwrap_or(0));
                self.members = members.unwrap_or(0) as u64;
            }
            Incoming::Error { id, code } if self.protocol.answers(id, 1) => {
                self.outcome.error = Some(format!("join refused: {code}"));
            }
            Incoming::Join { seq, .. } if self.snapshot_seq.is_some_and(|s| seq > s) => {
                self.members += 1;
            }
            Incoming::Leave { seq, .. } if self.snapshot_seq.is_some_and(|s| seq > s) => {
                self.members = self.members.saturating_sub(1);
            }
            _ => return,
        }
        self.check(now);
    }
    fn done(&self, _: u64) -> bool {
        self.complete
    }
    fn outcome(&mut self) -> ConnOutcome {
        std::mem::take(&mut self.outcome)
    }
}

pub(super) async fn coordinate(run: &mut Run<'_>) -> Result<(Outcome, Vec<Check>), BenchError> {
    let clients = run.setup.connected;
    let go_at = now_us();
    run.pool
        .broadcast(&ToWorker::Go {
            at_us: go_at,
            target: clients,
        })
        .await?;
    let (deadline_us, deadline) = Run::deadline(run.plan.timeout);
    let report = run.pool.finish(clients, deadline_us, deadline).await?;
    let converged = report.done;
    let time_to_converge_ms = (converged == clients && clients > 0)
        .then(|| span_ms(go_at, report.last_us.unwrap_or(go_at)));
    let outcome = StormOutcome {
        clients,
        converged,
        time_to_converge_ms,
        convergence: report.latency.summary(),
        frames: report.frames,
        bytes: report.bytes,
        naive_frames: clients + clients * clients.saturating_sub(1) / 2,
        disconnected: report.failed,
    };
    let checks = vec![
        Check::new(
            "every member list complete",
            converged == clients,
            format!("{converged} of {clients}"),
        ),
        Check::new(
            "no client disconnected",
            report.failed == 0,
            format!("{} disconnected", report.failed),
        ),
    ];
    Ok((Outcome::Storm(outcome), checks))
}

//! churn: a channel of M members, and churners that join and leave it K times per second. Each
//! churn join carries its send time in the member data, so every member measures how long the
//! join took to become visible to it.

use std::time::Duration;

use tokio::time::Instant;

use crate::args::ProtocolKind;
use crate::conn::{Conn, now_us};
use crate::error::{BenchError, ConnError};
use crate::protocol::{Incoming, Request};
use crate::report::{Check, ChurnOutcome, Outcome};
use crate::scenario::{DRAIN, Run};
use crate::worker::{ConnCtx, ConnOutcome, Observer, ToWorker, observe};

/// Churners beyond this many add nothing but connections.
const MAX_CHURNERS: usize = 64;

/// Population member: join the channel and watch the churn go by.
pub(super) async fn member(ctx: ConnCtx) {
    let plan = &ctx.plan;
    let join = Request::Join {
        channel: plan.channel(0),
        stamp_us: now_us(),
    };
    let churners = churner_prefix(&plan.run_id);
    if let Some(conn) = ctx.establish(Some(join)).await {
        observe(
            ctx,
            conn,
            Churn {
                churners,
                outcome: ConnOutcome::default(),
            },
        )
        .await;
    }
}

fn churner_prefix(run_id: &str) -> String {
    format!("{run_id}-churn-")
}

struct Churn {
    churners: String,
    outcome: ConnOutcome,
}

impl Observer for Churn {
    fn on_frame(&mut self, incoming: Incoming<'_>, now: u64) {
        match incoming {
            Incoming::Join {
                client_id, stamp, ..
            } if client_id.starts_with(&self.churners) => {
                self.outcome.joins += 1;
                if let Some(sent) = stamp {
                    self.outcome.sample(now, now.saturating_sub(sent));
                }
            }
            Incoming::Leave { client_id, .. } if client_id.starts_with(&self.churners) => {
                self.outcome.leaves += 1;
            }
            _ => {}
        }
    }
    fn done(&self, expected: u64) -> bool {
        self.outcome.joins >= expected && self.outcome.leaves >= expected
    }
    fn outcome(&mut self) -> ConnOutcome {
        std::mem::take(&mut self.outcome)
    }
}

/// What one churner did.
#[derive(Default)]
struct Churned {
    joins: u64,
    leaves: u64,
    refused_joins: u64,
    refused_leaves: u64,
    /// Acks and errors received.
    answered: u64,
    codes: Vec<String>,
}

pub(super) async fn coordinate(run: &mut Run<'_>) -> Result<(Outcome, Vec<Check>), BenchError> {
    let plan = run.plan;
    // Enough churners that each stays in the channel about a second before its next turn.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let churner_count = (plan.churn.ceil() as usize).clamp(1, MAX_CHURNERS);
    let mut churners = Vec::with_capacity(churner_count);
    for slot in 0..churner_count {
        churners.push(run.open("churner", &format!("churn-{slot}")).await?);
    }
    run.pool
        .broadcast(&ToWorker::Go {
            at_us: now_us(),
            target: run.setup.connected,
        })
        .await?;

    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let total = ((plan.churn * plan.duration.as_secs_f64()).round() as u64).max(1);
    let schedule = Schedule {
        protocol: plan.protocol,
        channel: plan.channel(0),
        start: Instant::now(),
        rate: plan.churn,
        total,
        every: churner_count as u64,
        give_up: Instant::now() + plan.duration + plan.timeout,
    };
    let mut tasks = Vec::with_capacity(churner_count);
    for (slot, conn) in churners.into_iter().enumerate() {
        let schedule = schedule.clone();
        tasks.push(tokio::spawn(async move {
            churn(conn, slot as u64, &schedule).await
        }));
    }
    let mut churned = Churned::default();
    for task in tasks {
        let one = task
            .await
            .map_err(|e| BenchError::Io(std::io::Error::other(e)))?
            .map_err(|source| BenchError::Connection {
                role: "churner",
                source,
            })?;
        churned.joins += one.joins;
        churned.leaves += one.leaves;
        churned.refused_joins += one.refused_joins;
        churned.refused_leaves += one.refused_leaves;
        crate::worker::keep_errors(&mut churned.codes, one.codes);
    }

    // Each member should see every accepted churn join and leave; the two are equal unless
    // the server refused some.
    let visible = churned.joins - churned.refused_joins;
    let (deadline_us, deadline) = Run::deadline(DRAIN.min(plan.timeout));
    let report = run.pool.finish(visible, deadline_us, deadline).await?;

    let members = run.setup.connected;
    let expected = visible * members;
    let left = churned.leaves - churned.refused_leaves;
    let missed =
        expected.saturating_sub(report.joins) + (left * members).saturating_sub(report.leaves);
    let refused = churned.refused_joins + churned.refused_leaves;
    let outcome = ChurnOutcome {
        members,
        churn_rate: plan.churn,
        churn_joins: visible,
        churn_errors: refused,
        expected_observations: expected,
        observed_joins: report.joins,
        observed_leaves: report.leaves,
        missed,
        join_to_visible: report.latency.summary(),
        disconnected: report.failed,
    };
    let checks = vec![
        Check::new(
            "every churn event seen by every member",
            missed == 0,
            format!("{missed} missed of {}", expected * 2),
        ),
        Check::new(
            "every churn request accepted",
            refused == 0,
            format!("{refused} refused {:?}", churned.codes),
        ),
        Check::new(
            "no member disconnected",
            report.failed == 0,
            format!("{} disconnected", report.failed),
        ),
    ];
    Ok((Outcome::Churn(outcome), checks))
}

#[derive(Clone)]
struct Schedule {
    protocol: ProtocolKind,
    channel: String,
    start: Instant,
    rate: f64,
    total: u64,
    every: u64,
    give_up: Instant,
}

impl Schedule {
    #[allow(clippy::cast_precision_loss)]
    fn at(&self, tick: u64) -> Instant {
        self.start + Duration::from_secs_f64(tick as f64 / self.rate)
    }
}

/// Churner `slot` takes ticks `slot`, `slot + every`, …: at each it leaves (if present) and joins
/// again, with its send time in the member data. Join ids are even and leave ids odd, so a
/// refusal can be told apart.
async fn churn(mut conn: Conn, slot: u64, schedule: &Schedule) -> Result<Churned, ConnError> {
    let protocol = schedule.protocol;
    let mut done = Churned::default();
    let mut joined = false;
    let mut tick = slot;
    let leave = Request::Leave {
        channel: schedule.channel.clone(),
    };
    while tick < schedule.total {
        let at = schedule.at(tick);
        conn.pump_until(at, |i| tally(protocol, i, &mut done))
            .await?;
        if joined {
            conn.send_request(2 * done.leaves + 3, &leave).await?;
            done.leaves += 1;
        }
        let join = Request::Join {
            channel: schedule.channel.clone(),
            stamp_us: now_us(),
        };
        conn.send_request(2 * done.joins + 2, &join).await?;
        done.joins += 1;
        joined = true;
        tick += schedule.every;
    }
    // Stay for one more turn, like the others, then leave for good.
    conn.pump_until(schedule.at(tick), |i| tally(protocol, i, &mut done))
        .await?;
    if joined {
        conn.send_request(2 * done.leaves + 3, &leave).await?;
        done.leaves += 1;
    }
    // Pusher answers subscribes only.
    let requests = done.joins
        + if protocol.acknowledges_leaves() {
            done.leaves
        } else {
            0
        };
    loop {
        let step = Instant::now() + Duration::from_millis(50);
        conn.pump_until(step, |i| tally(protocol, i, &mut done))
            .await?;
        if done.answered >= requests || Instant::now() >= schedule.give_up {
            break;
        }
    }
    conn.close().await;
    Ok(done)
}

/// Counts the answers to a churner's requests. Pusher's carry no request id, but only joins
/// (subscribes) are ever answered or refused there.
fn tally(protocol: ProtocolKind, incoming: Incoming<'_>, done: &mut Churned) {
    match incoming {
        Incoming::Ack { id, .. } if id.is_some() || protocol == ProtocolKind::Pusher => {
            done.answered += 1;
        }
        Incoming::Error { id, code } if id.is_some() || protocol == ProtocolKind::Pusher => {
            done.answered += 1;
            if id.is_none_or(|id| id % 2 == 0) {
                done.refused_joins += 1;
            } else {
                done.refused_leaves += 1;
            }
            crate::worker::keep_errors(&mut done.codes, vec![code.into_owned()]);
        }
        _ => {}
    }
}

//! fanout: one channel, N watching subscribers, one publisher at R messages/s. Every payload
//! carries its send time and counter, so each subscriber measures latency and notices gaps.

use std::time::Duration;

use tokio::time::Instant;

use crate::conn::now_us;
use crate::error::BenchError;
use crate::protocol::Incoming;
use crate::report::{Check, FanoutOutcome, Outcome};
use crate::scenario::{DRAIN, Run, span_s};
use crate::worker::{ConnCtx, ConnOutcome, Observer, ToWorker, observe};

/// Population member: watch the channel (no presence, so setup costs no presence traffic).
pub(super) async fn subscriber(ctx: ConnCtx) {
    let watch = ctx.plan.protocol.watch(1, &ctx.plan.channel(0));
    if let Some(conn) = ctx.establish(Some(watch)).await {
        observe(ctx, conn, Deliveries::default()).await;
    }
}

#[derive(Default)]
struct Deliveries {
    last_n: Option<u64>,
    outcome: ConnOutcome,
}

impl Observer for Deliveries {
    fn on_frame(&mut self, incoming: Incoming<'_>, now: u64) {
        let Incoming::Message {
            n: Some(n),
            stamp: Some(sent),
            ..
        } = incoming
        else {
            return;
        };
        if self.last_n.is_some_and(|last| n <= last) {
            self.outcome.duplicates += 1;
            return;
        }
        self.last_n = Some(n);
        self.outcome.received += 1;
        self.outcome.sample(now, now.saturating_sub(sent));
    }
    fn done(&self, expected: u64) -> bool {
        self.outcome.received >= expected
    }
    fn outcome(&mut self) -> ConnOutcome {
        std::mem::take(&mut self.outcome)
    }
}

/// What the publisher did.
struct Published {
    acked: u64,
    refused: u64,
    first_us: u64,
    last_us: u64,
}

pub(super) async fn coordinate(run: &mut Run<'_>) -> Result<(Outcome, Vec<Check>), BenchError> {
    let plan = run.plan;
    let channel = plan.channel(0);
    let mut publisher = run.open("publisher", "publisher").await?;
    publisher
        .request(1, plan.protocol.watch(1, &channel), plan.timeout)
        .await
        .map_err(|source| BenchError::Connection {
            role: "publisher",
            source,
        })?;
    run.pool
        .broadcast(&ToWorker::Go {
            at_us: now_us(),
            target: run.setup.connected,
        })
        .await?;

    // Rounding is intended: a whole number of messages, at least one.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let total = ((plan.rate * plan.duration.as_secs_f64()).round() as u64).max(1);
    let published = publish(run, &mut publisher, &channel, total)
        .await
        .map_err(|source| BenchError::Connection {
            role: "publisher",
            source,
        })?;

    let (deadline_us, deadline) = Run::deadline(DRAIN.min(plan.timeout));
    let report = run
        .pool
        .finish(published.acked, deadline_us, deadline)
        .await?;
    publisher.close().await;

    let subscribers = run.setup.connected;
    let expected = published.acked * subscribers;
    let lost = expected.saturating_sub(report.received);
    let last_delivery = report.last_us.unwrap_or(published.last_us);
    #[allow(clippy::cast_precision_loss)]
    let outcome = FanoutOutcome {
        subscribers,
        rate: plan.rate,
        published: published.acked,
        publish_errors: published.refused,
        publish_rate: if published.acked > 1 {
            (published.acked - 1) as f64 / span_s(published.first_us, published.last_us)
        } else {
            0.0
        },
        expected_deliveries: expected,
        delivered: report.received,
        lost,
        duplicates: report.duplicates,
        deliveries_per_s: report.received as f64 / span_s(published.first_us, last_delivery),
        latency: report.latency.summary(),
        disconnected: report.failed,
    };
    let checks = vec![
        Check::new(
            "no message lost",
            lost == 0 && report.duplicates == 0,
            format!(
                "{lost} lost, {} duplicated of {expected}",
                report.duplicates
            ),
        ),
        Check::new(
            "every publish accepted",
            published.refused == 0,
            format!("{} refused of {total}", published.refused),
        ),
        Check::new(
            "no subscriber disconnected",
            report.failed == 0,
            format!("{} disconnected", report.failed),
        ),
    ];
    Ok((Outcome::Fanout(outcome), checks))
}

/// Publishes `total` messages on schedule (message k at start + k/R; a publisher that falls
/// behind catches up at once, so the offered load stays R on average), reading acks meanwhile.
async fn publish(
    run: &Run<'_>,
    publisher: &mut crate::conn::Conn,
    channel: &str,
    total: u64,
) -> Result<Published, crate::error::ConnError> {
    let plan = run.plan;
    let pad = "x".repeat(plan.payload_bytes);
    let interval = Duration::from_secs_f64(1.0 / plan.rate);
    let start = Instant::now();
    let give_up = start + plan.duration + plan.timeout;
    let mut done = Published {
        acked: 0,
        refused: 0,
        first_us: now_us(),
        last_us: now_us(),
    };
    for k in 0..total {
        #[allow(clippy::cast_precision_loss)]
        let at = start + interval.mul_f64(k as f64);
        publisher.pump_until(at, |i| tally(&i, &mut done)).await?;
        let sent = now_us();
        if k == 0 {
            done.first_us = sent;
        }
        done.last_us = sent;
        // Ids from 2: id 1 was the watch.
        let request = plan.protocol.publish(k + 2, channel, k, sent, &pad);
        publisher.send(request).await?;
    }
    // The remaining acks.
    while done.acked + done.refused < total && Instant::now() < give_up {
        let step = Instant::now() + Duration::from_millis(50);
        publisher.pump_until(step, |i| tally(&i, &mut done)).await?;
    }
    Ok(done)
}

fn tally(incoming: &Incoming<'_>, done: &mut Published) {
    match *incoming {
        Incoming::Ack { id: Some(id), .. } if id >= 2 => done.acked += 1,
        Incoming::Error { id: Some(id), .. } if id >= 2 => done.refused += 1,
        _ => {}
    }
}

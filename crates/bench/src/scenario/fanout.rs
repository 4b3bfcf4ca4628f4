//! fanout: one channel, N watching subscribers, one publisher at R messages/s. Every payload
//! carries its send time and counter, so each subscriber measures latency and notices gaps.
//!
//! The publisher: native, a WebSocket client's `publish` requests, each acknowledged. Pusher
//! clients cannot publish to public channels, so over the Pusher protocol it is either the HTTP
//! API (`--publish rest`, the default: one signed `POST /apps/{id}/events` per message, in order
//! on one keep-alive connection, each answered) or client events on a `private-` channel
//! (`--publish client-events`: never answered, so a message counts as published unless the
//! server sends an error for it; this needs client events enabled on the server at the rate).

use std::time::Duration;

use tokio::time::Instant;

use crate::args::{ProtocolKind, PublishVia};
use crate::conn::{Conn, now_us};
use crate::error::{BenchError, ConnError};
use crate::protocol::{Incoming, Request, pusher_event_body};
use crate::pusher::RestClient;
use crate::report::{Check, FanoutOutcome, Outcome};
use crate::scenario::{DRAIN, Run, span_s};
use crate::worker::{ConnCtx, ConnOutcome, Observer, ToWorker, keep_errors, observe};

/// How long a client-event publisher waits after its last event for refusals, which are the
/// only answers client events get.
const REFUSAL_WAIT: Duration = Duration::from_millis(500);

/// Population member: watch the channel (no presence, so setup costs no presence traffic).
pub(super) async fn subscriber(ctx: ConnCtx) {
    let watch = Request::Watch {
        channel: ctx.plan.channel(0),
    };
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
    /// A few of the reasons for refusals.
    codes: Vec<String>,
    first_us: u64,
    last_us: u64,
}

/// How the publisher publishes.
enum Publisher {
    /// Requests on a WebSocket connection that watches (Pusher: subscribes to) the channel.
    Socket(Box<Conn>),
    /// The Pusher HTTP API.
    Rest(RestClient),
}

impl Publisher {
    /// A short description for the report.
    fn describe(&self, protocol: ProtocolKind) -> &'static str {
        match (self, protocol) {
            (Self::Socket(_), ProtocolKind::Native) => "publish requests",
            (Self::Socket(_), ProtocolKind::Pusher) => "client events",
            (Self::Rest(_), _) => "HTTP API",
        }
    }
}

pub(super) async fn coordinate(run: &mut Run<'_>) -> Result<(Outcome, Vec<Check>), BenchError> {
    let plan = run.plan;
    let channel = plan.channel(0);
    let mut publisher = match (&plan.rest, plan.protocol, plan.publish) {
        (Some(target), ProtocolKind::Pusher, PublishVia::Rest) => {
            Publisher::Rest(RestClient::new(target.clone(), plan.timeout))
        }
        _ => {
            let mut conn = run.open("publisher", "publisher").await?;
            let watch = Request::Watch {
                channel: channel.clone(),
            };
            conn.request(1, &watch, plan.timeout)
                .await
                .map_err(|source| BenchError::Connection {
                    role: "publisher",
                    source,
                })?;
            Publisher::Socket(Box::new(conn))
        }
    };
    let described = publisher.describe(plan.protocol);
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
    if let Publisher::Socket(conn) = publisher {
        conn.close().await;
    }

    let subscribers = run.setup.connected;
    let expected = published.acked * subscribers;
    let lost = expected.saturating_sub(report.received);
    let last_delivery = report.last_us.unwrap_or(published.last_us);
    #[allow(clippy::cast_precision_loss)]
    let outcome = FanoutOutcome {
        publisher: described.to_owned(),
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
            if published.codes.is_empty() {
                format!("{} refused of {total}", published.refused)
            } else {
                format!(
                    "{} refused of {total} {:?}",
                    published.refused, published.codes
                )
            },
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
    publisher: &mut Publisher,
    channel: &str,
    total: u64,
) -> Result<Published, ConnError> {
    let plan = run.plan;
    let protocol = plan.protocol;
    let pad = "x".repeat(plan.payload_bytes);
    let interval = Duration::from_secs_f64(1.0 / plan.rate);
    let start = Instant::now();
    let give_up = start + plan.duration + plan.timeout;
    let mut done = Published {
        acked: 0,
        refused: 0,
        codes: Vec::new(),
        first_us: now_us(),
        last_us: now_us(),
    };
    for k in 0..total {
        #[allow(clippy::cast_precision_loss)]
        let at = start + interval.mul_f64(k as f64);
        match publisher {
            Publisher::Socket(conn) => {
                conn.pump_until(at, |i| tally(protocol, &i, &mut done))
                    .await?;
            }
            Publisher::Rest(_) => tokio::time::sleep_until(at).await,
        }
        let sent = now_us();
        if k == 0 {
            done.first_us = sent;
        }
        done.last_us = sent;
        match publisher {
            Publisher::Socket(conn) => {
                // Ids from 2: id 1 was the watch.
                let request = protocol.publish(k + 2, channel, k, sent, &pad);
                conn.send(request).await?;
            }
            Publisher::Rest(client) => {
                let body = pusher_event_body(channel, k, sent, &pad);
                let path = plan
                    .signer
                    .signed_post("events", body.as_bytes(), sent / 1_000_000);
                match client.post(&path, body).await {
                    Ok(()) => done.acked += 1,
                    Err(e) => {
                        done.refused += 1;
                        keep_errors(&mut done.codes, vec![e.to_string()]);
                    }
                }
            }
        }
    }
    match (publisher, protocol) {
        // Every answer is in already.
        (Publisher::Rest(_), _) => {}
        // The remaining acks.
        (Publisher::Socket(conn), ProtocolKind::Native) => {
            while done.acked + done.refused < total && Instant::now() < give_up {
                let step = Instant::now() + Duration::from_millis(50);
                conn.pump_until(step, |i| tally(protocol, &i, &mut done))
                    .await?;
            }
        }
        // Client events are never acknowledged: what was not refused was published.
        (Publisher::Socket(conn), ProtocolKind::Pusher) => {
            let until = Instant::now() + REFUSAL_WAIT.min(plan.timeout);
            conn.pump_until(until, |i| tally(protocol, &i, &mut done))
                .await?;
            done.acked = total.saturating_sub(done.refused);
        }
    }
    Ok(done)
}

fn tally(protocol: ProtocolKind, incoming: &Incoming<'_>, done: &mut Published) {
    match (protocol, incoming) {
        (ProtocolKind::Native, Incoming::Ack { id: Some(id), .. }) if *id >= 2 => done.acked += 1,
        (ProtocolKind::Native, Incoming::Error { id: Some(id), .. }) if *id >= 2 => {
            done.refused += 1;
        }
        // A client event refused (rate limit 4301, client events disabled, …).
        (ProtocolKind::Pusher, Incoming::Error { code, .. }) => {
            done.refused += 1;
            keep_errors(&mut done.codes, vec![code.to_string()]);
        }
        _ => {}
    }
}

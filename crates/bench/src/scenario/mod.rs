//! The scenarios. Each has a worker side (what every population connection does) and a
//! coordinator side (the single clients it drives itself — publisher, churners, watcher — and
//! the arithmetic that turns the workers' reports into an [`Outcome`]).

mod churn;
mod fanout;
mod idle;
mod reconnect;
mod storm;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::args::{BenchArgs, Plan, Scenario, WorkerSlot};
use crate::conn::{Conn, now_us};
use crate::error::BenchError;
use crate::pool::Pool;
use crate::report::{Check, Outcome, Report, Setup};
use crate::rss::RssSampler;
use crate::worker::{SetupReport, WorkerLink, drive};

/// The longest the coordinator waits for deliveries after its last action (fanout, churn):
/// events later than this count as lost, and a lossy run still ends promptly.
const DRAIN: Duration = Duration::from_secs(10);

/// Runs this worker's share of `plan`.
pub(crate) async fn worker(
    plan: Arc<Plan>,
    slot: WorkerSlot,
    link: &mut WorkerLink,
) -> Result<(), BenchError> {
    match plan.scenario {
        Scenario::Idle => drive(plan, slot, link, idle::member).await,
        Scenario::Fanout => drive(plan, slot, link, fanout::subscriber).await,
        Scenario::Churn => drive(plan, slot, link, churn::member).await,
        Scenario::Storm => drive(plan, slot, link, storm::client).await,
        Scenario::Reconnect => drive(plan, slot, link, reconnect::member).await,
    }
}

/// What a scenario's coordinator side gets to work with.
pub(crate) struct Run<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) pool: &'a mut Pool,
    pub(crate) setup: &'a SetupReport,
}

impl Run<'_> {
    /// Opens one of the coordinator's own connections, as client `name` of this run.
    pub(crate) async fn open(&self, role: &'static str, name: &str) -> Result<Conn, BenchError> {
        Conn::open(self.plan, self.plan.named_client(name))
            .await
            .map_err(|source| BenchError::Connection { role, source })
    }

    /// A deadline `after` from now, both as Unix µs (for workers) and as an instant.
    pub(crate) fn deadline(after: Duration) -> (u64, Instant) {
        let after_us = u64::try_from(after.as_micros()).unwrap_or(u64::MAX);
        (now_us().saturating_add(after_us), Instant::now() + after)
    }
}

/// Runs `plan` as its coordinator.
pub(crate) async fn coordinate(args: &BenchArgs, plan: Plan) -> Result<Report, BenchError> {
    let started = Instant::now();
    // Before any connection: the baseline for RSS per connection.
    let rss = args.server_pid.map(RssSampler::start).transpose()?;
    let mut pool = Pool::start(args, &plan).await?;
    // Setup gets the whole timeout, plus a margin for workers to report their own timeouts.
    let setup = pool
        .ready(Instant::now() + plan.timeout + Duration::from_secs(5))
        .await?;
    let setup_seconds = started.elapsed().as_secs_f64();
    let mut run = Run {
        plan: &plan,
        pool: &mut pool,
        setup: &setup,
    };
    let measured = match plan.scenario {
        Scenario::Idle => idle::coordinate(&mut run).await,
        Scenario::Fanout => fanout::coordinate(&mut run).await,
        Scenario::Churn => churn::coordinate(&mut run).await,
        Scenario::Storm => storm::coordinate(&mut run).await,
        Scenario::Reconnect => reconnect::coordinate(&mut run).await,
    };
    // The "after" figure is read while every connection is still open.
    let server_rss = rss.map(RssSampler::finish).transpose();
    let errors = std::mem::take(&mut pool.errors);
    pool.shutdown().await;
    let (mut outcome, mut checks) = measured?;
    let server_rss = server_rss?;

    if let (Outcome::Idle(idle), Some(rss)) = (&mut outcome, &server_rss) {
        if setup.connected > 0 {
            #[allow(clippy::cast_precision_loss)]
            let per = (rss.after_kib.saturating_sub(rss.before_kib) * 1024) as f64
                / setup.connected as f64;
            idle.rss_per_connection_bytes = Some(per);
        }
    }
    checks.insert(
        0,
        Check::new(
            "every connection set up",
            setup.failed == 0,
            format!("{} of {}", setup.connected, plan.population),
        ),
    );
    Ok(Report {
        scenario: plan.scenario,
        protocol: plan.protocol,
        url: plan.url.clone(),
        workers: plan.workers,
        population: plan.population,
        setup: Setup {
            established: setup.connected,
            failed: setup.failed,
            seconds: setup_seconds,
            errors: setup.errors.clone(),
        },
        server_rss,
        outcome,
        checks,
        errors,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// Seconds between `from_us` and `to_us`, at least a microsecond.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn span_s(from_us: u64, to_us: u64) -> f64 {
    to_us.saturating_sub(from_us).max(1) as f64 / 1e6
}

/// Milliseconds between `from_us` and `to_us`.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn span_ms(from_us: u64, to_us: u64) -> f64 {
    to_us.saturating_sub(from_us) as f64 / 1e3
}

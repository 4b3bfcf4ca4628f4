//! What a run found, as a table for people or JSON for scripts.

use std::fmt::Write as _;

use serde::Serialize;

use crate::args::{ProtocolKind, Scenario};
use crate::rss::RssReport;
use crate::stats::Latency;

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario run.
    pub scenario: Scenario,
    /// The protocol the clients spoke.
    pub protocol: ProtocolKind,
    /// The server's URL.
    pub url: String,
    /// Worker processes used (1 = in the coordinator's process).
    pub workers: usize,
    /// Connections asked for (members for churn).
    pub population: usize,
    /// How setting up the connections went.
    pub setup: Setup,
    /// The server's memory, when `--server-pid` was given.
    pub server_rss: Option<RssReport>,
    /// The scenario's measurements.
    pub outcome: Outcome,
    /// Correctness checks (not performance targets, which are shown beside the figures).
    pub checks: Vec<Check>,
    /// A few of the errors that ended connections during the measurement.
    pub errors: Vec<String>,
    /// Wall time of the whole run, seconds.
    pub elapsed_s: f64,
}

impl Report {
    /// Whether every check passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

/// How setting up the connections went.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    /// Connections opened (and joined or watching, as the scenario requires).
    pub established: u64,
    /// Connections that could not be opened or set up.
    pub failed: u64,
    /// How long it took, seconds.
    pub seconds: f64,
    /// A few of the errors, if any.
    pub errors: Vec<String>,
}

/// A correctness check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// The figures behind it.
    pub detail: String,
}

impl Check {
    pub(crate) fn new(name: &str, passed: bool, detail: String) -> Self {
        Self {
            name: name.to_owned(),
            passed,
            detail,
        }
    }
}

/// The measurements of one scenario.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// See [`IdleOutcome`].
    Idle(IdleOutcome),
    /// See [`FanoutOutcome`].
    Fanout(FanoutOutcome),
    /// See [`ChurnOutcome`].
    Churn(ChurnOutcome),
    /// See [`StormOutcome`].
    Storm(StormOutcome),
    /// See [`ReconnectOutcome`].
    Reconnect(ReconnectOutcome),
}

/// idle: connections joined to channels and held.
#[derive(Debug, Clone, Serialize)]
pub struct IdleOutcome {
    /// Channels the connections were spread over.
    pub channels: usize,
    /// How long the connections were held after setup, seconds.
    pub hold_s: f64,
    /// Connections still open at the end.
    pub open_at_end: u64,
    /// Frames the clients received after their own join: the join events of later channel-mates.
    pub frames_after_join: u64,
    /// Server RSS growth per established connection, bytes (with `--server-pid`).
    pub rss_per_connection_bytes: Option<f64>,
}

/// fanout: one publisher, many subscribers.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutOutcome {
    /// How the publisher published: `publish requests` (native), `HTTP API` or `client events`
    /// (pusher).
    pub publisher: String,
    /// Subscribers (watching connections).
    pub subscribers: u64,
    /// Publish rate asked for, messages/s.
    pub rate: f64,
    /// Messages published and acknowledged.
    pub published: u64,
    /// Publishes refused by the server.
    pub publish_errors: u64,
    /// The rate actually achieved by the publisher, messages/s.
    pub publish_rate: f64,
    /// published × subscribers.
    pub expected_deliveries: u64,
    /// Messages received by subscribers.
    pub delivered: u64,
    /// Expected deliveries that never arrived (within the drain time).
    pub lost: u64,
    /// Deliveries received twice or out of order.
    pub duplicates: u64,
    /// Deliveries per second, from the first publish to the last delivery.
    pub deliveries_per_s: f64,
    /// Publish-to-delivery latency (timestamps inside the payloads).
    pub latency: Latency,
    /// Subscribers whose connection ended during the run (e.g. closed as slow consumers).
    pub disconnected: u64,
}

/// churn: members watching others join and leave.
#[derive(Debug, Clone, Serialize)]
pub struct ChurnOutcome {
    /// Members observing.
    pub members: u64,
    /// Joins per second asked for.
    pub churn_rate: f64,
    /// Joins (and as many leaves) the churners made.
    pub churn_joins: u64,
    /// Churn requests refused by the server.
    pub churn_errors: u64,
    /// churn_joins × members.
    pub expected_observations: u64,
    /// Churn `join` events the members received.
    pub observed_joins: u64,
    /// Churn `leave` events the members received.
    pub observed_leaves: u64,
    /// Expected join and leave events that never arrived.
    pub missed: u64,
    /// From the churner sending `join` to a member receiving the `join` event.
    pub join_to_visible: Latency,
    /// Members whose connection ended during the run.
    pub disconnected: u64,
}

/// storm: everyone joins at once.
#[derive(Debug, Clone, Serialize)]
pub struct StormOutcome {
    /// Clients that joined.
    pub clients: u64,
    /// Clients whose member list became complete.
    pub converged: u64,
    /// From the go signal until every client's list was complete, ms (`None` if some never were).
    pub time_to_converge_ms: Option<f64>,
    /// Per client: from the go signal until its list was complete.
    pub convergence: Latency,
    /// Text frames the clients received.
    pub frames: u64,
    /// Bytes of text frames the clients received.
    pub bytes: u64,
    /// Frames a server sending one snapshot per join and one event per join per subscriber
    /// sends: N + N(N−1)/2.
    pub naive_frames: u64,
    /// Clients whose connection ended during the run.
    pub disconnected: u64,
}

/// reconnect: everyone drops and comes back.
#[derive(Debug, Clone, Serialize)]
pub struct ReconnectOutcome {
    /// Members that dropped.
    pub members: u64,
    /// Members that reconnected and joined again.
    pub rejoined: u64,
    /// From the drop until every member had rejoined and the watcher's list was complete
    /// again, ms.
    pub time_to_steady_ms: Option<f64>,
    /// Per member: from the drop until its new join was acknowledged.
    pub rejoin: Latency,
    /// `leave` events the watcher saw.
    pub watcher_leaves: u64,
    /// `join` events the watcher saw.
    pub watcher_joins: u64,
    /// `update` events the watcher saw (a new connection seen before the old one's removal).
    pub watcher_updates: u64,
    /// Members in the watcher's list at the end.
    pub watcher_final_members: u64,
}

/// The targets for this machine (issue 8), shown beside the measured figures.
mod target {
    pub(super) const IDLE_RSS: &str = "≤ 8 KiB/conn at 19k";
    pub(super) const FANOUT_P99: &str = "p99 ≤ 50 ms at 10k × 20/s";
    pub(super) const CHURN_P99: &str = "p99 ≤ 10 ms at M=1000";
    pub(super) const STORM: &str = "≤ 5 s at 10k";
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn latency(l: &Latency) -> String {
    if l.samples == 0 {
        return "no samples".into();
    }
    format!(
        "{} / {} / {} / {} ms  (n={})",
        ms(l.p50_ms),
        ms(l.p90_ms),
        ms(l.p99_ms),
        ms(l.max_ms),
        l.samples
    )
}

fn rate(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

impl Report {
    /// The report as an aligned text table.
    #[must_use]
    pub fn to_table(&self) -> String {
        let mut rows: Vec<(String, String, &str)> = Vec::new();
        let mut row = |name: &str, value: String, target: &'static str| {
            rows.push((name.to_owned(), value, target));
        };
        row(
            "connections",
            format!(
                "{} established, {} failed, in {:.2} s",
                self.setup.established, self.setup.failed, self.setup.seconds
            ),
            "",
        );
        match &self.outcome {
            Outcome::Idle(o) => {
                row("channels", o.channels.to_string(), "");
                row(
                    "held",
                    format!("{:.1} s, {} still open", o.hold_s, o.open_at_end),
                    "",
                );
                row("frames after own join", o.frames_after_join.to_string(), "");
                row(
                    "server RSS / connection",
                    o.rss_per_connection_bytes.map_or_else(
                        || "not measured (give --server-pid)".into(),
                        |b| format!("{:.2} KiB", b / 1024.0),
                    ),
                    target::IDLE_RSS,
                );
            }
            Outcome::Fanout(o) => {
                row("subscribers", o.subscribers.to_string(), "");
                row(
                    "published",
                    format!(
                        "{} by {} at {}/s (asked {}/s), {} refused",
                        o.published,
                        o.publisher,
                        rate(o.publish_rate),
                        rate(o.rate),
                        o.publish_errors
                    ),
                    "",
                );
                row(
                    "delivered",
                    format!("{} of {}", o.delivered, o.expected_deliveries),
                    "",
                );
                row(
                    "lost / duplicated",
                    format!("{} / {}", o.lost, o.duplicates),
                    "0",
                );
                row("deliveries/s", rate(o.deliveries_per_s), "");
                row(
                    "latency p50/p90/p99/max",
                    latency(&o.latency),
                    target::FANOUT_P99,
                );
                row("disconnected", o.disconnected.to_string(), "0");
            }
            Outcome::Churn(o) => {
                row("members", o.members.to_string(), "");
                row(
                    "churn",
                    format!(
                        "{} joins and as many leaves (asked {}/s), {} refused",
                        o.churn_joins,
                        rate(o.churn_rate),
                        o.churn_errors
                    ),
                    "",
                );
                row(
                    "observed joins / leaves",
                    format!(
                        "{} / {} of {} each",
                        o.observed_joins, o.observed_leaves, o.expected_observations
                    ),
                    "",
                );
                row("missed", o.missed.to_string(), "0");
                row(
                    "join→visible p50/p90/p99/max",
                    latency(&o.join_to_visible),
                    target::CHURN_P99,
                );
                row("disconnected", o.disconnected.to_string(), "0");
            }
            Outcome::Storm(o) => {
                row("converged", format!("{} of {}", o.converged, o.clients), "");
                row(
                    "time to converge",
                    o.time_to_converge_ms
                        .map_or_else(|| "did not converge".into(), |v| format!("{} ms", ms(v))),
                    target::STORM,
                );
                row("per client p50/p90/p99/max", latency(&o.convergence), "");
                row(
                    "frames / bytes received",
                    format!(
                        "{} / {} MiB (naive: {} frames)",
                        o.frames,
                        mib(o.bytes / 1024),
                        o.naive_frames
                    ),
                    "",
                );
                row("disconnected", o.disconnected.to_string(), "0");
            }
            Outcome::Reconnect(o) => {
                row("rejoined", format!("{} of {}", o.rejoined, o.members), "");
                row(
                    "time to steady state",
                    o.time_to_steady_ms
                        .map_or_else(|| "not reached".into(), |v| format!("{} ms", ms(v))),
                    "",
                );
                row("rejoin p50/p90/p99/max", latency(&o.rejoin), "");
                row(
                    "watcher saw leave / join / update",
                    format!(
                        "{} / {} / {}",
                        o.watcher_leaves, o.watcher_joins, o.watcher_updates
                    ),
                    "0 / 0 with a grace period",
                );
                row(
                    "watcher's list at end",
                    o.watcher_final_members.to_string(),
                    "",
                );
            }
        }
        if let Some(rss) = &self.server_rss {
            row(
                "server RSS before/after/peak",
                format!(
                    "{} / {} / {} MiB",
                    mib(rss.before_kib),
                    mib(rss.after_kib),
                    mib(rss.peak_kib)
                ),
                "",
            );
        }
        for check in &self.checks {
            let verdict = if check.passed { "ok" } else { "FAILED" };
            row(
                &format!("check: {}", check.name),
                format!("{verdict} ({})", check.detail),
                "",
            );
        }

        let mut out = String::new();
        let _ = writeln!(
            out,
            "rollcall bench {} — {} protocol, {}, {} worker process{}, {:.1} s",
            self.scenario,
            self.protocol,
            self.url,
            self.workers,
            if self.workers == 1 { "" } else { "es" },
            self.elapsed_s
        );
        let width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        let value_width = rows
            .iter()
            .filter(|r| !r.2.is_empty())
            .map(|r| r.1.chars().count())
            .max()
            .unwrap_or(0);
        for (name, value, target) in &rows {
            if target.is_empty() {
                let _ = writeln!(out, "  {name:<width$}  {value}");
            } else {
                let _ = writeln!(
                    out,
                    "  {name:<width$}  {value:<value_width$}  target: {target}"
                );
            }
        }
        for error in &self.setup.errors {
            let _ = writeln!(out, "  setup error: {error}");
        }
        for error in &self.errors {
            let _ = writeln!(out, "  connection error: {error}");
        }
        out
    }
}

fn mib(kib: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let v = kib as f64 / 1024.0;
    format!("{v:.1}")
}

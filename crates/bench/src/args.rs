//! The command line of `rollcall bench`, and the plan derived from it.
//!
//! Every option is `global` so that it may be written after the scenario
//! (`rollcall bench fanout --connections 10000`), and so that a worker process, which is the same
//! binary re-executed with the same arguments plus `--worker I/W`, parses exactly what its
//! coordinator parsed.

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use tokio_tungstenite::tungstenite::http::Uri;

use crate::error::BenchError;
use crate::pusher::{RestTarget, Signer};

/// One process holds at most ~19.9k sockets here (open-files limit 20,000); 15,000 per worker
/// leaves room for the coordinator's own connections, pipes and the runtime.
pub const CONNECTIONS_PER_WORKER: usize = 15_000;

/// Options of `rollcall bench`: a scenario and how hard to drive it.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub scenario: Scenario,

    /// The server's WebSocket endpoint for the chosen protocol; `{key}` is replaced by --app
    /// [default: ws://127.0.0.1:7070/ws (native),
    /// ws://127.0.0.1:7070/app/{key}?protocol=7&client=rollcall-bench&version=0.1 (pusher)].
    #[arg(long, global = true)]
    pub url: Option<String>,

    /// The wire protocol the simulated clients speak.
    #[arg(long, global = true, value_enum, default_value_t = ProtocolKind::Native)]
    pub protocol: ProtocolKind,

    /// App key sent by every client (native: `?app=`; pusher: the `/app/{key}` path and the
    /// `key:` part of channel signatures).
    #[arg(long, global = true, default_value = "dev-key")]
    pub app: String,

    /// pusher: the app id of the HTTP API (`POST /apps/{app_id}/events`).
    #[arg(long, global = true, default_value = "dev")]
    pub app_id: String,

    /// pusher: the app secret, which signs presence and private subscriptions and HTTP API
    /// requests locally (no auth endpoint is involved).
    #[arg(
        long,
        global = true,
        env = "ROLLCALL_BENCH_SECRET",
        hide_env_values = true,
        default_value = "dev-secret"
    )]
    pub secret: String,

    /// pusher fanout: how the publisher publishes. Pusher clients cannot publish to public
    /// channels, so the default is the signed HTTP API, which needs no server configuration.
    #[arg(long, global = true, value_enum, default_value_t = PublishVia::Rest)]
    pub publish: PublishVia,

    /// pusher fanout with --publish rest: the HTTP API's base URL [default: http:// and the
    /// host and port of --url].
    #[arg(long, global = true)]
    pub rest_url: Option<String>,

    /// Client connections (idle, fanout, storm, reconnect).
    #[arg(long, short = 'n', global = true, default_value_t = 1000)]
    pub connections: usize,

    /// idle: presence channels the connections are spread over [default: one per 20 connections].
    #[arg(long, global = true)]
    pub channels: Option<usize>,

    /// fanout: messages the publisher sends per second.
    #[arg(long, global = true, default_value_t = 20.0)]
    pub rate: f64,

    /// How long to publish (fanout), churn (churn) or hold the connections (idle); e.g. 10s, 500ms.
    #[arg(long, global = true, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// churn: members that stay in the channel and observe the churn.
    #[arg(long, global = true, default_value_t = 100)]
    pub members: usize,

    /// churn: joins per second into the channel, each followed by the same member's leave.
    #[arg(long, global = true, default_value_t = 10.0)]
    pub churn: f64,

    /// fanout: bytes of padding in each message, on top of its ~40 bytes of counters.
    #[arg(long, global = true, default_value_t = 100)]
    pub payload_bytes: usize,

    /// Worker processes to spread the connections over [default: ceil(connections / 15000)].
    #[arg(long, global = true)]
    pub workers: Option<usize>,

    /// The longest any phase may take (connecting, converging, draining) before the run gives up.
    #[arg(long, global = true, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// The server's process id: its RSS (VmRSS of /proc/PID/status) is recorded before, after and
    /// at peak. Same machine only.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,

    /// Print the report as JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

    /// Allow a URL whose host is not a loopback address. Only for servers you run yourself.
    #[arg(long, global = true)]
    pub allow_remote: bool,

    /// Internal: run as worker I of W, driven over stdin/stdout by a coordinator.
    #[arg(long, global = true, hide = true)]
    pub worker: Option<WorkerSlot>,
}

/// A benchmark scenario (see `docs/benchmarks.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// N connections, each joined to one of C presence channels, held idle: server RSS per
    /// connection (with --server-pid).
    Idle,
    /// One channel with N watching subscribers and a publisher at --rate: deliveries/s,
    /// end-to-end latency, messages lost.
    Fanout,
    /// A channel of --members M members and --churn K joins+leaves per second: join-to-visible
    /// latency as seen by the members.
    Churn,
    /// N connected clients join one presence channel at once: time until every client's member
    /// list is complete, frames and bytes received.
    Storm,
    /// N joined members drop their sockets at once and reconnect: time to steady state, spurious
    /// leave/join events seen by a watcher.
    Reconnect,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Idle => "idle",
            Self::Fanout => "fanout",
            Self::Churn => "churn",
            Self::Storm => "storm",
            Self::Reconnect => "reconnect",
        })
    }
}

/// The wire protocol spoken by the simulated clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolKind {
    /// rollcall's JSON protocol at `/ws` (`docs/protocol.md`).
    Native,
    /// The Pusher Channels protocol, version 7, at `/app/{key}`: rollcall's Pusher endpoint or
    /// any other Pusher-compatible server (`docs/pusher-compat.md`).
    Pusher,
}

impl fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Native => "native",
            Self::Pusher => "pusher",
        })
    }
}

/// How the fanout publisher publishes over the Pusher protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PublishVia {
    /// `POST /apps/{app_id}/events`, signed with the app secret, on one keep-alive HTTP/1.1
    /// connection; subscribers watch a public channel.
    Rest,
    /// `client-bench` events from a WebSocket client subscribed to a `private-` channel, which
    /// the subscribers watch. The server must allow client events (`enable_client_events`) at
    /// the chosen rate (Pusher: 10 per second and connection).
    ClientEvents,
}

impl fmt::Display for PublishVia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rest => "rest",
            Self::ClientEvents => "client-events",
        })
    }
}

/// The default `--url` of each protocol.
const NATIVE_URL: &str = "ws://127.0.0.1:7070/ws";
const PUSHER_URL: &str =
    "ws://127.0.0.1:7070/app/{key}?protocol=7&client=rollcall-bench&version=0.1";

/// Which worker a worker process is: `index` of `count`, written `I/W`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSlot {
    /// This worker's index, from 0.
    pub index: usize,
    /// How many workers share the connections.
    pub count: usize,
}

/// A `--worker` value that is not `I/W` with `I < W`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("expected I/W with I < W, e.g. 0/2")]
pub struct BadWorkerSlot;

impl FromStr for WorkerSlot {
    type Err = BadWorkerSlot;
    fn from_str(s: &str) -> Result<Self, BadWorkerSlot> {
        let (index, count) = s.split_once('/').ok_or(BadWorkerSlot)?;
        let index: usize = index.parse().map_err(|_| BadWorkerSlot)?;
        let count: usize = count.parse().map_err(|_| BadWorkerSlot)?;
        if index >= count {
            return Err(BadWorkerSlot);
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for WorkerSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A duration that is not a number with an optional unit (`ms`, `s`, `m`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("expected a duration such as 10s, 500ms, 2m or 1.5 (seconds)")]
pub struct BadDuration;

/// Parses `10s`, `500ms`, `2m` or a bare number of seconds.
///
/// # Errors
/// [`BadDuration`] for anything else, or a negative or non-finite amount.
pub fn parse_duration(s: &str) -> Result<Duration, BadDuration> {
    let s = s.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| BadDuration)?;
    Duration::try_from_secs_f64(value * scale).map_err(|_| BadDuration)
}

/// Everything a coordinator and its workers agree on for one run: the validated options plus
/// the run id that keeps its client ids and channel names apart from other runs'.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) scenario: Scenario,
    pub(crate) protocol: ProtocolKind,
    /// The WebSocket URL, defaulted per protocol and with `{key}` replaced.
    pub(crate) url: String,
    pub(crate) app: String,
    /// Signs Pusher subscriptions and HTTP API requests (unused by the native protocol).
    pub(crate) signer: Arc<Signer>,
    /// pusher fanout: how the publisher publishes.
    pub(crate) publish: PublishVia,
    /// pusher fanout with `--publish rest`: where the HTTP API is.
    pub(crate) rest: Option<RestTarget>,
    /// The connections spread over the workers: `--members` for churn, `--connections` otherwise.
    pub(crate) population: usize,
    pub(crate) channels: usize,
    pub(crate) rate: f64,
    pub(crate) duration: Duration,
    pub(crate) churn: f64,
    pub(crate) payload_bytes: usize,
    pub(crate) workers: usize,
    pub(crate) timeout: Duration,
    pub(crate) run_id: String,
}

/// Upper bounds that keep every run bounded in count and time, whatever is typed.
const MAX_POPULATION: usize = 200_000;
const MAX_RATE: f64 = 100_000.0;
const MAX_DURATION: Duration = Duration::from_secs(3600);
const MAX_PAYLOAD: usize = 16 * 1024;

impl Plan {
    /// Validates `args` (limits, loopback-only URL) and fixes the defaults.
    pub(crate) fn new(args: &BenchArgs, run_id: String) -> Result<Self, BenchError> {
        if args.app.is_empty() || !args.app.bytes().all(is_unreserved) {
            return Err(BenchError::BadArgs(
                "--app must be non-empty letters, digits, '-', '.', '_' or '~'".into(),
            ));
        }
        if args.app_id.is_empty() || !args.app_id.bytes().all(is_unreserved) {
            return Err(BenchError::BadArgs(
                "--app-id must be non-empty letters, digits, '-', '.', '_' or '~'".into(),
            ));
        }
        if args.secret.is_empty() {
            return Err(BenchError::BadArgs("--secret must not be empty".into()));
        }
        let url = args
            .url
            .as_deref()
            .unwrap_or(match args.protocol {
                ProtocolKind::Native => NATIVE_URL,
                ProtocolKind::Pusher => PUSHER_URL,
            })
            .replace("{key}", &args.app);
        check_url(&url, args.allow_remote)?;
        let rest = match (args.protocol, args.scenario, args.publish) {
            (ProtocolKind::Pusher, Scenario::Fanout, PublishVia::Rest) => {
                let target = match &args.rest_url {
                    Some(rest_url) => RestTarget::parse(rest_url),
                    None => RestTarget::from_ws(&url),
                }
                .map_err(|reason| BenchError::BadUrl {
                    url: args.rest_url.clone().unwrap_or_else(|| url.clone()),
                    reason: reason.to_owned(),
                })?;
                check_host(&target.host, args.allow_remote)?;
                Some(target)
            }
            _ => None,
        };
        let population = match args.scenario {
            Scenario::Churn => args.members,
            _ => args.connections,
        };
        if population == 0 || population > MAX_POPULATION {
            return Err(BenchError::BadArgs(format!(
                "--connections/--members must be 1..={MAX_POPULATION}"
            )));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0 && v <= MAX_RATE;
        if !positive(args.rate) || !positive(args.churn) {
            return Err(BenchError::BadArgs(format!(
                "--rate and --churn must be in (0, {MAX_RATE}]"
            )));
        }
        if args.duration > MAX_DURATION || args.timeout > MAX_DURATION {
            return Err(BenchError::BadArgs(
                "--duration and --timeout must be at most 1h".into(),
            ));
        }
        if args.timeout.is_zero() {
            return Err(BenchError::BadArgs("--timeout must be positive".into()));
        }
        if args.payload_bytes > MAX_PAYLOAD {
            return Err(BenchError::BadArgs(format!(
                "--payload-bytes must be at most {MAX_PAYLOAD}"
            )));
        }
        let channels = args.channels.unwrap_or_else(|| population.div_ceil(20));
        if channels == 0 || channels > population {
            return Err(BenchError::BadArgs(
                "--channels must be 1..=connections".into(),
            ));
        }
        let workers = args
            .workers
            .unwrap_or_else(|| population.div_ceil(CONNECTIONS_PER_WORKER));
        if workers == 0 || workers > 64 || workers > population {
            return Err(BenchError::BadArgs(
                "--workers must be 1..=64 and at most the number of connections".into(),
            ));
        }
        Ok(Self {
            scenario: args.scenario,
            protocol: args.protocol,
            url,
            app: args.app.clone(),
            signer: Arc::new(Signer::new(&args.app, &args.app_id, &args.secret)),
            publish: args.publish,
            rest,
            population,
            channels,
            rate: args.rate,
            duration: args.duration,
            churn: args.churn,
            payload_bytes: args.payload_bytes,
            workers,
            timeout: args.timeout,
            run_id,
        })
    }

    /// The connection indices worker `slot` drives: a contiguous share of the population.
    pub(crate) fn share(&self, slot: WorkerSlot) -> Range<usize> {
        let start = self.population * slot.index / slot.count;
        let end = self.population * (slot.index + 1) / slot.count;
        start..end
    }

    /// The client id of population member `index`.
    pub(crate) fn client_id(&self, index: usize) -> String {
        format!("{}-c{index}", self.run_id)
    }

    /// The client id of one of the coordinator's own clients (publisher, churner, watcher).
    pub(crate) fn named_client(&self, name: &str) -> String {
        format!("{}-{name}", self.run_id)
    }

    /// The channel this run uses (idle: channel `index` of `channels`).
    ///
    /// Over the Pusher protocol the name says the channel's type: `presence-` wherever members
    /// join; for fanout a public channel (the HTTP API publishes to it) or, when the publisher
    /// sends client events, a `private-` one (client events are refused on public channels).
    pub(crate) fn channel(&self, index: usize) -> String {
        let prefix = match (self.protocol, self.scenario, self.publish) {
            (ProtocolKind::Native, ..) | (_, Scenario::Fanout, PublishVia::Rest) => "",
            (_, Scenario::Fanout, PublishVia::ClientEvents) => "private-",
            _ => "presence-",
        };
        format!("{prefix}bench-{}-{}-{index}", self.run_id, self.scenario)
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Refuses URLs we cannot speak to (not `ws://`) and, unless allowed, any host that is not on
/// this machine: load is only ever aimed at servers we run ourselves.
fn check_url(url: &str, allow_remote: bool) -> Result<(), BenchError> {
    let bad = |reason: &str| BenchError::BadUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("ws") {
        // No TLS backend is compiled in: a loopback benchmark has no use for one.
        return Err(bad("only ws:// URLs are supported"));
    }
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    check_host(host, allow_remote)
}

/// Refuses, unless allowed, a host that is not on this machine.
pub(crate) fn check_host(host: &str, allow_remote: bool) -> Result<(), BenchError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback && !allow_remote {
        return Err(BenchError::NotLoopback {
            host: host.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn slots() {
        let slot: WorkerSlot = "1/3".parse().unwrap();
        assert_eq!((slot.index, slot.count), (1, 3));
        assert_eq!(slot.to_string(), "1/3");
        assert!("3/3".parse::<WorkerSlot>().is_err());
        assert!("x".parse::<WorkerSlot>().is_err());
    }

    #[test]
    fn loopback_only() {
        assert!(check_url("ws://127.0.0.1:7070/ws", false).is_ok());
        assert!(check_url("ws://127.9.9.9:1/ws", false).is_ok());
        assert!(check_url("ws://localhost:7070/ws", false).is_ok());
        assert!(check_url("ws://[::1]:7070/ws", false).is_ok());
        assert!(matches!(
            check_url("ws://10.0.0.1:7070/ws", false),
            Err(BenchError::NotLoopback { .. })
        ));
        assert!(check_url("ws://10.0.0.1:7070/ws", true).is_ok());
        assert!(check_url("wss://127.0.0.1/ws", false).is_err());
        assert!(check_url("not a url", false).is_err());
    }
}

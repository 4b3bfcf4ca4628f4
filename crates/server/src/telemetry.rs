//! What operators see of a running server: Prometheus metrics (`GET /metrics`) and the one log
//! line per connection opened and closed.
//!
//! Metrics live in a recorder owned by the server rather than the process-wide one, so two
//! servers in one process (the test suites, an embedding application) keep their numbers apart.
//! Every handle is registered once, when the server starts, per app and protocol; the hot path
//! only bumps an atomic through a handle it already holds: no label formatting and no map
//! look-up per event. Labels are bounded by construction: app id, protocol, error code and
//! nothing else, never a channel or a client.
//!
//! The list of metrics with their meanings is in `docs/operations.md`; the `HELP` lines
//! rendered on `/metrics` say the same.

use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use rollcall_core::{AppId, ClientId, ConnectionId, Transition};

/// The `protocol` label of native WebSocket connections.
pub(crate) const NATIVE: &str = "native";
/// The `protocol` label of Pusher WebSocket connections.
pub(crate) const PUSHER: &str = "pusher";
/// The `protocol` label of the Pusher HTTP API.
pub(crate) const HTTP: &str = "http";

/// Upper bounds of the queue delay histogram's buckets, in seconds: from 100 µs (a writer that
/// was idle and woke at once) to 5 s (a client about to be dropped as a slow consumer).
const QUEUE_DELAY_BUCKETS: [f64; 15] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0,
];

/// How often histogram samples are folded into their buckets when nobody scrapes; without it
/// they would pile up in memory between scrapes.
pub(crate) const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Every metric: name, kind and help text. `docs/operations.md` has the same list.
mod names {
    pub(super) const BUILD_INFO: &str = "rollcall_build_info";
    pub(super) const CONNECTIONS: &str = "rollcall_connections";
    pub(super) const CONNECTIONS_OPENED: &str = "rollcall_connections_opened_total";
    pub(super) const CHANNELS: &str = "rollcall_channels";
    pub(super) const MEMBERS: &str = "rollcall_members";
    pub(super) const JOINS: &str = "rollcall_joins_total";
    pub(super) const LEAVES: &str = "rollcall_leaves_total";
    pub(super) const UPDATES: &str = "rollcall_updates_total";
    pub(super) const MESSAGES_IN: &str = "rollcall_messages_in_total";
    pub(super) const BYTES_IN: &str = "rollcall_message_bytes_in_total";
    pub(super) const MESSAGES_OUT: &str = "rollcall_messages_out_total";
    pub(super) const BYTES_OUT: &str = "rollcall_message_bytes_out_total";
    pub(super) const QUEUE_DELAY: &str = "rollcall_queue_delay_seconds";
    pub(super) const SLOW_CONSUMERS: &str = "rollcall_slow_consumers_total";
    pub(super) const ERRORS: &str = "rollcall_errors_total";
    pub(super) const AUTH_FAILURES: &str = "rollcall_auth_failures_total";
    pub(super) const WEBHOOK_DELIVERIES: &str = "rollcall_webhook_deliveries_total";
    pub(super) const WEBHOOK_FAILURES: &str = "rollcall_webhook_failures_total";
    pub(super) const WEBHOOK_DROPPED: &str = "rollcall_webhook_dropped_total";
    pub(super) const WEBHOOK_NOTICES_DROPPED: &str = "rollcall_webhook_notices_dropped_total";
    pub(super) const REDIS_UP: &str = "rollcall_redis_up";
    pub(super) const REDIS_ERRORS: &str = "rollcall_redis_errors_total";
    pub(super) const REDIS_RESTORES: &str = "rollcall_redis_restored_entries_total";
    pub(super) const REDIS_REAPS: &str = "rollcall_redis_reaped_nodes_total";
}

enum Kind {
    Counter,
    Gauge,
    Histogram,
}

const DESCRIPTIONS: [(&str, Kind, &str); 24] = [
    (
        names::BUILD_INFO,
        Kind::Gauge,
        "Always 1; the version label is the server's version.",
    ),
    (
        names::CONNECTIONS,
        Kind::Gauge,
        "Open WebSocket connections that passed authentication.",
    ),
    (
        names::CONNECTIONS_OPENED,
        Kind::Counter,
        "WebSocket connections that passed authentication.",
    ),
    (
        names::CHANNELS,
        Kind::Gauge,
        "Channels with at least one subscriber (computed when scraped).",
    ),
    (
        names::MEMBERS,
        Kind::Gauge,
        "Presence members (client id, channel) over all channels (computed when scraped).",
    ),
    (
        names::JOINS,
        Kind::Counter,
        "join events: a client's first connection entered a channel.",
    ),
    (
        names::LEAVES,
        Kind::Counter,
        "leave events: a client's last connection left a channel.",
    ),
    (
        names::UPDATES,
        Kind::Counter,
        "update events: member data changed, or a client's connection was added or removed.",
    ),
    (
        names::MESSAGES_IN,
        Kind::Counter,
        "Text frames received from clients.",
    ),
    (
        names::BYTES_IN,
        Kind::Counter,
        "Bytes of text frames received from clients.",
    ),
    (
        names::MESSAGES_OUT,
        Kind::Counter,
        "Text frames written to clients.",
    ),
    (
        names::BYTES_OUT,
        Kind::Counter,
        "Bytes of text frames written to clients.",
    ),
    (
        names::QUEUE_DELAY,
        Kind::Histogram,
        "Per write batch: seconds from the oldest frame's push into the connection's queue to the flush of the socket.",
    ),
    (
        names::SLOW_CONSUMERS,
        Kind::Counter,
        "Connections closed because their outbound queue overflowed.",
    ),
    (
        names::ERRORS,
        Kind::Counter,
        "Errors sent to clients, by protocol and code (native error code, or Pusher error code).",
    ),
    (
        names::AUTH_FAILURES,
        Kind::Counter,
        "Refused credentials: native tokens, Pusher channel and sign-in signatures, HTTP API signatures.",
    ),
    (
        names::WEBHOOK_DELIVERIES,
        Kind::Counter,
        "Webhook requests answered with a 2xx status.",
    ),
    (
        names::WEBHOOK_FAILURES,
        Kind::Counter,
        "Webhook request attempts that failed (each retry counts).",
    ),
    (
        names::WEBHOOK_DROPPED,
        Kind::Counter,
        "Webhook batches given up: retries exhausted or the endpoint's queue full.",
    ),
    (
        names::WEBHOOK_NOTICES_DROPPED,
        Kind::Counter,
        "Webhook events dropped because the app's webhook queue was full.",
    ),
    (
        names::REDIS_UP,
        Kind::Gauge,
        "Redis engine only: 1 while this node holds its lease and its pub/sub connection is open.",
    ),
    (
        names::REDIS_ERRORS,
        Kind::Counter,
        "Redis engine only: Redis commands that failed (unreachable, timed out).",
    ),
    (
        names::REDIS_RESTORES,
        Kind::Counter,
        "Redis engine only: presence entries this node registered again after Redis lost them.",
    ),
    (
        names::REDIS_REAPS,
        Kind::Counter,
        "Redis engine only: dead nodes whose entries this node removed.",
    ),
];

/// Whoever registers handles: the recorder's own key of what is being measured.
const METADATA: Metadata<'static> = Metadata::new("rollcall", Level::INFO, None);

/// The server's metrics registry and the renderer behind `/metrics`.
pub(crate) struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry with every metric described.
    #[must_use]
    pub(crate) fn new() -> Self {
        let builder = PrometheusBuilder::new();
        // The buckets are a fixed, non-empty list, which is all this call checks.
        #[allow(clippy::expect_used)]
        let builder = builder
            .set_buckets_for_metric(
                Matcher::Full(names::QUEUE_DELAY.into()),
                &QUEUE_DELAY_BUCKETS,
            )
            .expect("non-empty buckets");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        for (name, kind, help) in DESCRIPTIONS {
            let name = KeyName::from_const_str(name);
            match kind {
                Kind::Counter => recorder.describe_counter(name, None, help.into()),
                Kind::Gauge => recorder.describe_gauge(name, None, help.into()),
                Kind::Histogram => recorder.describe_histogram(name, None, help.into()),
            }
        }
        let metrics = Self { recorder, handle };
        metrics
            .gauge(
                names::BUILD_INFO,
                vec![Label::from_static_parts(
                    "version",
                    crate::session::SERVER_VERSION,
                )],
            )
            .set(1.0);
        metrics
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>) -> Gauge {
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &METADATA)
    }

    fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.recorder
            .register_histogram(&Key::from_parts(name, labels), &METADATA)
    }

    /// The Redis engine's handles (registered only on that engine, so a single node's
    /// `/metrics` has no Redis series).
    #[must_use]
    pub(crate) fn redis(&self) -> RedisMetrics {
        RedisMetrics {
            up: self.gauge(names::REDIS_UP, Vec::new()),
            errors: self.counter(names::REDIS_ERRORS, Vec::new()),
            restored: self.counter(names::REDIS_RESTORES, Vec::new()),
            reaped: self.counter(names::REDIS_REAPS, Vec::new()),
        }
    }

    /// Registers every handle of one app. Called once per app at start-up, so every series
    /// exists (at 0) from the first scrape on.
    #[must_use]
    pub(crate) fn app(&self, app: &AppId) -> AppMetrics {
        let app_label = || Label::new("app", app.as_str().to_owned());
        let per_app = |name| self.counter(name, vec![app_label()]);
        let per_protocol = |protocol: &'static str| {
            let labels = || vec![app_label(), Label::from_static_parts("protocol", protocol)];
            let overflow_code = match protocol {
                PUSHER => "4100",
                _ => "slow_consumer",
            };
            ConnectionMetrics {
                open: self.gauge(names::CONNECTIONS, labels()),
                opened: self.counter(names::CONNECTIONS_OPENED, labels()),
                messages_in: self.counter(names::MESSAGES_IN, labels()),
                bytes_in: self.counter(names::BYTES_IN, labels()),
                auth_failures: self.counter(names::AUTH_FAILURES, labels()),
                writer: WriterMetrics {
                    messages_out: self.counter(names::MESSAGES_OUT, labels()),
                    bytes_out: self.counter(names::BYTES_OUT, labels()),
                    queue_delay: self.histogram(names::QUEUE_DELAY, labels()),
                    slow_consumers: self.counter(names::SLOW_CONSUMERS, labels()),
                    overflow_error: self.error_counter(protocol, overflow_code),
                },
            }
        };
        AppMetrics {
            native: per_protocol(NATIVE),
            pusher: per_protocol(PUSHER),
            http_auth_failures: self.counter(
                names::AUTH_FAILURES,
                vec![app_label(), Label::from_static_parts("protocol", HTTP)],
            ),
            presence: PresenceMetrics {
                joins: per_app(names::JOINS),
                leaves: per_app(names::LEAVES),
                updates: per_app(names::UPDATES),
            },
            webhooks: WebhookMetrics {
                delivered: per_app(names::WEBHOOK_DELIVERIES),
                failed: per_app(names::WEBHOOK_FAILURES),
                dropped: per_app(names::WEBHOOK_DROPPED),
            },
            notices_dropped: per_app(names::WEBHOOK_NOTICES_DROPPED),
            channels: self.gauge(names::CHANNELS, vec![app_label()]),
            members: self.gauge(names::MEMBERS, vec![app_label()]),
        }
    }

    fn error_counter(&self, protocol: &'static str, code: &'static str) -> Counter {
        self.counter(
            names::ERRORS,
            vec![
                Label::from_static_parts("protocol", protocol),
                Label::from_static_parts("code", code),
            ],
        )
    }

    /// Counts one error sent to a client. Errors are off the hot path (each already costs an
    /// encoded message), so the handle is looked up here rather than kept for every code.
    pub(crate) fn error(&self, protocol: &'static str, code: &'static str) {
        self.error_counter(protocol, code).increment(1);
    }

    /// The Prometheus text exposition of every metric.
    #[must_use]
    pub(crate) fn render(&self) -> String {
        self.handle.render()
    }

    /// Folds histogram samples into their buckets; see [`UPKEEP_INTERVAL`].
    pub(crate) fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// The `code` label of a Pusher error: its numeric code when it has one.
pub(crate) fn pusher_code(code: Option<u16>) -> &'static str {
    // Labels are &'static so that counting never allocates; the codes the server sends are
    // a closed set (`session::pusher::close`), anything else is folded into "other".
    match code {
        None => "none",
        Some(4001) => "4001",
        Some(4006) => "4006",
        Some(4007) => "4007",
        Some(4009) => "4009",
        Some(4100) => "4100",
        Some(4200) => "4200",
        Some(4201) => "4201",
        Some(4301) => "4301",
        Some(_) => "other",
    }
}

/// One app's handles.
#[derive(Clone)]
pub(crate) struct AppMetrics {
    /// Native WebSocket connections.
    pub(crate) native: ConnectionMetrics,
    /// Pusher WebSocket connections.
    pub(crate) pusher: ConnectionMetrics,
    /// HTTP API requests refused for their signature.
    pub(crate) http_auth_failures: Counter,
    /// Presence events, counted by the hub.
    pub(crate) presence: PresenceMetrics,
    /// Webhook delivery.
    pub(crate) webhooks: WebhookMetrics,
    /// Webhook notices dropped at the app's queue; set from its counter when scraped.
    pub(crate) notices_dropped: Counter,
    /// Occupied channels; set when scraped.
    pub(crate) channels: Gauge,
    /// Members; set when scraped.
    pub(crate) members: Gauge,
}

impl std::fmt::Debug for AppMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppMetrics").finish_non_exhaustive()
    }
}

/// One app's and protocol's connection handles.
#[derive(Clone)]
pub(crate) struct ConnectionMetrics {
    open: Gauge,
    opened: Counter,
    messages_in: Counter,
    bytes_in: Counter,
    /// Credentials refused on this protocol.
    pub(crate) auth_failures: Counter,
    /// What the connections' writers count.
    pub(crate) writer: WriterMetrics,
}

impl ConnectionMetrics {
    /// Counts one text frame received.
    pub(crate) fn received(&self, bytes: usize) {
        self.messages_in.increment(1);
        self.bytes_in.increment(bytes as u64);
    }
}

/// What a connection's writer and queue count.
#[derive(Clone)]
pub(crate) struct WriterMetrics {
    messages_out: Counter,
    bytes_out: Counter,
    queue_delay: Histogram,
    slow_consumers: Counter,
    overflow_error: Counter,
}

impl std::fmt::Debug for WriterMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterMetrics").finish_non_exhaustive()
    }
}

impl WriterMetrics {
    /// Counts one written batch: `frames` text frames of `bytes` in all, the oldest of which
    /// waited `delay` between its push and the flush.
    pub(crate) fn wrote(&self, frames: u64, bytes: u64, delay: Option<Duration>) {
        if frames > 0 {
            self.messages_out.increment(frames);
            self.bytes_out.increment(bytes);
        }
        if let Some(delay) = delay {
            self.queue_delay.record(delay.as_secs_f64());
        }
    }

    /// Counts a connection dropped for overflowing its queue (and the error it is sent).
    pub(crate) fn overflowed(&self) {
        self.slow_consumers.increment(1);
        self.overflow_error.increment(1);
    }
}

/// Presence event counters, kept by the hub.
#[derive(Clone)]
pub(crate) struct PresenceMetrics {
    joins: Counter,
    leaves: Counter,
    updates: Counter,
}

impl Default for PresenceMetrics {
    /// Handles that count nothing, for hubs built without a server (unit tests).
    fn default() -> Self {
        Self {
            joins: Counter::noop(),
            leaves: Counter::noop(),
            updates: Counter::noop(),
        }
    }
}

impl std::fmt::Debug for PresenceMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceMetrics").finish_non_exhaustive()
    }
}

impl PresenceMetrics {
    /// Counts an event a shared engine reported by name (`joined`, `left`, `updated`).
    pub(crate) fn record_kind(&self, kind: &str) {
        match kind {
            "joined" => self.joins.increment(1),
            "left" => self.leaves.increment(1),
            "updated" => self.updates.increment(1),
            _ => {}
        }
    }

    /// Counts the event a transition becomes.
    pub(crate) fn record(&self, transition: &Transition) {
        match transition {
            Transition::Joined { .. } => self.joins.increment(1),
            Transition::Left { .. } => self.leaves.increment(1),
            Transition::Updated { .. } => self.updates.increment(1),
            Transition::Unchanged => {}
        }
    }
}

/// Webhook delivery counters of one app.
#[derive(Clone)]
pub(crate) struct WebhookMetrics {
    /// Requests answered 2xx.
    pub(crate) delivered: Counter,
    /// Failed attempts.
    pub(crate) failed: Counter,
    /// Batches given up.
    pub(crate) dropped: Counter,
}

impl std::fmt::Debug for WebhookMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookMetrics").finish_non_exhaustive()
    }
}

/// How a connection ended, for its `connection closed` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The client sent a close frame, with this code if it gave one.
    Client(Option<u16>),
    /// The server closed it with this code and reason.
    Server(u16, &'static str),
    /// The socket failed or reached end of stream without a close frame.
    Lost,
}

/// One connection's bookkeeping from open to close: the `connection opened` and
/// `connection closed` log lines, and the open-connections gauge (given back on drop, so a
/// panicking session cannot leave it too high).
pub(crate) struct ConnectionLog {
    app: AppId,
    protocol: &'static str,
    id: ConnectionId,
    opened: Instant,
    open: Gauge,
}

impl std::fmt::Debug for ConnectionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionLog")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ConnectionLog {
    /// Logs the opening (at info, target `rollcall::connection`) and counts the connection.
    /// Only identifiers are logged: never a token, a secret or member data.
    pub(crate) fn opened(
        app: &AppId,
        metrics: &ConnectionMetrics,
        protocol: &'static str,
        id: ConnectionId,
        client: Option<&ClientId>,
    ) -> Self {
        metrics.opened.increment(1);
        metrics.open.increment(1.0);
        tracing::info!(
            target: "rollcall::connection",
            app = app.as_str(),
            protocol,
            connection_id = %id,
            client_id = client.map(ClientId::as_str),
            "connection opened"
        );
        Self {
            app: app.clone(),
            protocol,
            id,
            opened: Instant::now(),
            open: metrics.open.clone(),
        }
    }

    /// Logs the closing with how it ended and how long the connection lasted. `client` is the
    /// identity the connection had at the end (a Pusher connection may sign in late).
    pub(crate) fn closed(&self, client: Option<&ClientId>, end: End) {
        let (by, close_code, reason) = match end {
            End::Client(code) => ("client", code, "client closed"),
            End::Server(code, reason) => ("server", Some(code), reason),
            End::Lost => ("network", None, "connection lost"),
        };
        let duration_ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            target: "rollcall::connection",
            app = self.app.as_str(),
            protocol = self.protocol,
            connection_id = %self.id,
            client_id = client.map(ClientId::as_str),
            by,
            close_code,
            reason,
            duration_ms,
            "connection closed"
        );
    }
}

impl Drop for ConnectionLog {
    fn drop(&mut self) {
        self.open.decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(series))
    }

    #[test]
    fn every_series_of_an_app_exists_from_the_start_and_counts() {
        let metrics = Metrics::new();
        let app = metrics.app(&AppId::parse("a1").unwrap());
        app.native.received(10);
        app.native
            .writer
            .wrote(2, 30, Some(Duration::from_millis(3)));
        metrics.error(NATIVE, "invalid_json");
        let text = metrics.render();
        assert_eq!(
            line(
                &text,
                r#"rollcall_messages_in_total{app="a1",protocol="native"}"#
            ),
            Some(r#"rollcall_messages_in_total{app="a1",protocol="native"} 1"#)
        );
        assert!(
            text.contains(r#"rollcall_message_bytes_out_total{app="a1",protocol="native"} 30"#)
        );
        assert!(
            text.contains(r#"rollcall_joins_total{app="a1"} 0"#),
            "{text}"
        );
        assert!(text.contains(r#"rollcall_errors_total{protocol="native",code="invalid_json"} 1"#));
        assert!(
            text.contains(
                r#"rollcall_queue_delay_seconds_bucket{app="a1",protocol="native",le="0.005"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains("# HELP rollcall_connections Open WebSocket connections"));
        assert!(text.contains(r#"rollcall_build_info{version=""#));
    }

    #[test]
    fn the_connection_gauge_goes_back_down_when_the_log_is_dropped() {
        let metrics = Metrics::new();
        let app_id = AppId::parse("a1").unwrap();
        let app = metrics.app(&app_id);
        let log =
            ConnectionLog::opened(&app_id, &app.pusher, PUSHER, ConnectionId::new(1, 1), None);
        assert!(
            metrics
                .render()
                .contains(r#"rollcall_connections{app="a1",protocol="pusher"} 1"#)
        );
        log.closed(None, End::Lost);
        drop(log);
        assert!(
            metrics
                .render()
                .contains(r#"rollcall_connections{app="a1",protocol="pusher"} 0"#)
        );
    }

    #[test]
    fn two_registries_do_not_share_numbers() {
        let one = Metrics::new();
        let two = Metrics::new();
        one.error(PUSHER, pusher_code(Some(4301)));
        assert!(one.render().contains(r#"code="4301"} 1"#));
        assert!(!two.render().contains("4301"));
    }
}

/// The Redis engine's metrics.
#[derive(Clone)]
pub(crate) struct RedisMetrics {
    /// 1 while the lease is held and pub/sub connected.
    pub(crate) up: Gauge,
    /// Failed Redis commands.
    pub(crate) errors: Counter,
    /// Entries registered again after Redis lost them.
    pub(crate) restored: Counter,
    /// Dead nodes reaped by this node.
    pub(crate) reaped: Counter,
}

impl std::fmt::Debug for RedisMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisMetrics").finish_non_exhaustive()
    }
}

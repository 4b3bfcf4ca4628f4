//! Every scenario at a tiny size against an in-process server, over both protocols (rollcall's
//! native `/ws` and its Pusher endpoint `/app/{key}`): the reports must be sane (nothing lost,
//! storms converge, everyone comes back). Timing is not asserted here; it is what
//! `rollcall bench` measures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use clap::Parser;
use rollcall_bench::{BenchArgs, BenchError, Outcome, ProtocolKind, Report};
use rollcall_server::Server;
use rollcall_server::config::Config;
use tokio::sync::oneshot;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: BenchArgs,
}

/// A server on port 0, stopped when dropped (as in the server's own tests).
struct TestServer {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn start() -> TestServer {
    let config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Config::default()
    };
    let server = Server::bind(config).await.expect("server binds");
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    TestServer { addr, _stop: stop }
}

async fn bench(server: &TestServer, args: &[&str]) -> Report {
    run_bench(server, "native", args).await
}

/// The same over the Pusher protocol, as the built-in development app (key `dev-key`, secret
/// `dev-secret`, client events allowed at 10 per second, presence channels of up to 100).
async fn bench_pusher(server: &TestServer, args: &[&str]) -> Report {
    let report = run_bench(server, "pusher", args).await;
    assert_eq!(report.protocol, ProtocolKind::Pusher);
    report
}

async fn run_bench(server: &TestServer, protocol: &str, args: &[&str]) -> Report {
    let url = match protocol {
        "native" => format!("ws://{}/ws", server.addr),
        _ => format!("ws://{}/app/{{key}}?protocol=7&client=test", server.addr),
    };
    let argv = ["rollcall-bench"]
        .iter()
        .copied()
        .chain(args.iter().copied())
        .chain(["--protocol", protocol, "--url", &url, "--timeout", "10s"]);
    let cli = Cli::try_parse_from(argv).expect("arguments parse");
    let report = rollcall_bench::execute(&cli.bench)
        .await
        .expect("the run completes");
    assert!(report.passed(), "{}", report.to_table());
    assert_eq!(report.setup.failed, 0);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_holds_every_connection_and_reads_the_server_rss() {
    let server = start().await;
    let pid = std::process::id().to_string();
    let report = bench(
        &server,
        &[
            "idle",
            "-n",
            "40",
            "--channels",
            "4",
            "--duration",
            "200ms",
            "--server-pid",
            &pid,
        ],
    )
    .await;
    let Outcome::Idle(idle) = &report.outcome else {
        panic!("idle outcome");
    };
    assert_eq!(idle.open_at_end, 40);
    // 4 channels of 10: every member sees the joins of the 9 after it, 45 per channel.
    assert_eq!(idle.frames_after_join, 4 * 45);
    assert!(idle.rss_per_connection_bytes.is_some());
    assert!(report.server_rss.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_delivers_every_message_to_every_subscriber() {
    let server = start().await;
    let report = bench(
        &server,
        &["fanout", "-n", "30", "--rate", "40", "--duration", "500ms"],
    )
    .await;
    let Outcome::Fanout(fanout) = &report.outcome else {
        panic!("fanout outcome");
    };
    assert_eq!(fanout.published, 20);
    assert_eq!(fanout.delivered, 20 * 30);
    assert_eq!(fanout.lost, 0);
    assert_eq!(fanout.latency.samples, 600);
    assert!(fanout.latency.p50_ms <= fanout.latency.max_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_is_seen_by_every_member() {
    let server = start().await;
    let report = bench(
        &server,
        &[
            "churn",
            "--members",
            "20",
            "--churn",
            "20",
            "--duration",
            "500ms",
        ],
    )
    .await;
    let Outcome::Churn(churn) = &report.outcome else {
        panic!("churn outcome");
    };
    assert_eq!(churn.churn_joins, 10);
    assert_eq!(churn.observed_joins, 10 * 20);
    assert_eq!(churn.observed_leaves, 10 * 20);
    assert_eq!(churn.missed, 0);
    assert_eq!(churn.join_to_visible.samples, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_converges() {
    let server = start().await;
    let report = bench(&server, &["storm", "-n", "40"]).await;
    let Outcome::Storm(storm) = &report.outcome else {
        panic!("storm outcome");
    };
    assert_eq!(storm.converged, 40);
    assert!(storm.time_to_converge_ms.is_some());
    // One snapshot each plus every later join: exactly the naive count for a join-only storm.
    assert_eq!(storm.frames, storm.naive_frames);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_comes_back_to_a_complete_list() {
    let server = start().await;
    let report = bench(&server, &["reconnect", "-n", "30"]).await;
    let Outcome::Reconnect(reconnect) = &report.outcome else {
        panic!("reconnect outcome");
    };
    assert_eq!(reconnect.rejoined, 30);
    assert_eq!(reconnect.watcher_final_members, 30);
    assert!(reconnect.time_to_steady_ms.is_some());
    // Without a grace period each member is either a leave and a join, or (when its new
    // connection joined before the old one's removal) two updates.
    assert_eq!(reconnect.watcher_leaves, reconnect.watcher_joins);
    assert_eq!(
        reconnect.watcher_joins * 2 + reconnect.watcher_updates,
        30 * 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pusher_idle_holds_every_connection() {
    let server = start().await;
    let report = bench_pusher(
        &server,
        &["idle", "-n", "40", "--channels", "4", "--duration", "200ms"],
    )
    .await;
    let Outcome::Idle(idle) = &report.outcome else {
        panic!("idle outcome");
    };
    assert_eq!(idle.open_at_end, 40);
    // Every member gets a member_added for each of the 9 who subscribe after it.
    assert_eq!(idle.frames_after_join, 4 * 45);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pusher_fanout_through_the_http_api_delivers_everything() {
    let server = start().await;
    let report = bench_pusher(
        &server,
        &["fanout", "-n", "30", "--rate", "40", "--duration", "500ms"],
    )
    .await;
    let Outcome::Fanout(fanout) = &report.outcome else {
        panic!("fanout outcome");
    };
    assert_eq!(fanout.publisher, "HTTP API");
    assert_eq!(fanout.published, 20);
    assert_eq!(fanout.publish_errors, 0);
    assert_eq!(fanout.delivered, 20 * 30);
    assert_eq!((fanout.lost, fanout.duplicates), (0, 0));
    assert_eq!(fanout.latency.samples, 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pusher_fanout_through_client_events_delivers_everything() {
    let server = start().await;
    // The development app allows 10 client events per second and connection.
    let report = bench_pusher(
        &server,
        &[
            "fanout",
            "-n",
            "20",
            "--publish",
            "client-events",
            "--rate",
            "8",
            "--duration",
            "500ms",
        ],
    )
    .await;
    let Outcome::Fanout(fanout) = &report.outcome else {
        panic!("fanout outcome");
    };
    assert_eq!(fanout.publisher, "client events");
    assert_eq!(fanout.published, 4);
    assert_eq!(fanout.delivered, 4 * 20);
    assert_eq!(fanout.lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pusher_client_events_over_the_rate_limit_are_reported_refused() {
    let server = start().await;
    let url = format!("ws://{}/app/dev-key?protocol=7", server.addr);
    let cli = Cli::try_parse_from([
        "rollcall-bench",
        "fanout",
        "--protocol",
        "pusher",
        "--url",
        &url,
        "--publish",
        "client-events",
        "-n",
        "5",
        "--rate",
        "40",
        "--duration",
        "500ms",
        "--timeout",
        "10s",
    ])
    .unwrap();
    let report = rollcall_bench::execute(&cli.bench).await.unwrap();
    let Outcome::Fanout(fanout) = &report.outcome else {
        panic!("fanout outcome");
    };
    // 20 sent within half a second, 10 allowed per second: the rest are refused with 4301,
    // and only the accepted ones are expected.
    assert!(fanout.publish_errors > 0, "{}", report.to_table());
    assert_eq!(fanout.published + fanout.publish_errors, 20);
    assert_eq!(fanout.lost, 0, "{}", report.to_table());
    assert!(!report.passed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pusher_churn_is_seen_by_every_member() {
    let server = start().await;
    let report = bench_pusher(
        &server,
        &[
            "churn",
            "--members",
            "20",
            "--churn",
            "20",
            "--duration",
            "500ms",
        ],
    )
    .await;
    let Outcome::Churn(churn) = &report.outcome else {
        panic!("churn outcome");
    };
    assert_eq!(churn.churn_joins, 10);
    assert_eq!(churn.churn_errors, 0);
    assert_eq!(churn.observed_joins, 10 * 20);
    assert_eq!(churn.observed_leaves, 10 * 20);
    assert_eq!(churn.missed, 0);
    assert_eq!(churn.join_to_visible.samples, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pusher_storm_converges() {
    let server = start().await;
    let report = bench_pusher(&server, &["storm", "-n", "40"]).await;
    let Outcome::Storm(storm) = &report.outcome else {
        panic!("storm outcome");
    };
    assert_eq!(storm.converged, 40);
    assert!(storm.time_to_converge_ms.is_some());
    // One subscription_succeeded each plus a member_added per later subscriber.
    assert_eq!(storm.frames, storm.naive_frames);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pusher_reconnect_comes_back_to_a_complete_list() {
    let server = start().await;
    let report = bench_pusher(&server, &["reconnect", "-n", "30"]).await;
    let Outcome::Reconnect(reconnect) = &report.outcome else {
        panic!("reconnect outcome");
    };
    assert_eq!(reconnect.rejoined, 30);
    assert_eq!(reconnect.watcher_final_members, 30);
    assert!(reconnect.time_to_steady_ms.is_some());
    // Pusher member events are per user: a member whose new connection subscribed before the
    // old one was gone is neither removed nor added, and there are no updates.
    assert_eq!(reconnect.watcher_leaves, reconnect.watcher_joins);
    assert!(reconnect.watcher_joins <= 30);
    assert_eq!(reconnect.watcher_updates, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pusher_refuses_a_wrong_secret() {
    let server = start().await;
    let url = format!("ws://{}/app/dev-key?protocol=7", server.addr);
    let cli = Cli::try_parse_from([
        "rollcall-bench",
        "storm",
        "--protocol",
        "pusher",
        "--url",
        &url,
        "--secret",
        "not-the-secret",
        "-n",
        "3",
        "--timeout",
        "3s",
    ])
    .unwrap();
    let report = rollcall_bench::execute(&cli.bench).await.unwrap();
    assert!(!report.passed());
    let Outcome::Storm(storm) = &report.outcome else {
        panic!("storm outcome");
    };
    assert_eq!(storm.converged, 0);
}

#[tokio::test]
async fn refuses_remote_servers() {
    let cli =
        Cli::try_parse_from(["rollcall-bench", "idle", "--url", "ws://192.0.2.1:7070/ws"]).unwrap();
    let error = rollcall_bench::execute(&cli.bench).await.unwrap_err();
    assert!(matches!(error, BenchError::NotLoopback { .. }), "{error}");
}

#[tokio::test]
async fn pusher_defaults_and_remote_rest_urls() {
    let cli = Cli::try_parse_from([
        "rollcall-bench",
        "fanout",
        "--protocol",
        "pusher",
        "--rest-url",
        "http://192.0.2.1:7070",
    ])
    .unwrap();
    assert_eq!(cli.bench.app, "dev-key");
    assert_eq!(cli.bench.app_id, "dev");
    assert_eq!(cli.bench.secret, "dev-secret");
    let error = rollcall_bench::execute(&cli.bench).await.unwrap_err();
    assert!(matches!(error, BenchError::NotLoopback { .. }), "{error}");
}

//! Every scenario at a tiny size against an in-process server: the reports must be sane
//! (nothing lost, storms converge, everyone comes back). Timing is not asserted here; it is
//! what `rollcall bench` measures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use clap::Parser;
use rollcall_bench::{BenchArgs, BenchError, Outcome, Report};
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
    let url = format!("ws://{}/ws", server.addr);
    let argv = ["rollcall-bench"]
        .iter()
        .copied()
        .chain(args.iter().copied())
        .chain(["--url", &url, "--timeout", "10s"]);
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

#[tokio::test]
async fn refuses_remote_servers() {
    let cli =
        Cli::try_parse_from(["rollcall-bench", "idle", "--url", "ws://192.0.2.1:7070/ws"]).unwrap();
    let error = rollcall_bench::execute(&cli.bench).await.unwrap_err();
    assert!(matches!(error, BenchError::NotLoopback { .. }), "{error}");
}

//! Test harness: real servers (each on its own runtime, so one can be stopped like a crash and
//! restarted on the same port), a TCP proxy that can hold back the server's replies, and SDK
//! clients.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rollcall_client::{Backoff, Channel, ChannelEvent, Client, ConnectOptions};
use rollcall_server::Server;
use rollcall_server::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A server running on a runtime of its own. Stopping it drops that runtime, which ends every
/// connection at once: graceful shutdown would not, because upgraded WebSockets outlive the
/// HTTP server that accepted them.
pub struct Node {
    pub addr: SocketAddr,
    /// Sent `true` for a graceful shutdown, `false` (or dropped) for a crash.
    stop: Option<oneshot::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl Node {
    /// Starts the default configuration (the dev app) on `addr` (port 0 for any).
    pub fn start(addr: SocketAddr) -> Self {
        Self::start_with(Config {
            listen: addr,
            ..Config::default()
        })
    }

    /// Starts `config`. Binding is retried for a while, since a just-stopped server's socket
    /// may take a moment to be released.
    pub fn start_with(config: Config) -> Self {
        let (bound_tx, bound_rx) = std_mpsc::channel();
        let (stop, stopped) = oneshot::channel::<bool>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let deadline = tokio::time::Instant::now() + PATIENCE;
                let server = loop {
                    match Server::bind(config.clone()).await {
                        Ok(server) => break server,
                        Err(e) if tokio::time::Instant::now() < deadline => {
                            eprintln!("bind retry: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(e) => panic!("server binds: {e}"),
                    }
                };
                bound_tx.send(server.local_addr().unwrap()).unwrap();
                let (graceful, drain) = oneshot::channel::<()>();
                let run = server.run(async move {
                    let _ = drain.await;
                });
                tokio::pin!(run);
                tokio::select! {
                    _ = &mut run => {}
                    how = stopped => {
                        if how == Ok(true) {
                            let _ = graceful.send(());
                            let _ = run.await;
                        }
                    }
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        });
        let addr = bound_rx.recv_timeout(PATIENCE * 2).expect("server started");
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Starts on a blocking thread, for use inside async tests.
    pub async fn start_async(addr: SocketAddr) -> Self {
        tokio::task::spawn_blocking(move || Self::start(addr))
            .await
            .unwrap()
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Stops the server as a crash would: every connection ends, without a close frame.
    pub fn stop(mut self) {
        self.shutdown(false);
    }

    /// Stops the server the way Ctrl-C does: `server_shutdown`, close 1001, drain.
    pub fn stop_gracefully(mut self) {
        self.shutdown(true);
    }

    fn shutdown(&mut self, graceful: bool) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(graceful);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown(false);
    }
}

pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Reconnects fast, so restart tests stay short.
pub fn quick_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        ..Backoff::default()
    }
}

pub fn options(client_id: &str) -> ConnectOptions {
    ConnectOptions::anonymous(client_id.parse().unwrap()).with_reconnect(quick_backoff())
}

pub async fn connect(url: &str, client_id: &str) -> Client {
    Client::connect(url, options(client_id)).await.unwrap()
}

/// The next event, which must come within [`PATIENCE`].
pub async fn next_event(channel: &mut Channel) -> ChannelEvent {
    tokio::time::timeout(PATIENCE, channel.next_event())
        .await
        .expect("an event within the patience window")
        .expect("the channel is still subscribed")
}

/// The next event that is not about a member (skips joins, updates, leaves, resyncs).
pub async fn next_message(channel: &mut Channel) -> ChannelEvent {
    loop {
        let event = next_event(channel).await;
        if matches!(event, ChannelEvent::Message(_) | ChannelEvent::Ephemeral(_)) {
            return event;
        }
    }
}

/// The sorted client ids of the channel's local member view.
pub fn ids(channel: &Channel) -> Vec<String> {
    channel
        .members()
        .iter()
        .map(|m| m.client_id.to_string())
        .collect()
}

/// Waits until `check` holds, polling; panics after [`PATIENCE`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A TCP proxy in front of a server that can hold back everything the server sends, as a slow
/// or lossy network would delay an ack.
pub struct Proxy {
    pub addr: SocketAddr,
    held: watch::Sender<bool>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(any_port()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (held, held_rx) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                tokio::spawn(pipe(client, server, held_rx.clone()));
            }
        });
        Self { addr, held }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// While held, bytes from the server wait in the proxy.
    pub fn hold(&self, held: bool) {
        self.held.send_replace(held);
    }
}

async fn pipe(client: TcpStream, server: TcpStream, mut held: watch::Receiver<bool>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = tokio::io::copy(&mut client_read, &mut server_write);
    let down = async {
        let mut buffer = vec![0; 8192];
        loop {
            let n = server_read.read(&mut buffer).await?;
            if n == 0 || held.wait_for(|held| !*held).await.is_err() {
                return Ok::<_, std::io::Error>(());
            }
            client_write.write_all(&buffer[..n]).await?;
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

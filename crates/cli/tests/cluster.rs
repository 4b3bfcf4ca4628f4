//! Several real `rollcall serve` processes sharing one real `redis-server`: they must behave as
//! one server (docs/cluster.md). Every test starts its own Redis on a free loopback port and its
//! own nodes, so the tests run in parallel; every wait is bounded.
//!
//! Needs `redis-server` (Debian's `redis-server` package; `./scripts/test` installs it) on the
//! `PATH`, or its path in `ROLLCALL_TEST_REDIS_SERVER`. Without it these tests fail, they are
//! never skipped.
//!
//! Run: `cargo test -p rollcall --test cluster`.
//!
//! Every native client below checks its own stream as docs/protocol.md §7 tells clients to:
//! after a `join`/`watch` snapshot at `seq` S, the next event of that channel has S + 1, and so
//! on, whichever node caused each event. A gap or a repeat fails the test where it is read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long anything that should happen promptly may take.
const PATIENCE: Duration = Duration::from_secs(10);

/// The node lease used by the tests (the default is 10 s): a dead node's members must be gone
/// within `KILL_BOUND` of its death.
const LEASE_MS: u64 = 2000;
/// Lease + reaper period + delivery, with a margin for a loaded CI machine.
const KILL_BOUND: Duration = Duration::from_secs(8);
/// How long to keep listening for a duplicate after the expected events have arrived.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(2);

const APP_ID: &str = "123";
const APP_KEY: &str = "cluster-key";
const APP_SECRET: &str = "cluster-secret-not-for-logs";

// ---------------------------------------------------------------------------------------------
// redis-server

/// A `redis-server` child process on a loopback port, without persistence (a restart comes back
/// empty). Killed on drop.
struct Redis {
    child: Option<Child>,
    port: u16,
    password: Option<String>,
    dir: PathBuf,
}

fn redis_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ROLLCALL_TEST_REDIS_SERVER") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-server was not found on PATH: these tests need a real Redis. Install it \
                 with `sudo apt-get install redis-server` (./scripts/test does this), or point \
                 ROLLCALL_TEST_REDIS_SERVER at the binary."
            )
        })
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Redis {
    fn start_with(dir: &Path, password: Option<&str>) -> Self {
        let mut redis = Self {
            child: None,
            port: 0,
            password: password.map(str::to_owned),
            dir: dir.join("redis"),
        };
        std::fs::create_dir_all(&redis.dir).unwrap();
        // Another process may take the port between `free_port` and redis binding it: retry.
        for _ in 0..5 {
            redis.port = free_port();
            if redis.spawn() {
                return redis;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// Starts redis-server on `self.port`; false when it exited (port taken).
    fn spawn(&mut self) -> bool {
        let mut command = Command::new(redis_server_binary());
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run redis-server ({e}); install it with `sudo apt-get install redis-server`"
            )
        });
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                return false;
            }
            if self.ping() {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "redis-server on port {} did not answer PING in time",
            self.port
        );
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut request = String::new();
        if let Some(password) = &self.password {
            let _ = write!(
                request,
                "*2\r\n$4\r\nAUTH\r\n${}\r\n{password}\r\n",
                password.len()
            );
        }
        request.push_str("*1\r\n$4\r\nPING\r\n");
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut answer = Vec::new();
        let mut buffer = [0u8; 256];
        while !String::from_utf8_lossy(&answer).contains("PONG") {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => return false,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
            if String::from_utf8_lossy(&answer).contains("LOADING") {
                return false;
            }
        }
        true
    }

    fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// Closes every pub/sub connection (`CLIENT KILL TYPE pubsub`), as Redis does to a
    /// subscriber over its output-buffer limit; commands keep working.
    fn drop_pubsub_connections(&self) {
        assert!(self.password.is_none(), "only for Redis without a password");
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        stream
            .write_all(b"*4\r\n$6\r\nCLIENT\r\n$4\r\nKILL\r\n$4\r\nTYPE\r\n$6\r\npubsub\r\n")
            .unwrap();
        let mut answer = [0u8; 64];
        let n = stream.read(&mut answer).unwrap();
        assert!(answer[..n].starts_with(b":"), "{:?}", &answer[..n]);
    }

    /// SIGKILL: an outage, everything in it lost.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A new, empty redis-server on the same port.
    fn restart(&mut self) {
        assert!(self.child.is_none(), "kill it first");
        let deadline = Instant::now() + PATIENCE;
        // The old listener is gone with the process; retry briefly in case the port lingers.
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "redis-server could not listen on port {} again",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// rollcall nodes

/// How a node is told to use Redis: each of the three configuration layers is used by some test.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Via {
    Flags,
    Env,
    File,
}

/// One node's settings.
struct NodeSpec {
    node_id: u32,
    via: Via,
    key_prefix: Option<&'static str>,
}

/// A `rollcall serve` process; killed on drop, its log printed when the test failed.
struct Node {
    node_id: u32,
    child: Child,
    addr: String,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

/// The settings every node of a test shares, as a config file fragment.
const COMMON_CONFIG: &str = r#"
[admin]
token = "cluster-admin-token-0123456789"

[shutdown]
drain_timeout_ms = 3000
reconnect_window_ms = 500

[[apps]]
id = "123"
key = "cluster-key"
secret = "cluster-secret-not-for-logs"
allow_anonymous = true

[apps.pusher]
enable_client_events = true
"#;

impl Node {
    fn start(dir: &Path, redis_url: &str, spec: &NodeSpec) -> Self {
        let config = dir.join(format!("node-{}.toml", spec.node_id));
        let mut file = String::new();
        if spec.via == Via::File {
            // Top-level keys before any table.
            file.push_str("engine = \"redis\"\n\n[redis]\n");
            let _ = writeln!(file, "url = \"{redis_url}\"");
            let _ = writeln!(file, "node_lease_ms = {LEASE_MS}");
            if let Some(prefix) = spec.key_prefix {
                let _ = writeln!(file, "key_prefix = \"{prefix}\"");
            }
        } else if let Some(prefix) = spec.key_prefix {
            let _ = writeln!(file, "[redis]\nkey_prefix = \"{prefix}\"");
        }
        file.push_str(COMMON_CONFIG);
        std::fs::write(&config, file).unwrap();

        let mut command = Command::new(env!("CARGO_BIN_EXE_rollcall"));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("ROLLCALL_")) {
            command.env_remove(key);
        }
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--node-id", &spec.node_id.to_string()])
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match spec.via {
            Via::Flags => {
                command
                    .args(["--engine", "redis", "--redis-url", redis_url])
                    .args(["--node-lease-ms", &LEASE_MS.to_string()]);
            }
            Via::Env => {
                command
                    .env("ROLLCALL_ENGINE", "redis")
                    .env("ROLLCALL_REDIS_URL", redis_url)
                    .env("ROLLCALL_NODE_LEASE_MS", LEASE_MS.to_string());
            }
            Via::File => {}
        }
        let mut child = command.spawn().expect("rollcall starts");

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });

        // The banner, within a bounded time, from a thread that keeps draining stdout after.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(addr) = line.split("listening on http://").nth(1) {
                        let _ = tx.send(addr.trim().to_owned());
                        sent = true;
                    }
                }
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "node {} exited, or did not print `listening on http://ADDR` within 30 s; its stderr:\n{}",
                spec.node_id,
                stderr.lock().unwrap()
            );
        };
        Self {
            node_id: spec.node_id,
            child,
            addr,
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    /// `kill -9`: no chance to clean anything up.
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, the way an init system stops a service.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    async fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not exit in time",
                self.node_id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the node logged so far (complete once it has exited and been reaped).
    fn logs(&mut self) -> String {
        if self.child.try_wait().ok().flatten().is_some() {
            if let Some(reader) = self.stderr_reader.take() {
                let _ = reader.join();
            }
        }
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let logs = self.logs();
            eprintln!(
                "----- node {} ({}) log -----\n{logs}",
                self.node_id, self.addr
            );
        }
    }
}

/// Redis and N nodes (ids 1..=N). Nodes are dropped (killed) before Redis.
struct Cluster {
    nodes: Vec<Node>,
    redis: Redis,
}

/// A fresh directory for one test's files.
fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollcall-cluster-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Cluster {
    async fn start(name: &str, count: u32, via: Via) -> Self {
        let specs: Vec<NodeSpec> = (1..=count)
            .map(|node_id| NodeSpec {
                node_id,
                via,
                key_prefix: None,
            })
            .collect();
        Self::start_with(name, None, &specs).await
    }

    async fn start_with(name: &str, password: Option<&str>, specs: &[NodeSpec]) -> Self {
        let dir = test_dir(name);
        let redis = Redis::start_with(&dir, password);
        let url = redis.url();
        let nodes = specs
            .iter()
            .map(|spec| Node::start(&dir, &url, spec))
            .collect();
        let cluster = Self { nodes, redis };
        for node in &cluster.nodes {
            wait_ready(&node.addr, 200, PATIENCE).await;
        }
        cluster
    }

    /// Node `i`'s address (0-based index; its node id is i + 1).
    fn addr(&self, i: usize) -> String {
        self.nodes[i].addr.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP: /readyz and the Pusher HTTP API, over a plain HTTP/1.1 request

/// Sends one request; the status and body, or `None` when the node cannot be reached.
async fn http(addr: &str, method: &str, target: &str, body: &str) -> Option<(u16, String)> {
    http_with(addr, method, target, body, "").await
}

/// The value of an unlabelled series in the node's `/metrics`.
async fn metric(addr: &str, name: &str) -> f64 {
    let (status, body) = http(addr, "GET", "/metrics", "")
        .await
        .unwrap_or_else(|| panic!("{addr}: no answer to /metrics"));
    assert_eq!(status, 200, "{body}");
    body.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{addr}: no {name} in /metrics:\n{body}"))
}

/// Waits until the series reads `value`.
async fn wait_metric(addr: &str, name: &str, value: f64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = metric(addr, name).await;
        if (now - value).abs() < f64::EPSILON {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{addr}: {name} is {now}, not {value}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An admin API `GET` (the token of `COMMON_CONFIG`), its body parsed.
async fn admin_get(addr: &str, target: &str) -> Value {
    let header = "authorization: Bearer cluster-admin-token-0123456789\r\n";
    let (status, body) = http_with(addr, "GET", target, "", header)
        .await
        .unwrap_or_else(|| panic!("{addr}: no answer to GET {target}"));
    assert_eq!(status, 200, "{addr} GET {target}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// [`http`] with extra header lines (each ending in CRLF).
async fn http_with(
    addr: &str,
    method: &str,
    target: &str,
    body: &str,
    headers: &str,
) -> Option<(u16, String)> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!(
            "{method} {target} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
             {headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        Some(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(PATIENCE, exchange).await.ok()??;
    let status = response.get(9..12)?.parse().ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Polls `/readyz` until it answers `status`.
async fn wait_ready(addr: &str, status: u16, within: Duration) {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        last = http(addr, "GET", "/readyz", "").await;
        if last.as_ref().is_some_and(|(s, _)| *s == status) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{addr}/readyz did not answer {status} within {within:?}; last answer: {last:?}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn hmac_hex(message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// A signed Pusher HTTP API request (auth_version 1.0, body_md5 with a body); status and JSON.
/// Parameter values must not need URL-encoding.
async fn rest(
    addr: &str,
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut query: Vec<(String, String)> = vec![
        ("auth_key".into(), APP_KEY.into()),
        ("auth_timestamp".into(), timestamp.to_string()),
        ("auth_version".into(), "1.0".into()),
    ];
    if !body.is_empty() {
        query.push(("body_md5".into(), hex(&Md5::digest(body.as_bytes()))));
    }
    query.extend(
        params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let signature = hmac_hex(&format!("{method}\n{path}\n{query}"));
    let target = format!("{path}?{query}&auth_signature={signature}");
    let (status, text) = http(addr, method, &target, body)
        .await
        .unwrap_or_else(|| panic!("{method} {path} on {addr}: no answer"));
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

// ---------------------------------------------------------------------------------------------
// A native WebSocket client that checks its own sequence numbers

/// A frame: JSON, or the close code and reason (1006 when the socket ended without one).
type Frame = Result<Value, (u16, String)>;

struct Client {
    name: String,
    ws: Ws,
    /// Frames read while waiting for an answer, not yet consumed.
    backlog: VecDeque<Frame>,
    next_id: u64,
    /// Last `seq` accounted for, per subscribed channel.
    seq: HashMap<String, u64>,
    /// false: sequence numbers must only increase (used across an empty Redis restart).
    consecutive: bool,
    session: Value,
}

impl Client {
    /// Connects to `addr` as `client_id` (anonymous without one) and reads the `session`.
    async fn connect(addr: &str, client_id: Option<&str>) -> Self {
        let mut url = format!("ws://{addr}/ws?app={APP_KEY}");
        if let Some(id) = client_id {
            url.push_str("&client_id=");
            url.push_str(id);
        }
        let ws = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(url))
            .await
            .unwrap_or_else(|_| panic!("connecting to {addr} timed out"))
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
            .0;
        let mut client = Self {
            name: format!("{}@{addr}", client_id.unwrap_or("anonymous")),
            ws,
            backlog: VecDeque::new(),
            next_id: 1,
            seq: HashMap::new(),
            consecutive: true,
            session: Value::Null,
        };
        let session = client.event().await;
        assert_eq!(session["type"], "session", "{}: {session}", client.name);
        client.session = session;
        client
    }

    fn connection_id(&self) -> String {
        self.session["connection_id"].as_str().unwrap().to_owned()
    }

    /// Checks a sequenced event against the channel's last `seq` as it is read off the socket.
    fn observe(&mut self, frame: &Value) {
        let (Some(channel), Some(seq)) = (frame["channel"].as_str(), frame["seq"].as_u64()) else {
            return;
        };
        if !matches!(
            frame["type"].as_str(),
            Some("join" | "update" | "leave" | "message")
        ) {
            return;
        }
        let Some(last) = self.seq.get(channel).copied() else {
            return;
        };
        if self.consecutive {
            assert_eq!(
                seq,
                last + 1,
                "{}: after seq {last} of {channel:?} the next event must have {}: {frame}",
                self.name,
                last + 1
            );
        } else {
            assert!(
                seq > last,
                "{}: seq of {channel:?} went from {last} back to {seq}: {frame}",
                self.name
            );
        }
        self.seq.insert(channel.to_owned(), seq);
    }

    /// The next frame off the socket, or `None` after `limit`.
    async fn read(&mut self, limit: Duration) -> Option<Frame> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = match tokio::time::timeout(left, self.ws.next()).await {
                Err(_) => return None,
                Ok(None | Some(Err(_))) => Err((1006, String::new())),
                Ok(Some(Ok(Message::Text(text)))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    self.observe(&value);
                    Ok(value)
                }
                Ok(Some(Ok(Message::Close(Some(frame))))) => {
                    Err((frame.code.into(), frame.reason.to_string()))
                }
                Ok(Some(Ok(Message::Close(None)))) => Err((1005, String::new())),
                // Pings (answered by the library), pongs, binary: not ours to see.
                Ok(Some(Ok(_))) => continue,
            };
            return Some(frame);
        }
    }

    /// The next frame (backlog first), or `None` after `limit`.
    async fn next_within(&mut self, limit: Duration) -> Option<Frame> {
        if let Some(frame) = self.backlog.pop_front() {
            return Some(frame);
        }
        self.read(limit).await
    }

    /// The next message, which must come within `PATIENCE` and not be a close.
    async fn event(&mut self) -> Value {
        match self.next_within(PATIENCE).await {
            Some(Ok(value)) => value,
            Some(Err(close)) => panic!(
                "{}: closed {close:?} while waiting for a message",
                self.name
            ),
            None => panic!("{}: no message within {PATIENCE:?}", self.name),
        }
    }

    /// The next message, which must be of type `kind` about `client_id` (when given).
    async fn expect(&mut self, kind: &str, client_id: Option<&str>) -> Value {
        let event = self.event().await;
        assert_eq!(event["type"], kind, "{}: {event}", self.name);
        if let Some(id) = client_id {
            assert_eq!(event["client_id"], id, "{}: {event}", self.name);
        }
        event
    }

    /// Everything that arrives within `window` (the connection must stay open).
    async fn quiet(&mut self, window: Duration) -> Vec<Value> {
        let deadline = Instant::now() + window;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_within(left).await {
                None => return got,
                Some(Ok(value)) => got.push(value),
                Some(Err(close)) => panic!("{}: closed {close:?}; got {got:?}", self.name),
            }
            if left.is_zero() {
                return got;
            }
        }
    }

    /// Reads messages until `done(all so far)` or `deadline`; returns them all.
    async fn until(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Vec<Value> {
        let mut got = Vec::new();
        while !done(&got) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_within(left).await {
                Some(Ok(value)) => got.push(value),
                Some(Err(close)) => panic!("{}: closed {close:?}; got {got:?}", self.name),
                None => break,
            }
        }
        got
    }

    /// Sends a request (with a fresh `id`) and returns its answer (`ack`, `error` or `pong`);
    /// frames read meanwhile stay in the backlog, in order.
    async fn call(&mut self, mut request: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        request["id"] = json!(id);
        self.ws
            .send(Message::text(request.to_string()))
            .await
            .unwrap_or_else(|e| panic!("{}: sending {request}: {e}", self.name));
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read(left).await {
                None => panic!("{}: no answer to {request} within {PATIENCE:?}", self.name),
                Some(Err(close)) => panic!(
                    "{}: closed {close:?} while waiting for the answer to {request}",
                    self.name
                ),
                Some(Ok(value))
                    if value["id"] == json!(id)
                        && matches!(value["type"].as_str(), Some("ack" | "error" | "pong")) =>
                {
                    self.account(&request, &value);
                    return value;
                }
                Some(Ok(value)) => self.backlog.push_back(Ok(value)),
            }
        }
    }

    /// What an answer tells the sequence check: a new base after a subscribing snapshot, none
    /// after `leave`, and the `seq` of a `publish` whose own event this connection does not get.
    fn account(&mut self, request: &Value, answer: &Value) {
        if answer["type"] != "ack" {
            return;
        }
        let result = &answer["result"];
        let op = request["op"].as_str().unwrap_or_default();
        let channel = request["channel"]
            .as_str()
            .or_else(|| result["channel"].as_str())
            .unwrap_or_default()
            .to_owned();
        match op {
            "join" | "watch" | "invite_reply" if result["members"].is_array() => {
                self.seq.insert(
                    channel,
                    result["seq"].as_u64().expect("a snapshot has a seq"),
                );
            }
            "leave" => {
                self.seq.remove(&channel);
            }
            "publish" => {
                if let (Some(seq), Some(last)) = (result["seq"].as_u64(), self.seq.get(&channel)) {
                    if seq > *last {
                        if self.consecutive {
                            assert_eq!(seq, last + 1, "{}: publish ack {answer}", self.name);
                        }
                        self.seq.insert(channel, seq);
                    }
                }
            }
            _ => {}
        }
    }

    /// `call`, which must be acknowledged; the `result`.
    async fn ok(&mut self, request: Value) -> Value {
        let answer = self.call(request.clone()).await;
        assert_eq!(answer["type"], "ack", "{}: {request} → {answer}", self.name);
        answer["result"].clone()
    }

    async fn join(&mut self, channel: &str, data: Value) -> Value {
        self.ok(json!({"op": "join", "channel": channel, "data": data}))
            .await
    }

    async fn watch(&mut self, channel: &str) -> Value {
        self.ok(json!({"op": "watch", "channel": channel})).await
    }

    /// A clean close: the close handshake, bounded.
    async fn close(mut self) {
        let _ = self.ws.close(None).await;
        let deadline = Instant::now() + PATIENCE;
        while let Some(Ok(_)) = self
            .read(deadline.saturating_duration_since(Instant::now()))
            .await
        {}
    }
}

/// The client ids of a snapshot's members, sorted.
fn ids(snapshot: &Value) -> Vec<String> {
    let mut ids: Vec<String> = snapshot["members"]
        .as_array()
        .unwrap_or_else(|| panic!("not a snapshot: {snapshot}"))
        .iter()
        .map(|m| m["client_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The member `client_id` of a snapshot.
fn member<'a>(snapshot: &'a Value, client_id: &str) -> &'a Value {
    snapshot["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["client_id"] == client_id)
        .unwrap_or_else(|| panic!("{client_id} is not in {snapshot}"))
}

/// The connection ids of a member object.
fn connection_ids(member: &Value) -> Vec<String> {
    member["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["connection_id"].as_str().unwrap().to_owned())
        .collect()
}

/// How many of `events` are of `kind` about `client_id` in `channel`.
fn count(events: &[Value], kind: &str, channel: &str, client_id: &str) -> usize {
    events
        .iter()
        .filter(|e| e["type"] == kind && e["channel"] == channel && e["client_id"] == client_id)
        .count()
}

/// A fresh anonymous connection to `addr` that watches `channel`; its snapshot.
async fn fresh_watch(addr: &str, channel: &str) -> Value {
    let mut probe = Client::connect(addr, None).await;
    let snapshot = probe.watch(channel).await;
    probe.close().await;
    snapshot
}

// ---------------------------------------------------------------------------------------------
// The tests

#[tokio::test]
async fn presence_and_messages_cross_nodes_in_one_sequence() {
    let cluster = Cluster::start("basic", 2, Via::Flags).await;
    let (a, b) = (cluster.addr(0), cluster.addr(1));

    let mut carol = Client::connect(&b, Some("carol")).await;
    let snapshot = carol.watch("room").await;
    assert_eq!(snapshot["seq"], 0, "{snapshot}");
    assert!(ids(&snapshot).is_empty(), "{snapshot}");

    // A join on node 1 is a join at node 2.
    let mut ann = Client::connect(&a, Some("ann")).await;
    assert!(ann.connection_id().starts_with("1."), "{}", ann.session);
    let snapshot = ann.join("room", json!({"name": "Ann"})).await;
    assert_eq!(ids(&snapshot), ["ann"]);
    assert_eq!(snapshot["seq"], 1, "{snapshot}");
    let join = carol.expect("join", Some("ann")).await;
    assert_eq!(
        join["connection_id"],
        ann.connection_id().as_str(),
        "{join}"
    );
    assert_eq!(join["member"]["data"], json!({"name": "Ann"}), "{join}");

    // A snapshot taken on node 2 holds node 1's member, and node 1 hears of node 2's join.
    let mut bob = Client::connect(&b, Some("bob")).await;
    assert!(bob.connection_id().starts_with("2."), "{}", bob.session);
    let snapshot = bob.join("room", json!({"name": "Bob"})).await;
    assert_eq!(ids(&snapshot), ["ann", "bob"], "{snapshot}");
    assert_eq!(snapshot["seq"], 2, "{snapshot}");
    assert_eq!(member(&snapshot, "ann")["data"], json!({"name": "Ann"}));
    assert_eq!(
        connection_ids(member(&snapshot, "ann")),
        [ann.connection_id()]
    );
    let join = ann.expect("join", Some("bob")).await;
    assert_eq!(
        join["connection_id"],
        bob.connection_id().as_str(),
        "{join}"
    );
    carol.expect("join", Some("bob")).await;

    // Data changes on node 1 reach node 2.
    let result = ann
        .ok(json!({"op": "update", "channel": "room", "patch": {"status": "away"}}))
        .await;
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(result["seq"], 3, "{result}");
    let own = ann.expect("update", Some("ann")).await;
    assert_eq!(own["reason"], "data", "{own}");
    for watcher in [&mut bob, &mut carol] {
        let update = watcher.expect("update", Some("ann")).await;
        assert_eq!(update["reason"], "data", "{update}");
        assert_eq!(
            update["member"]["data"],
            json!({"name": "Ann", "status": "away"})
        );
    }

    // Messages both ways, with the echo rules of one server.
    let result = bob
        .ok(json!({"op": "publish", "channel": "room", "data": {"text": "hi from 2"}}))
        .await;
    assert_eq!(result["seq"], 4, "{result}");
    bob.expect("message", Some("bob")).await;
    for watcher in [&mut ann, &mut carol] {
        let message = watcher.expect("message", Some("bob")).await;
        assert_eq!(message["data"], json!({"text": "hi from 2"}), "{message}");
        assert_eq!(message["connection_id"], bob.connection_id().as_str());
    }
    let result = ann
        .ok(
            json!({"op": "publish", "channel": "room", "data": {"text": "hi from 1"},
                   "echo": false, "message_id": "ann-0001"}),
        )
        .await;
    assert_eq!(result["seq"], 5, "{result}");
    for watcher in [&mut bob, &mut carol] {
        let message = watcher.expect("message", Some("ann")).await;
        assert_eq!(message["message_id"], "ann-0001", "{message}");
        assert_eq!(message["data"], json!({"text": "hi from 1"}), "{message}");
    }

    // Ephemeral messages cross too, unsequenced.
    ann.ok(json!({"op": "ephemeral", "channel": "room", "data": {"typing": true}}))
        .await;
    for watcher in [&mut bob, &mut carol] {
        let ephemeral = watcher.expect("ephemeral", Some("ann")).await;
        assert_eq!(ephemeral["data"], json!({"typing": true}), "{ephemeral}");
        assert!(ephemeral.get("seq").is_none(), "{ephemeral}");
    }

    // Queries on node 1 by a connection that subscribes to nothing see node 2's member.
    let mut query = Client::connect(&a, None).await;
    let snapshot = query.ok(json!({"op": "members", "channel": "room"})).await;
    assert_eq!(ids(&snapshot), ["ann", "bob"], "{snapshot}");
    assert_eq!(snapshot["seq"], 5, "{snapshot}");
    let one = query
        .ok(json!({"op": "members", "channel": "room", "client_id": "bob"}))
        .await;
    assert_eq!(one["member"]["data"], json!({"name": "Bob"}), "{one}");
    let present = query
        .ok(json!({"op": "is_present", "channel": "room", "client_id": "bob"}))
        .await;
    assert_eq!(present["present"], true, "{present}");

    // A leave on node 2, a disconnection on node 1.
    bob.ok(json!({"op": "leave", "channel": "room"})).await;
    let leave = ann.expect("leave", Some("bob")).await;
    assert_eq!(leave["seq"], 6, "{leave}");
    assert_eq!(leave["member"]["connections"], json!([]), "{leave}");
    carol.expect("leave", Some("bob")).await;
    ann.close().await;
    let leave = carol.expect("leave", Some("ann")).await;
    assert_eq!(leave["seq"], 7, "{leave}");

    let rest = carol.quiet(Duration::from_millis(500)).await;
    assert!(rest.is_empty(), "nothing more: {rest:?}");
    let snapshot = query.ok(json!({"op": "members", "channel": "room"})).await;
    assert!(ids(&snapshot).is_empty(), "{snapshot}");
    let present = query
        .ok(json!({"op": "is_present", "channel": "room", "client_id": "ann"}))
        .await;
    assert_eq!(present["present"], false, "{present}");
}

#[tokio::test]
async fn concurrent_changes_on_three_nodes_make_one_gapless_sequence() {
    const MESSAGES: usize = 15;
    const CHURN: usize = 3;
    let cluster = Cluster::start("sequence", 3, Via::File).await;
    let addrs: Vec<String> = (0..3).map(|i| cluster.addr(i)).collect();

    let mut watchers = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let mut watcher = Client::connect(addr, Some(&format!("watcher-{i}"))).await;
        watcher.watch("busy").await;
        watchers.push(watcher);
    }
    let mut publishers = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let mut publisher = Client::connect(addr, Some(&format!("pub-{i}"))).await;
        publisher.join("busy", json!({"node": i})).await;
        publishers.push(publisher);
    }
    let mut churners = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        churners.push(Client::connect(addr, Some(&format!("churn-{i}"))).await);
    }
    // The three publishers' joins, one after the other.
    for watcher in &mut watchers {
        for i in 0..3 {
            watcher.expect("join", Some(&format!("pub-{i}"))).await;
        }
    }

    // Every node changes the channel at once.
    let publishing = futures_util::future::join_all(publishers.iter_mut().enumerate().map(
        |(i, publisher)| async move {
            for n in 0..MESSAGES {
                publisher
                    .ok(json!({"op": "publish", "channel": "busy", "data": {"from": i, "n": n}}))
                    .await;
            }
        },
    ));
    let churning = futures_util::future::join_all(churners.iter_mut().map(|churner| async move {
        for _ in 0..CHURN {
            churner.join("busy", json!({})).await;
            churner.ok(json!({"op": "leave", "channel": "busy"})).await;
        }
    }));
    tokio::join!(publishing, churning);

    // Every watcher gets every event once, in one order, without gaps (checked as read).
    let expected = 3 * MESSAGES + 3 * CHURN * 2;
    let deadline = Instant::now() + PATIENCE;
    let mut streams: Vec<Vec<Value>> = Vec::new();
    for watcher in &mut watchers {
        let events = watcher.until(deadline, |got| got.len() >= expected).await;
        assert_eq!(events.len(), expected, "{}: {events:?}", watcher.name);
        streams.push(events);
    }
    let summary = |events: &[Value]| -> Vec<(u64, String, String, Value)> {
        events
            .iter()
            .map(|e| {
                (
                    e["seq"].as_u64().unwrap(),
                    e["type"].as_str().unwrap().to_owned(),
                    e["client_id"].as_str().unwrap_or_default().to_owned(),
                    e["data"].clone(),
                )
            })
            .collect()
    };
    let first = summary(&streams[0]);
    for (i, stream) in streams.iter().enumerate().skip(1) {
        assert_eq!(
            summary(stream),
            first,
            "watcher {i} saw another order than watcher 0"
        );
    }
    // Each sender's messages keep their order.
    for i in 0..3 {
        let ns: Vec<u64> = streams[0]
            .iter()
            .filter(|e| e["type"] == "message" && e["data"]["from"] == i)
            .map(|e| e["data"]["n"].as_u64().unwrap())
            .collect();
        assert_eq!(
            ns,
            (0..MESSAGES as u64).collect::<Vec<_>>(),
            "publisher {i}"
        );
    }
    for watcher in &mut watchers {
        let rest = watcher.quiet(Duration::from_millis(300)).await;
        assert!(rest.is_empty(), "{}: {rest:?}", watcher.name);
    }
}

#[tokio::test]
async fn one_client_on_two_nodes_is_one_member() {
    let cluster = Cluster::start("devices", 2, Via::Env).await;
    let (a, b) = (cluster.addr(0), cluster.addr(1));
    let mut wa = Client::connect(&a, Some("wa")).await;
    let mut wb = Client::connect(&b, Some("wb")).await;
    wa.watch("doc").await;
    wb.watch("doc").await;

    let mut phone = Client::connect(&a, Some("ann")).await;
    phone.join("doc", json!({"name": "Ann"})).await;
    for w in [&mut wa, &mut wb] {
        w.expect("join", Some("ann")).await;
    }

    // The second device, on the other node, without data: one member, its data kept.
    let mut laptop = Client::connect(&b, Some("ann")).await;
    let snapshot = laptop.ok(json!({"op": "join", "channel": "doc"})).await;
    assert_eq!(ids(&snapshot), ["ann"], "{snapshot}");
    let ann = member(&snapshot, "ann");
    assert_eq!(ann["data"], json!({"name": "Ann"}), "{snapshot}");
    assert_eq!(
        connection_ids(ann),
        [phone.connection_id(), laptop.connection_id()],
        "oldest first: {snapshot}"
    );
    for w in [&mut wa, &mut wb, &mut phone] {
        let update = w.expect("update", Some("ann")).await;
        assert_eq!(update["reason"], "connection_added", "{update}");
        assert_eq!(update["connection_id"], laptop.connection_id().as_str());
        assert_eq!(update["member"]["connections"].as_array().unwrap().len(), 2);
    }

    // One device goes: an update. The last one goes: the only leave.
    let phone_id = phone.connection_id();
    phone.close().await;
    for w in [&mut wa, &mut wb, &mut laptop] {
        let update = w.expect("update", Some("ann")).await;
        assert_eq!(update["reason"], "connection_removed", "{update}");
        assert_eq!(update["connection_id"], phone_id.as_str(), "{update}");
    }
    laptop.close().await;
    for w in [&mut wa, &mut wb] {
        let leave = w.expect("leave", Some("ann")).await;
        assert_eq!(leave["member"]["data"], json!({"name": "Ann"}), "{leave}");
        let rest = w.quiet(Duration::from_millis(300)).await;
        assert!(rest.is_empty(), "{}: {rest:?}", w.name);
    }

    // Two devices on two nodes joining and leaving at the same instant: still one join and one
    // leave, whichever node wins each race.
    for round in 0..5 {
        let id = format!("racer-{round}");
        let mut one = Client::connect(&a, Some(&id)).await;
        let mut two = Client::connect(&b, Some(&id)).await;
        let (s1, s2) = tokio::join!(one.join("doc", json!({})), two.join("doc", json!({})));
        assert_eq!(ids(&s1), [id.as_str()]);
        assert_eq!(ids(&s2), [id.as_str()]);
        for w in [&mut wa, &mut wb] {
            let join = w.expect("join", Some(&id)).await;
            assert_eq!(join["member"]["connections"].as_array().unwrap().len(), 1);
            let update = w.expect("update", Some(&id)).await;
            assert_eq!(update["reason"], "connection_added", "{update}");
        }
        tokio::join!(one.close(), two.close());
        for w in [&mut wa, &mut wb] {
            let update = w.expect("update", Some(&id)).await;
            assert_eq!(update["reason"], "connection_removed", "{update}");
            w.expect("leave", Some(&id)).await;
        }
    }
    for w in [&mut wa, &mut wb] {
        let rest = w.quiet(Duration::from_millis(500)).await;
        assert!(rest.is_empty(), "{}: {rest:?}", w.name);
    }
    assert!(ids(&fresh_watch(&a, "doc").await).is_empty());
}

#[tokio::test]
async fn http_api_on_any_node_reaches_and_sees_every_node() {
    let cluster = Cluster::start("rest", 2, Via::Flags).await;
    let (a, b) = (cluster.addr(0), cluster.addr(1));

    // Subscribers of `news` on both nodes, in both protocols.
    let mut on_a = Client::connect(&a, Some("reader-a")).await;
    let mut on_b = Client::connect(&b, Some("reader-b")).await;
    on_a.watch("news").await;
    on_b.watch("news").await;
    on_b.watch("only-on-b").await;
    let mut pusher = RawPusher::connect(&b).await;
    pusher.subscribe("news").await;

    let body =
        json!({"name": "headline", "channel": "news", "data": "{\"title\":\"hi\"}"}).to_string();
    let (status, answer) = rest(&a, "POST", &format!("/apps/{APP_ID}/events"), &[], &body).await;
    assert_eq!(status, 200, "{answer}");
    for reader in [&mut on_a, &mut on_b] {
        let message = reader.expect("message", None).await;
        assert_eq!(message["client_id"], Value::Null, "{message}");
        assert_eq!(message["connection_id"], "0.0", "{message}");
        assert_eq!(
            message["data"],
            json!({"event": "headline", "data": "{\"title\":\"hi\"}"}),
            "{message}"
        );
    }
    let event = pusher.event("headline").await;
    assert_eq!(event["channel"], "news", "{event}");
    assert_eq!(event["data"], "{\"title\":\"hi\"}", "{event}");

    // Presence read through the HTTP API of either node lists members of both.
    let mut ann = Client::connect(&a, Some("ann")).await;
    let mut bob = Client::connect(&b, Some("bob")).await;
    ann.join("presence-room", json!({"name": "Ann"})).await;
    bob.join("presence-room", json!({"name": "Bob"})).await;
    for addr in [&a, &b] {
        let (status, users) = rest(
            addr,
            "GET",
            &format!("/apps/{APP_ID}/channels/presence-room/users"),
            &[],
            "",
        )
        .await;
        assert_eq!(status, 200, "{users}");
        let mut listed: Vec<&str> = users["users"]
            .as_array()
            .unwrap_or_else(|| panic!("{users}"))
            .iter()
            .map(|u| u["id"].as_str().unwrap())
            .collect();
        listed.sort_unstable();
        assert_eq!(listed, ["ann", "bob"], "{addr}: {users}");

        let (status, info) = rest(
            addr,
            "GET",
            &format!("/apps/{APP_ID}/channels/presence-room"),
            &[("info", "user_count")],
            "",
        )
        .await;
        assert_eq!(status, 200, "{info}");
        assert_eq!(info, json!({"occupied": true, "user_count": 2}), "{addr}");

        let (status, channels) = rest(
            addr,
            "GET",
            &format!("/apps/{APP_ID}/channels"),
            &[("filter_by_prefix", "presence-"), ("info", "user_count")],
            "",
        )
        .await;
        assert_eq!(status, 200, "{channels}");
        assert_eq!(
            channels["channels"]["presence-room"],
            json!({"user_count": 2}),
            "{addr}: {channels}"
        );
    }
    // A channel with subscribers on node 2 only is occupied as node 1 sees it.
    let (status, info) = rest(
        &a,
        "GET",
        &format!("/apps/{APP_ID}/channels/only-on-b"),
        &[],
        "",
    )
    .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["occupied"], true, "{info}");
    let (_, channels) = rest(&a, "GET", &format!("/apps/{APP_ID}/channels"), &[], "").await;
    for name in ["news", "only-on-b", "presence-room"] {
        assert!(
            channels["channels"].get(name).is_some(),
            "{name} is occupied: {channels}"
        );
    }

    // Leaving on node 1 shows in node 2's answer.
    ann.close().await;
    bob.expect("leave", Some("ann")).await;
    let (_, users) = rest(
        &b,
        "GET",
        &format!("/apps/{APP_ID}/channels/presence-room/users"),
        &[],
        "",
    )
    .await;
    assert_eq!(users, json!({"users": [{"id": "bob"}]}));
}

/// A bare Pusher-protocol client (enough for public channels).
struct RawPusher {
    ws: Ws,
}

impl RawPusher {
    async fn connect(addr: &str) -> Self {
        let url = format!("ws://{addr}/app/{APP_KEY}?protocol=7&client=rust&version=1.0");
        let ws = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(url))
            .await
            .expect("connects in time")
            .expect("connects")
            .0;
        let mut client = Self { ws };
        client.event("pusher:connection_established").await;
        client
    }

    async fn subscribe(&mut self, channel: &str) {
        let frame = json!({"event": "pusher:subscribe", "data": {"channel": channel}});
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .unwrap();
        self.event("pusher_internal:subscription_succeeded").await;
    }

    /// The next frame named `event`; others (pings) are skipped.
    async fn event(&mut self, event: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(left, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("pusher client: no {event} in time"))
                .expect("open")
                .expect("no read error");
            if let Message::Text(text) = frame {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["event"] == event {
                    return value;
                }
            }
        }
    }
}

#[tokio::test]
async fn events_published_while_a_nodes_pubsub_connection_was_down_still_arrive() {
    let cluster = Cluster::start("pubsub-drop", 2, Via::Flags).await;
    let (a, b) = (cluster.addr(0), cluster.addr(1));
    let mut watcher = Client::connect(&a, Some("watcher")).await;
    watcher.watch("room").await;
    let mut publisher = Client::connect(&b, Some("publisher")).await;
    publisher.watch("room").await;
    // Each round closes every node's pub/sub connection and publishes at once: the publish
    // lands while the nodes are reconnecting (or just after). The watcher's client checks that
    // its `seq` runs without a gap, so a single lost event fails the test.
    for round in 0..20 {
        cluster.redis.drop_pubsub_connections();
        publisher
            .ok(json!({"op": "publish", "channel": "room", "data": {"round": round}, "echo": false}))
            .await;
    }
    for round in 0..20 {
        let message = watcher.expect("message", Some("publisher")).await;
        assert_eq!(message["data"], json!({"round": round}), "{message}");
    }
}

#[tokio::test]
async fn the_admin_api_of_either_node_shows_every_node() {
    let cluster = Cluster::start("admin", 2, Via::Flags).await;
    let (a, b) = (cluster.addr(0), cluster.addr(1));
    let mut ann = Client::connect(&a, Some("ann")).await;
    ann.join("room", json!({"name": "Ann"})).await;
    let mut bob = Client::connect(&b, Some("bob")).await;
    bob.join("room", json!({"name": "Bob"})).await;
    let mut cat = Client::connect(&b, Some("cat")).await;
    cat.watch("room").await;

    for addr in [&a, &b] {
        let page = admin_get(addr, "/api/apps/123/channels/room/members").await;
        assert_eq!(page["count"], 2, "{addr}: {page}");
        let names: Vec<&str> = page["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["client_id"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["ann", "bob"], "{addr}: {page}");
        assert_eq!(
            page["members"][1]["data"],
            json!({"name": "Bob"}),
            "{addr}: {page}"
        );

        let stats = admin_get(addr, "/api/stats").await;
        let app = &stats["apps"][0];
        assert_eq!(
            (&app["channels"], &app["subscriptions"], &app["members"]),
            (&json!(1), &json!(3), &json!(2)),
            "{addr}: {stats}"
        );
        let channels = admin_get(addr, "/api/apps/123/channels").await;
        assert_eq!(
            channels["channels"][0]["name"], "room",
            "{addr}: {channels}"
        );
        assert_eq!(channels["channels"][0]["members"], 2, "{addr}: {channels}");
        assert_eq!(
            channels["channels"][0]["subscriptions"], 3,
            "{addr}: {channels}"
        );
    }
}

#[tokio::test]
async fn invitations_and_replies_cross_nodes() {
    let cluster = Cluster::start("invite", 2, Via::Flags).await;
    let (a, b) = (cluster.addr(0), cluster.addr(1));

    let mut ann = Client::connect(&a, Some("ann")).await;
    ann.join("game-7", json!({"name": "Ann"})).await;
    // bob has one connection on each node.
    let mut bob = Client::connect(&b, Some("bob")).await;
    let mut bob_tab = Client::connect(&a, Some("bob")).await;

    let result = ann
        .ok(
            json!({"op": "invite", "channel": "game-7", "client_id": "bob",
                   "data": {"note": "rematch?"}}),
        )
        .await;
    assert_eq!(
        result["delivered"], 2,
        "both of bob's connections, one per node: {result}"
    );
    let invitation_id = result["invitation_id"].as_str().unwrap().to_owned();
    for invitee in [&mut bob, &mut bob_tab] {
        let invitation = invitee.expect("invitation", None).await;
        assert_eq!(invitation["invitation_id"], invitation_id.as_str());
        assert_eq!(invitation["from"], "ann", "{invitation}");
        assert_eq!(
            invitation["from_connection_id"],
            ann.connection_id().as_str()
        );
        assert_eq!(invitation["channel"], "game-7");
        assert_eq!(invitation["data"], json!({"note": "rematch?"}));
    }

    // Accepted on node 2: a join with the inviter's member in the snapshot, and the reply goes
    // back to node 1 after the join event (protocol.md, `invitation_reply`).
    let snapshot = bob
        .ok(
            json!({"op": "invite_reply", "invitation_id": invitation_id, "accept": true,
                   "data": {"name": "Bob"}}),
        )
        .await;
    assert_eq!(ids(&snapshot), ["ann", "bob"], "{snapshot}");
    ann.expect("join", Some("bob")).await;
    let reply = ann.expect("invitation_reply", Some("bob")).await;
    assert_eq!(reply["invitation_id"], invitation_id.as_str());
    assert_eq!(reply["accepted"], true, "{reply}");

    // Answered once, anywhere: the other node's connection cannot answer it again.
    let again = bob_tab
        .call(json!({"op": "invite_reply", "invitation_id": invitation_id, "accept": true}))
        .await;
    assert_eq!(again["code"], "invitation_not_found", "{again}");

    // Nobody anywhere: refused.
    let nobody = ann
        .call(json!({"op": "invite", "channel": "game-7", "client_id": "nobody"}))
        .await;
    assert_eq!(nobody["code"], "client_not_connected", "{nobody}");

    // A decline travels back too.
    let mut carol = Client::connect(&b, Some("carol")).await;
    let result = ann
        .ok(json!({"op": "invite", "channel": "game-7", "client_id": "carol"}))
        .await;
    assert_eq!(result["delivered"], 1, "{result}");
    let invitation = carol.expect("invitation", None).await;
    let answer = carol
        .call(
            json!({"op": "invite_reply", "invitation_id": invitation["invitation_id"],
                     "accept": false}),
        )
        .await;
    assert_eq!(answer["type"], "ack", "{answer}");
    assert!(answer.get("result").is_none(), "{answer}");
    let reply = ann.expect("invitation_reply", Some("carol")).await;
    assert_eq!(reply["accepted"], false, "{reply}");
}

#[tokio::test]
async fn a_killed_nodes_members_leave_once_everywhere_within_the_bound() {
    let mut cluster = Cluster::start("kill", 3, Via::Flags).await;
    let addrs: Vec<String> = (0..3).map(|i| cluster.addr(i)).collect();

    let mut w1 = Client::connect(&addrs[0], Some("w1")).await;
    let mut w2 = Client::connect(&addrs[1], Some("w2")).await;
    for w in [&mut w1, &mut w2] {
        w.watch("room").await;
        w.watch("lobby").await;
    }
    let mut ann = Client::connect(&addrs[0], Some("ann")).await;
    ann.join("room", json!({})).await;
    // Doomed members, all on node 3; x1 in two channels.
    let mut doomed = Vec::new();
    for id in ["x1", "x2", "x3"] {
        let mut x = Client::connect(&addrs[2], Some(id)).await;
        x.join("room", json!({"id": id})).await;
        doomed.push(x);
    }
    doomed[0].join("lobby", json!({})).await;
    // A member with one device on node 3 and one on node 2 survives node 3.
    let mut split_3 = Client::connect(&addrs[2], Some("split")).await;
    split_3.join("room", json!({})).await;
    let mut split_2 = Client::connect(&addrs[1], Some("split")).await;
    split_2.join("room", json!({})).await;

    // Events of different channels have no order between them: count them.
    for w in [&mut w1, &mut w2] {
        let events = w
            .until(Instant::now() + PATIENCE, |got| got.len() >= 7)
            .await;
        for id in ["ann", "x1", "x2", "x3", "split"] {
            assert_eq!(
                count(&events, "join", "room", id),
                1,
                "{}: {events:?}",
                w.name
            );
        }
        assert_eq!(
            count(&events, "join", "lobby", "x1"),
            1,
            "{}: {events:?}",
            w.name
        );
        let update = events.iter().find(|e| e["type"] == "update").unwrap();
        assert_eq!(update["reason"], "connection_added", "{update}");
    }

    cluster.nodes[2].kill9();
    let killed = Instant::now();
    let deadline = killed + KILL_BOUND;
    let complete = |got: &[Value]| {
        ["x1", "x2", "x3"]
            .iter()
            .all(|id| count(got, "leave", "room", id) >= 1)
            && count(got, "leave", "lobby", "x1") >= 1
            && count(got, "update", "room", "split") >= 1
    };
    let mut seen: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (name, w) in [("w1", &mut w1), ("w2", &mut w2)] {
        let mut events = w.until(deadline, complete).await;
        assert!(
            complete(&events),
            "{name}: within {KILL_BOUND:?} of kill -9 every member of node 3 leaves; got {events:?}"
        );
        seen.insert(name, std::mem::take(&mut events));
    }
    // Then nothing twice.
    tokio::time::sleep(DUPLICATE_WINDOW).await;
    for (name, w) in [("w1", &mut w1), ("w2", &mut w2)] {
        let more = w.quiet(Duration::from_millis(100)).await;
        let events = seen.get_mut(name).unwrap();
        events.extend(more);
        for id in ["x1", "x2", "x3"] {
            assert_eq!(
                count(events, "leave", "room", id),
                1,
                "{name}, {id}: {events:?}"
            );
        }
        assert_eq!(
            count(events, "leave", "lobby", "x1"),
            1,
            "{name}: {events:?}"
        );
        assert_eq!(
            count(events, "leave", "room", "split"),
            0,
            "{name}: {events:?}"
        );
        assert_eq!(
            count(events, "leave", "room", "ann"),
            0,
            "{name}: {events:?}"
        );
        let updates: Vec<&Value> = events.iter().filter(|e| e["type"] == "update").collect();
        assert_eq!(updates.len(), 1, "{name}: {events:?}");
        assert_eq!(
            updates[0]["reason"], "connection_removed",
            "{name}: {events:?}"
        );
        assert!(
            events.iter().all(|e| e["type"] != "join"),
            "{name}: {events:?}"
        );
    }
    // Both watchers saw the same leaves under the same numbers: one node did them, once.
    let numbered = |events: &[Value]| -> BTreeMap<u64, String> {
        events
            .iter()
            .filter(|e| e["channel"] == "room")
            .map(|e| {
                (
                    e["seq"].as_u64().unwrap(),
                    format!("{} {}", e["type"], e["client_id"]),
                )
            })
            .collect()
    };
    assert_eq!(numbered(&seen["w1"]), numbered(&seen["w2"]));

    // What remains, as any survivor tells it.
    let snapshot = fresh_watch(&addrs[1], "room").await;
    assert_eq!(ids(&snapshot), ["ann", "split"], "{snapshot}");
    assert_eq!(
        connection_ids(member(&snapshot, "split")),
        [split_2.connection_id()]
    );
    assert!(ids(&fresh_watch(&addrs[0], "lobby").await).is_empty());
    wait_ready(&addrs[0], 200, PATIENCE).await;
    drop(doomed);
    drop(split_3);
}

#[tokio::test]
async fn an_empty_redis_restart_restores_presence_without_spurious_events() {
    let mut cluster = Cluster::start("redis-restart", 2, Via::Flags).await;
    let (a, b) = (cluster.addr(0), cluster.addr(1));

    let mut carol = Client::connect(&a, Some("carol")).await;
    let mut dave = Client::connect(&b, Some("dave")).await;
    carol.watch("room").await;
    dave.watch("room").await;
    let mut ann = Client::connect(&a, Some("ann")).await;
    let joined = ann.join("room", json!({"name": "Ann"})).await;
    let ann_joined_at = member(&joined, "ann")["joined_at"].clone();
    let mut bob = Client::connect(&b, Some("bob")).await;
    bob.join("room", json!({"name": "Bob"})).await;
    // frank will leave while Redis is away.
    let mut frank = Client::connect(&b, Some("frank")).await;
    frank.join("room", json!({"name": "Frank"})).await;
    for w in [&mut carol, &mut dave] {
        w.expect("join", Some("ann")).await;
        w.expect("join", Some("bob")).await;
    }
    ann.expect("join", Some("bob")).await;
    for w in [&mut carol, &mut dave, &mut ann, &mut bob] {
        w.expect("join", Some("frank")).await;
        // Numbers may jump after an empty restart (clients resync on a gap), never go back.
        w.consecutive = false;
    }
    // Connected before the outage, joining during it.
    let mut eve = Client::connect(&a, Some("eve")).await;

    wait_metric(&a, "rollcall_redis_up", 1.0).await;
    cluster.redis.kill();
    wait_ready(&a, 503, PATIENCE).await;
    wait_ready(&b, 503, PATIENCE).await;
    wait_metric(&a, "rollcall_redis_up", 0.0).await;
    let refused = eve
        .call(json!({"op": "join", "channel": "room", "data": {"name": "Eve"}}))
        .await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "engine_unavailable", "{refused}");
    // Everybody is still connected and served.
    for client in [&mut eve, &mut carol, &mut dave, &mut ann, &mut bob] {
        let pong = client.call(json!({"op": "ping"})).await;
        assert_eq!(pong["type"], "pong", "{}: {pong}", client.name);
    }
    frank.close().await;

    cluster.redis.restart();
    wait_ready(&a, 200, Duration::from_secs(15)).await;
    wait_ready(&b, 200, Duration::from_secs(15)).await;
    // A command that was on its way when Redis came back may still fail once: the gauge
    // follows within a lease renewal.
    wait_metric(&a, "rollcall_redis_up", 1.0).await;
    assert!(metric(&a, "rollcall_redis_errors_total").await >= 1.0);

    // The nodes put their live members back: a new watch on either node sees both.
    let deadline = Instant::now() + PATIENCE;
    for addr in [&a, &b] {
        loop {
            let snapshot = fresh_watch(addr, "room").await;
            if ids(&snapshot) == ["ann", "bob"] {
                assert_eq!(member(&snapshot, "ann")["data"], json!({"name": "Ann"}));
                // Put back as it was, not as new.
                assert_eq!(member(&snapshot, "ann")["joined_at"], ann_joined_at);
                assert_eq!(member(&snapshot, "bob")["data"], json!({"name": "Bob"}));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{addr}: presence not restored after the Redis restart: {snapshot}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    // Those connected throughout saw frank leave, once, and nobody else leave or come back.
    for w in [&mut carol, &mut dave, &mut ann, &mut bob] {
        let mut events = w
            .until(Instant::now() + PATIENCE, |got| {
                count(got, "leave", "room", "frank") >= 1
            })
            .await;
        events.extend(w.quiet(Duration::from_millis(500)).await);
        assert_eq!(
            count(&events, "leave", "room", "frank"),
            1,
            "{}: {events:?}",
            w.name
        );
        assert!(
            events
                .iter()
                .filter(|e| e["client_id"] != "frank")
                .all(|e| e["type"] != "join" && e["type"] != "leave"),
            "{}: {events:?}",
            w.name
        );
    }

    // Events flow again, both ways, with numbers that went on from where they were.
    eve.join("room", json!({"name": "Eve"})).await;
    for w in [&mut carol, &mut dave, &mut ann, &mut bob] {
        w.expect("join", Some("eve")).await;
        w.consecutive = true;
    }
    bob.ok(json!({"op": "publish", "channel": "room", "data": "back"}))
        .await;
    // bob's own copy (echo is on by default) came before his ack.
    for w in [&mut carol, &mut dave, &mut ann, &mut eve, &mut bob] {
        w.expect("message", Some("bob")).await;
    }
    ann.close().await;
    for w in [&mut carol, &mut dave, &mut bob, &mut eve] {
        w.expect("leave", Some("ann")).await;
    }
}

#[tokio::test]
async fn sigterm_hands_clients_to_another_node_without_leaves() {
    let mut cluster = Cluster::start("handoff", 2, Via::File).await;
    let (a, b) = (cluster.addr(0), cluster.addr(1));

    let mut carol = Client::connect(&b, Some("carol")).await;
    carol.watch("room").await;
    let mut movers = Vec::new();
    for id in ["ann", "bob"] {
        let mut client = Client::connect(&a, Some(id)).await;
        client.join("room", json!({"name": id})).await;
        movers.push(client);
    }
    let mut zed = Client::connect(&a, Some("zed")).await;
    zed.join("room", json!({"name": "zed"})).await;
    for id in ["ann", "bob", "zed"] {
        carol.expect("join", Some(id)).await;
    }

    cluster.nodes[0].terminate();
    let terminated = Instant::now();

    // ann and bob are told to go, and come back on node 2 when told to.
    let mut back = Vec::new();
    for mut mover in movers.drain(..) {
        let mut hint = None;
        let close = loop {
            match mover.next_within(PATIENCE).await {
                Some(Ok(message)) if message["type"] == "error" => {
                    assert_eq!(message["code"], "server_shutdown", "{message}");
                    hint = message["reconnect_after_ms"].as_u64();
                }
                Some(Ok(message)) => {
                    assert_ne!(message["type"], "leave", "{}: {message}", mover.name);
                }
                Some(Err(close)) => break close,
                None => panic!("{}: not closed in time", mover.name),
            }
        };
        assert_eq!(
            close,
            (1001, "server_shutdown".to_owned()),
            "{}",
            mover.name
        );
        let hint = hint.expect("a reconnect hint");
        assert!(hint <= 500, "within the reconnect window: {hint}");
        let id = mover.name.split('@').next().unwrap().to_owned();
        let wait = Duration::from_millis(hint).saturating_sub(terminated.elapsed());
        tokio::time::sleep(wait).await;
        let mut again = Client::connect(&b, Some(&id)).await;
        let snapshot = again.join("room", json!({"name": id})).await;
        assert!(ids(&snapshot).contains(&id), "{snapshot}");
        back.push(again);
    }
    // zed is told too, and does not come back.
    loop {
        match zed.next_within(PATIENCE).await {
            Some(Ok(_)) => {}
            Some(Err(close)) => {
                assert_eq!(close.0, 1001, "{close:?}");
                break;
            }
            None => panic!("zed not closed in time"),
        }
    }
    let status = cluster.nodes[0].wait_exit().await;
    assert_eq!(status.code(), Some(0), "a graceful stop exits 0");

    // carol: zed leaves once the lease runs out; ann and bob never left.
    let events = carol
        .until(terminated + KILL_BOUND, |got| {
            count(got, "leave", "room", "zed") >= 1
        })
        .await;
    assert_eq!(count(&events, "leave", "room", "zed"), 1, "{events:?}");
    let mut events = events;
    tokio::time::sleep(DUPLICATE_WINDOW).await;
    events.extend(carol.quiet(Duration::from_millis(100)).await);
    assert_eq!(count(&events, "leave", "room", "zed"), 1, "{events:?}");
    for id in ["ann", "bob"] {
        for e in events.iter().filter(|e| e["client_id"] == id) {
            assert_eq!(
                e["type"], "update",
                "{id} never left nor joined again: {events:?}"
            );
            assert!(
                matches!(
                    e["reason"].as_str(),
                    Some("connection_added" | "connection_removed")
                ),
                "{e}"
            );
        }
    }
    let snapshot = carol.ok(json!({"op": "members", "channel": "room"})).await;
    assert_eq!(ids(&snapshot), ["ann", "bob"], "{snapshot}");
    for client in &back {
        let id = client.name.split('@').next().unwrap();
        assert_eq!(
            connection_ids(member(&snapshot, id)),
            [client.connection_id()],
            "only the new connection on node 2: {snapshot}"
        );
    }
}

#[tokio::test]
async fn key_prefixes_keep_clusters_on_one_redis_apart_and_the_password_out_of_logs() {
    const PASSWORD: &str = "redis-password-not-for-logs";
    let specs = [
        NodeSpec {
            node_id: 1,
            via: Via::File,
            key_prefix: Some("blue"),
        },
        NodeSpec {
            node_id: 2,
            via: Via::Flags,
            key_prefix: Some("green"),
        },
        NodeSpec {
            node_id: 3,
            via: Via::Env,
            key_prefix: Some("green"),
        },
    ];
    let mut cluster = Cluster::start_with("prefix", Some(PASSWORD), &specs).await;
    let (blue, green, green_too) = (cluster.addr(0), cluster.addr(1), cluster.addr(2));

    let mut ann = Client::connect(&blue, Some("ann")).await;
    ann.join("room", json!({})).await;
    let mut carol = Client::connect(&green, Some("carol")).await;
    let snapshot = carol.watch("room").await;
    assert!(
        ids(&snapshot).is_empty(),
        "another prefix, another cluster: {snapshot}"
    );
    ann.ok(json!({"op": "publish", "channel": "room", "data": "blue only"}))
        .await;
    let mut bob = Client::connect(&green_too, Some("bob")).await;
    bob.join("room", json!({})).await;
    let join = carol.expect("join", Some("bob")).await;
    assert_eq!(join["seq"], 1, "{join}");
    let rest = carol.quiet(Duration::from_millis(500)).await;
    assert!(rest.is_empty(), "nothing from the blue cluster: {rest:?}");
    let rest = ann.quiet(Duration::from_millis(200)).await;
    assert!(
        rest.iter().all(|e| e["client_id"] != "bob"),
        "nothing from the green cluster: {rest:?}"
    );

    for node in &mut cluster.nodes {
        node.kill9();
        let logs = node.logs();
        assert!(!logs.contains(PASSWORD), "node {}: {logs}", node.node_id);
    }
}

fn check_config(file: &Path) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("ROLLCALL_")) {
        command.env_remove(key);
    }
    let output = command
        .arg("check-config")
        .arg(file)
        .output()
        .expect("rollcall runs");
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn check_config_shows_the_redis_engine_with_defaults_and_no_password() {
    let dir = test_dir("check-config");
    let file = dir.join("redis.toml");
    std::fs::write(
        &file,
        "engine = \"redis\"\n\n[redis]\nurl = \"redis://:hunter2-not-for-logs@127.0.0.1:6379\"\n",
    )
    .unwrap();
    let (code, stdout, stderr) = check_config(&file);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("engine = \"redis\""), "{stdout}");
    assert!(
        stdout.contains("key_prefix = \"rollcall\""),
        "default: {stdout}"
    );
    assert!(
        stdout.contains("node_lease_ms = 10000"),
        "default: {stdout}"
    );
    assert!(
        !stdout.contains("hunter2-not-for-logs") && !stderr.contains("hunter2-not-for-logs"),
        "the Redis password is masked: {stdout}{stderr}"
    );

    let file = dir.join("unknown.toml");
    std::fs::write(&file, "engine = \"mongodb\"\n").unwrap();
    let (code, _, stderr) = check_config(&file);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("engine"), "names the key: {stderr}");
}

#[test]
fn a_node_does_not_start_without_redis() {
    // A port nothing listens on: the node must say so and exit, not serve without presence.
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(["serve", "--listen", "127.0.0.1:0", "--engine", "redis"])
        .args(["--redis-url", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rollcall runs");
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the node kept running without Redis");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    assert!(!status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot reach Redis at {url}")),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "no banner: {output:?}");
}

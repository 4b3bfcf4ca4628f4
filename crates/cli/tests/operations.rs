//! The real `rollcall` binary as an operator runs it: several apps from one config file, a
//! graceful stop on SIGTERM that tells every client to reconnect, JSON logs, and
//! `check-config`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long anything that should happen promptly may take.
const PATIENCE: Duration = Duration::from_secs(10);

const ALPHA_SECRET: &str = "alpha-secret-not-for-logs";
const BETA_SECRET: &str = "beta-secret-not-for-logs";

/// A config file with two apps and a short reconnect window.
fn config_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollcall-ops-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rollcall.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[shutdown]
drain_timeout_ms = 5000
reconnect_window_ms = 400

[[apps]]
id = "alpha"
key = "alpha-key"
secret = "{ALPHA_SECRET}"
allow_anonymous = true

[[apps]]
id = "beta"
key = "beta-key"
secret = "{BETA_SECRET}"
allow_anonymous = true
"#
        ),
    )
    .unwrap();
    file
}

/// A `rollcall serve` process (killed if the test fails before it exits) and its stderr.
struct Serve {
    child: Child,
    addr: String,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(config: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rollcall"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .arg("--config")
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("ROLLCALL_")) {
            command.env_remove(key);
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
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("rollcall serve exited before printing its address")
                .unwrap();
            if let Some(addr) = line.split("listening on http://").nth(1) {
                break addr.trim().to_owned();
            }
        };
        // Keep reading, so the server never writes into a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            addr,
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    /// Sends SIGTERM the way an init system does.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit, within the patience window.
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "rollcall did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the server logged; call after it exited, so the log is complete.
    fn logs(&mut self) -> String {
        if let Some(reader) = self.stderr_reader.take() {
            reader.join().unwrap();
        }
        self.stderr.lock().unwrap().clone()
    }
}

async fn connect(url: String) -> Ws {
    tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(url))
        .await
        .expect("connects in time")
        .expect("connects")
        .0
}

/// The next frame: JSON text, or `Err((code, reason))` for the close frame.
async fn next(ws: &mut Ws) -> Result<Value, (u16, String)> {
    loop {
        let frame = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("no read error");
        match frame {
            Message::Text(text) => return Ok(serde_json::from_str(&text).unwrap()),
            Message::Close(Some(frame)) => {
                return Err((frame.code.into(), frame.reason.to_string()));
            }
            Message::Close(None) => return Err((1005, String::new())),
            _ => {}
        }
    }
}

async fn expect(ws: &mut Ws, kind: &str) -> Value {
    let message = next(ws).await.expect("a message, not a close");
    assert_eq!(message["type"], kind, "{message}");
    message
}

/// A native client of app `key`, after its `session` message.
async fn native(addr: &str, key: &str, client_id: &str) -> Ws {
    let mut ws = connect(format!("ws://{addr}/ws?app={key}&client_id={client_id}")).await;
    let _ = expect(&mut ws, "session").await;
    ws
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

#[tokio::test]
async fn sigterm_drains_every_client_with_a_reconnect_instruction_and_exits_zero() {
    let mut server = Serve::start(&config_file("sigterm"));
    let addr = server.addr.clone();

    // Two apps from one file: same channel name, separate presence.
    let mut ann = native(&addr, "alpha-key", "ann").await;
    let mut cat = native(&addr, "alpha-key", "cat").await;
    let mut bob = native(&addr, "beta-key", "bob").await;
    send(&mut ann, json!({"op": "join", "id": 1, "channel": "room"})).await;
    let snapshot = expect(&mut ann, "ack").await;
    assert_eq!(snapshot["result"]["members"].as_array().unwrap().len(), 1);
    send(&mut bob, json!({"op": "join", "id": 1, "channel": "room"})).await;
    let snapshot = expect(&mut bob, "ack").await;
    let members = snapshot["result"]["members"].as_array().unwrap();
    assert_eq!(
        members.len(),
        1,
        "beta's room does not hold alpha's ann: {snapshot}"
    );
    send(&mut cat, json!({"op": "join", "id": 1, "channel": "room"})).await;
    let _ = expect(&mut cat, "ack").await;
    let join = expect(&mut ann, "join").await;
    assert_eq!(join["client_id"], "cat", "{join}");

    let mut pusher = connect(format!("ws://{addr}/app/beta-key?protocol=7")).await;
    let established = next(&mut pusher).await.unwrap();
    assert_eq!(established["event"], "pusher:connection_established");
    send(
        &mut pusher,
        json!({"event": "pusher:subscribe", "data": {"channel": "news"}}),
    )
    .await;
    let subscribed = next(&mut pusher).await.unwrap();
    assert_eq!(
        subscribed["event"],
        "pusher_internal:subscription_succeeded"
    );

    server.terminate();

    for (name, ws) in [("ann", &mut ann), ("cat", &mut cat), ("bob", &mut bob)] {
        let close = loop {
            match next(ws).await {
                Ok(message) if message["type"] == "error" => {
                    assert_eq!(message["code"], "server_shutdown", "{name}: {message}");
                    let after = message["reconnect_after_ms"].as_u64().expect("a hint");
                    assert!(after <= 400, "{name}: within the window: {message}");
                }
                // Members of connections closed first leave as those sockets close.
                Ok(message) => assert_eq!(message["type"], "leave", "{name}: {message}"),
                Err(close) => break close,
            }
        };
        assert_eq!(close, (1001, "server_shutdown".to_owned()), "{name}");
    }
    let error = next(&mut pusher).await.unwrap();
    assert_eq!(error["event"], "pusher:error", "{error}");
    assert_eq!(error["data"]["code"], 4200, "{error}");
    let close = next(&mut pusher).await.unwrap_err();
    assert_eq!(close.0, 4200);

    let status = server.wait();
    assert_eq!(status.code(), Some(0), "a graceful stop exits 0");

    let logs = server.logs();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let opened = lines
        .iter()
        .filter(|l| l["message"] == "connection opened")
        .count();
    assert_eq!(opened, 4, "one line per connection opened:\n{logs}");
    let closed: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "connection closed")
        .collect();
    assert_eq!(closed.len(), 4, "one line per connection closed:\n{logs}");
    let ann_closed = closed
        .iter()
        .find(|l| l["client_id"] == "ann")
        .expect("ann's close line");
    assert_eq!(ann_closed["app"], "alpha");
    assert_eq!(ann_closed["protocol"], "native");
    assert_eq!(ann_closed["close_code"], 1001);
    assert_eq!(ann_closed["reason"], "server_shutdown");
    assert!(ann_closed["duration_ms"].is_u64());
    assert!(
        closed
            .iter()
            .any(|l| l["protocol"] == "pusher" && l["close_code"] == 4200)
    );
    assert!(lines.iter().any(|l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("shutdown complete"))
    }));
    assert!(!logs.contains(ALPHA_SECRET) && !logs.contains(BETA_SECRET));
}

fn check_config(file: &Path) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command.arg("check-config").arg(file);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("ROLLCALL_")) {
        command.env_remove(key);
    }
    let output = command.output().expect("rollcall runs");
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn check_config_prints_the_effective_config_with_secrets_masked() {
    let file = config_file("check-ok");
    let (code, stdout, stderr) = check_config(&file);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stdout.contains(ALPHA_SECRET) && !stdout.contains(BETA_SECRET),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches(r#"secret = "<masked>""#).count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains(r#"key = "alpha-key""#), "{stdout}");
    assert!(stdout.contains(r#"key = "beta-key""#), "{stdout}");
    assert!(
        stdout.contains("reconnect_window_ms = 400"),
        "from the file: {stdout}"
    );
    assert!(
        stdout.contains("max_frame_bytes = 65536"),
        "defaults filled in: {stdout}"
    );
}

#[test]
fn check_config_rejects_a_bad_file_with_a_clear_message() {
    let dir = std::env::temp_dir().join(format!("rollcall-ops-{}-bad", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let typo = dir.join("typo.toml");
    std::fs::write(&typo, "[shutdown]\ndrain_timeout = 5\n").unwrap();
    let (code, stdout, stderr) = check_config(&typo);
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("typo.toml"), "names the file: {stderr}");
    assert!(stderr.contains("line 2"), "names the line: {stderr}");
    assert!(stderr.contains("drain_timeout"), "names the key: {stderr}");

    let inconsistent = dir.join("short-secret.toml");
    std::fs::write(
        &inconsistent,
        "[[apps]]\nid = \"a\"\nkey = \"k\"\nsecret = \"short\"\n",
    )
    .unwrap();
    let (code, _, stderr) = check_config(&inconsistent);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("secret must be at least 8 bytes"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("\"short\""),
        "the secret is not echoed: {stderr}"
    );

    let (code, _, stderr) = check_config(&dir.join("missing.toml"));
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("cannot read") && stderr.contains("missing.toml"),
        "{stderr}"
    );
}

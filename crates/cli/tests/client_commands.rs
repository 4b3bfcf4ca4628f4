//! The client commands, driven as a script would drive them: the built `rollcall` binary against
//! a server started with the same binary's `serve`, reading `--json` output line by line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a test waits for something that should happen promptly.
const PATIENCE: Duration = Duration::from_secs(10);

fn rollcall() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command
        .env_remove("ROLLCALL_URL")
        .env_remove("ROLLCALL_TOKEN")
        .env_remove("ROLLCALL_CONFIG");
    command
}

/// A running `rollcall` process whose stdout is read line by line; killed when dropped.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn spawn(args: &[&str]) -> Self {
        let mut child = rollcall()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("rollcall starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
        }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(PATIENCE)
            .expect("a line of output within the patience window")
    }

    fn json(&self) -> Value {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// The next JSON line whose `event` is `event`, skipping others.
    fn event(&self, event: &str) -> Value {
        loop {
            let value = self.json();
            if value["event"] == event {
                return value;
            }
        }
    }

    fn type_line(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{text}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends SIGINT, as Ctrl-C does.
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

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
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `rollcall serve` on a free port, with extra arguments; returns it and its WebSocket URL.
fn serve(extra: &[&str]) -> (Running, String) {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let server = Running::spawn(&args);
    loop {
        let line = server.line();
        if let Some((_, addr)) = line.split_once("listening on http://") {
            let url = format!("ws://{}/ws", addr.trim());
            return (server, url);
        }
    }
}

/// Runs a command to completion: exit status, stdout, stderr.
fn run(args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = rollcall()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`rollcall {}` did not finish in time", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, out, err)
}

/// Runs a command that must succeed and print one JSON line.
fn run_json(args: &[&str]) -> Value {
    let (status, out, err) = run(args);
    assert!(
        status.success(),
        "`rollcall {}` failed: {err}",
        args.join(" ")
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {out}");
    serde_json::from_str(lines[0]).unwrap()
}

fn client_ids(event: &Value) -> Vec<String> {
    event["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["client_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn join_members_and_publish_print_json_lines() {
    let (_server, url) = serve(&[]);
    let url = url.as_str();
    let empty = run_json(&["members", "lobby", "--url", url, "--json"]);
    assert_eq!(
        empty,
        json!({"event": "members", "channel": "lobby", "seq": 0, "members": []})
    );

    let mut alice = Running::spawn(&[
        "join",
        "lobby",
        "--as",
        "alice",
        "--data",
        r#"{"name":"Alice"}"#,
        "--url",
        url,
        "--json",
    ]);
    let joined = alice.event("joined");
    assert_eq!(joined["client_id"], "alice");
    assert_eq!(client_ids(&joined), ["alice"]);

    let listed = run_json(&["members", "lobby", "--url", url, "--json"]);
    assert_eq!(client_ids(&listed), ["alice"]);
    assert_eq!(listed["members"][0]["data"], json!({"name": "Alice"}));

    let bob = Running::spawn(&["join", "lobby", "--as", "bob", "--url", url, "--json"]);
    assert_eq!(client_ids(&bob.event("joined")), ["alice", "bob"]);
    let arrived = alice.event("member_joined");
    assert_eq!(arrived["client_id"], "bob");
    assert_eq!(arrived["channel"], "lobby");

    let published = run_json(&[
        "publish", "lobby", "hello", "--as", "carol", "--url", url, "--json",
    ]);
    assert_eq!(published["event"], "published");
    assert_eq!(published["duplicate"], false);
    let message = alice.event("message");
    assert_eq!(message["client_id"], "carol");
    assert_eq!(message["data"], json!({"text": "hello"}));
    assert_eq!(message["seq"], published["seq"]);

    // A line typed into `join` is published to the channel.
    alice.type_line("hi bob");
    assert_eq!(
        bob.event("message")["client_id"],
        "carol",
        "bob saw carol's message too"
    );
    let message = bob.event("message");
    assert_eq!(message["client_id"], "alice");
    assert_eq!(message["data"], json!({"text": "hi bob"}));

    // Ctrl-C leaves cleanly: the others see the leave at once, and the command exits 0.
    alice.interrupt();
    assert_eq!(alice.event("left")["channel"], "lobby");
    assert!(alice.wait().success());
    assert_eq!(bob.event("member_left")["client_id"], "alice");
    let listed = run_json(&["members", "lobby", "--url", url, "--json"]);
    assert_eq!(client_ids(&listed), ["bob"]);
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollcall-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn failures_are_explained_with_distinct_exit_codes() {
    let (status, _, err) = run(&["members", "a b"]);
    assert_eq!(status.code(), Some(2));
    assert!(err.contains("invalid channel name \"a b\""), "{err}");

    // A port nothing listens on: bind one, note it, let it go.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (status, _, err) = run(&["members", "lobby", "--url", &format!("ws://{free}/ws")]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("cannot reach the server"), "{err}");

    let (status, _, err) = run(&["join", "lobby"]);
    assert_eq!(status.code(), Some(2));
    assert!(err.contains("--as"), "{err}");
}

#[test]
fn tokens_minted_by_the_cli_are_accepted_and_bad_ones_rejected() {
    let config = temp_file(
        "secure.toml",
        "[[apps]]\nid = \"secure\"\nkey = \"secure-key\"\nsecret = \"secure-secret-123\"\n",
    );
    let config = config.to_str().unwrap();
    let (_server, url) = serve(&["--config", config]);
    let url = url.as_str();

    let minted = run_json(&[
        "token",
        "--app",
        "secure",
        "--client",
        "ann",
        "--config",
        config,
        "--grants",
        "join=room-*",
        "--data",
        r#"{"role":"guest"}"#,
        "--json",
    ]);
    assert_eq!(minted["claims"]["sub"], "ann");
    assert_eq!(minted["claims"]["grants"]["join"], json!(["room-*"]));
    let token = minted["token"].as_str().unwrap();

    let ann = Running::spawn(&["join", "room-1", "--token", token, "--url", url, "--json"]);
    let joined = ann.event("joined");
    assert_eq!(joined["members"][0]["data"], json!({"role": "guest"}));

    let (status, _, err) = run(&["join", "lobby", "--token", token, "--url", url]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("forbidden"), "a grant outside room-*: {err}");

    let (status, _, err) = run(&[
        "members",
        "room-1",
        "--token",
        "not.a-token.at-all",
        "--url",
        url,
    ]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("rejected the token"), "{err}");

    let (status, _, err) = run(&["members", "room-1", "--as", "ann", "--url", url]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("requires a token"), "{err}");
    let _ = std::fs::remove_dir_all(std::path::Path::new(config).parent().unwrap());
}

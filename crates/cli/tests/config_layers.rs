//! `rollcall serve` layers its configuration: defaults < file < `ROLLCALL_*` variables < flags.
//! Observed from the outside, through the limits a real server announces in its session.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rollcall_client::{Client, ConnectOptions};

/// A `rollcall serve` process, killed when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `rollcall serve` with `args` and `env`; returns it and its WebSocket URL.
fn serve(args: &[&str], env: &[(&str, &str)]) -> (Serve, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("ROLLCALL_")) {
        command.env_remove(key);
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().expect("rollcall starts");
    let stdout = child.stdout.take().unwrap();
    let server = Serve(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(addr) = line.split("listening on http://").nth(1) {
            // Keep reading, so the server never writes into a closed pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (server, format!("ws://{}/ws", addr.trim()));
        }
        assert!(Instant::now() < deadline, "no banner in time");
    }
    panic!("rollcall serve exited before printing its address");
}

#[tokio::test]
async fn flags_beat_variables_which_beat_the_file_which_beats_the_defaults() {
    let dir = std::env::temp_dir().join(format!("rollcall-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rollcall.toml");
    std::fs::write(
        &file,
        "[heartbeat]\ninterval_ms = 7000\ntimeout_ms = 21000\n\n\
         [limits]\nmax_frame_bytes = 5000\nmax_message_bytes = 3000\nmax_member_data_bytes = 900\n",
    )
    .unwrap();

    let (_server, url) = serve(
        &[
            "--config",
            file.to_str().unwrap(),
            "--max-member-data-bytes",
            "200",
        ],
        &[
            ("ROLLCALL_MAX_MESSAGE_BYTES", "4000"),
            ("ROLLCALL_MAX_MEMBER_DATA_BYTES", "100"),
        ],
    );
    let client = Client::connect(&url, ConnectOptions::anonymous("layers".parse().unwrap()))
        .await
        .unwrap();
    let session = client.session();
    assert_eq!(session.heartbeat_interval_ms, 7000, "from the file");
    assert_eq!(session.limits.max_frame_bytes, 5000, "from the file");
    assert_eq!(
        session.limits.max_message_bytes, 4000,
        "the variable beats the file"
    );
    assert_eq!(
        session.limits.max_member_data_bytes, 200,
        "the flag beats the variable"
    );
    assert_eq!(
        session.limits.max_channels_per_connection, 100,
        "the default"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_bad_file_stops_the_server_with_a_message_naming_the_problem() {
    let dir = std::env::temp_dir().join(format!("rollcall-badconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[limits]\nmax_frame = 10\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("max_frame"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--heartbeat-timeout-ms",
            "10",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("heartbeat.timeout_ms"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

//! `rollcall serve` takes the admin token of the dashboard and the admin API from
//! `[admin] token`, `ROLLCALL_ADMIN_TOKEN` or `--admin-token` (in rising precedence), refuses a
//! short one, and announces the demo room and the dashboard in its banner.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `rollcall serve` process, killed when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("ROLLCALL_")) {
        command.env_remove(key);
    }
    command.envs(env.iter().copied());
    command
}

/// Starts `rollcall serve`; returns it, its address and its banner.
fn serve(args: &[&str], env: &[(&str, &str)]) -> (Serve, String, String) {
    let mut child = command(args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("rollcall starts");
    let stdout = child.stdout.take().unwrap();
    let server = Serve(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = BufReader::new(stdout).lines();
    let mut banner = String::new();
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        banner += &line;
        banner.push('\n');
        if let Some(found) = line.split("listening on http://").nth(1) {
            addr = Some(found.trim().to_owned());
        }
        if line.contains("dashboard:") {
            break;
        }
        assert!(Instant::now() < deadline, "no banner in time");
    }
    // Keep reading, so the server never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (server, addr.expect("the banner names the address"), banner)
}

/// The status of `GET /api/stats` with `token` as the bearer token.
fn stats_status(addr: &str, token: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET /api/stats HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_flag_beats_the_variable_which_beats_the_file() {
    let dir = std::env::temp_dir().join(format!("rollcall-admin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rollcall.toml");
    std::fs::write(&file, "[admin]\ntoken = \"from-the-file-0123456789\"\n").unwrap();
    let file = file.to_str().unwrap();

    let (_server, addr, banner) = serve(&["--config", file], &[]);
    assert!(
        banner.contains(&format!("demo room: http://{addr}/")),
        "{banner}"
    );
    assert!(
        banner.contains(&format!("dashboard: http://{addr}/dashboard")),
        "{banner}"
    );
    assert_eq!(stats_status(&addr, "from-the-file-0123456789"), 200);

    let variable = [("ROLLCALL_ADMIN_TOKEN", "from-the-variable-0123456")];
    let (_server, addr, _) = serve(&["--config", file], &variable);
    assert_eq!(stats_status(&addr, "from-the-variable-0123456"), 200);
    assert_eq!(stats_status(&addr, "from-the-file-0123456789"), 401);

    let flag = [
        "--config",
        file,
        "--admin-token",
        "from-the-flag-0123456789",
    ];
    let (_server, addr, _) = serve(&flag, &variable);
    assert_eq!(stats_status(&addr, "from-the-flag-0123456789"), 200);
    assert_eq!(stats_status(&addr, "from-the-variable-0123456"), 401);

    let (_server, addr, _) = serve(&[], &[]);
    assert_eq!(stats_status(&addr, "from-the-flag-0123456789"), 403);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_short_admin_token_stops_the_server_with_a_message() {
    let output = command(&["--admin-token", "short"], &[]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("admin.token"), "{stderr}");
    assert!(stderr.contains("16 bytes"), "{stderr}");
}

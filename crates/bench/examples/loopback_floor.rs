//! The floor under fan-out latency on this machine: one thread writes a small message to each of
//! N loopback TCP sockets, R times a second, and another process reads them with one `epoll`
//! thread. No WebSocket, no JSON, no async runtime, no server: only the kernel's cost of
//! delivering N small messages, and the least user-space work around it.
//!
//! ```sh
//! cargo run --release -p rollcall-bench --example loopback_floor -- 10000 20 10
//! #                                                      subscribers ─┘    │  └─ seconds
//! #                                                      messages per second
//! ```
//!
//! It prints the latency percentiles of every delivery (send time to read time, in ms) as one
//! JSON line. The readers live in a second process, so that N up to ~19,000 fits the per-process
//! open-file limit on each side (docs/benchmarks.md compares this with `rollcall-bench fanout`).

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};

/// Bytes per message: about a fan-out frame's size (header and JSON) in `rollcall-bench fanout`.
const MESSAGE: usize = 150;

fn now_us() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--reader") {
        let (addr, count) = (&args[1], args[2].parse().map_err(io::Error::other)?);
        return read_all(addr, count);
    }
    let number =
        |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let count = usize::try_from(number(0, 10_000)).map_err(io::Error::other)?;
    let rate = number(1, 20).max(1);
    let seconds = number(2, 10);
    send_all(count, rate, seconds)
}

/// The writing side: accepts `count` connections from the reader process, then writes one
/// message to each, `rate` times a second for `seconds`, then closes them all.
fn send_all(count: usize, rate: u64, seconds: u64) -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let mut reader = Command::new(std::env::current_exe()?)
        .args(["--reader", &addr, &count.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let (stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        streams.push(stream);
    }
    let mut lines = BufReader::new(
        reader
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?,
    )
    .lines();
    // The reader says "ready" once every socket is registered.
    lines.next().transpose()?;

    let mut message = [b'.'; MESSAGE];
    let start = Instant::now();
    let mut short_writes = 0u64;
    for n in 0..rate * seconds {
        let at = start + Duration::from_micros(n * 1_000_000 / rate);
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        message[..8].copy_from_slice(&now_us().to_le_bytes());
        for mut stream in &streams {
            // Loopback buffers hold far more than a run sends to one socket; a short write would
            // show up as a delivery lost by the reader, and is counted here too.
            if !matches!(stream.write(&message), Ok(MESSAGE)) {
                short_writes += 1;
            }
        }
    }
    drop(streams);
    let report = lines.next().transpose()?.unwrap_or_default();
    reader.wait()?;
    println!("{report} short_writes={short_writes}");
    Ok(())
}

/// The reading side: `count` connections to `addr`, read with one `epoll` loop until every one
/// is closed; prints "ready", then the latency summary.
fn read_all(addr: &str, count: usize) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut sockets = Vec::with_capacity(count);
    for i in 0..count {
        let stream = TcpStream::connect(addr)?;
        stream.set_nonblocking(true)?;
        let mut stream = MioStream::from_std(stream);
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE)?;
        // What a read left of a message split across two reads.
        sockets.push((stream, Vec::<u8>::new()));
    }
    println!("ready");
    io::stdout().flush()?;

    let mut latencies_us: Vec<u64> = Vec::new();
    let mut open = count;
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 16 * 1024];
    while open > 0 {
        poll.poll(&mut events, None)?;
        for event in &events {
            let (stream, carry) = &mut sockets[event.token().0];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => {
                        open -= 1;
                        poll.registry().deregister(stream)?;
                        break;
                    }
                    Ok(read) => {
                        let now = now_us();
                        carry.extend_from_slice(&buf[..read]);
                        let whole = carry.len() / MESSAGE * MESSAGE;
                        for message in carry[..whole].chunks_exact(MESSAGE) {
                            let mut sent = [0u8; 8];
                            sent.copy_from_slice(&message[..8]);
                            latencies_us.push(now.saturating_sub(u64::from_le_bytes(sent)));
                        }
                        carry.drain(..whole);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    latencies_us.sort_unstable();
    let at = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i =
            ((latencies_us.len() as f64 * q) as usize).min(latencies_us.len().saturating_sub(1));
        #[allow(clippy::cast_precision_loss)]
        latencies_us.get(i).map_or(0.0, |&us| us as f64 / 1000.0)
    };
    println!(
        r#"{{"deliveries":{},"p50_ms":{:.1},"p90_ms":{:.1},"p99_ms":{:.1},"max_ms":{:.1}}}"#,
        latencies_us.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        at(1.0)
    );
    Ok(())
}

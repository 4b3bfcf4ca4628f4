//! Why a benchmark run could not be carried out.
//!
//! A run that completes but finds a problem (messages lost, a storm that did not converge) is
//! not an error: it is a [`crate::Report`] with failed checks.

use std::io;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An option is out of range or inconsistent.
    #[error("invalid arguments: {0}")]
    BadArgs(String),
    /// The URL cannot be used.
    #[error("cannot use URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL's host is not a loopback address and `--allow-remote` was not given.
    #[error(
        "refusing to load {host}: only loopback hosts (127.0.0.0/8, ::1, localhost) unless --allow-remote"
    )]
    NotLoopback {
        /// The host refused.
        host: String,
    },
    /// A connection the coordinator itself needs (publisher, churner, watcher) failed.
    #[error("{role} connection: {source}")]
    Connection {
        /// What the connection was for.
        role: &'static str,
        /// What went wrong.
        source: ConnError,
    },
    /// A worker process could not be started.
    #[error("starting worker {index}: {source}")]
    Spawn {
        /// The worker's index.
        index: usize,
        /// The operating system's error.
        source: io::Error,
    },
    /// A worker reported a failure, or exited without reporting.
    #[error("worker {index}: {message}")]
    Worker {
        /// The worker's index.
        index: usize,
        /// What it reported.
        message: String,
    },
    /// A phase did not finish within `--timeout`.
    #[error("timed out while {phase}")]
    Timeout {
        /// What the run was waiting for.
        phase: &'static str,
    },
    /// `/proc/PID/status` could not be read for `--server-pid`.
    #[error("reading the RSS of process {pid}: {source}")]
    Rss {
        /// The process id.
        pid: u32,
        /// The operating system's error.
        source: io::Error,
    },
    /// Local I/O failed (runtime, pipes, stdout).
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
}

/// Why one benchmark connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The WebSocket layer failed (connect, handshake, read or write).
    #[error("websocket: {0}")]
    Ws(String),
    /// The server refused the connection or a request with this error code.
    #[error("server answered error {0:?}")]
    Refused(String),
    /// The server closed the connection (with this close code, if it sent one).
    #[error("closed by the server (code {0:?})")]
    Closed(Option<u16>),
    /// No answer within the time allowed.
    #[error("no answer in time")]
    Timeout,
    /// The server sent something this client cannot understand.
    #[error("unexpected frame: {0}")]
    Unexpected(String),
}

impl From<crate::ws::WsError> for ConnError {
    fn from(error: crate::ws::WsError) -> Self {
        Self::Ws(error.to_string())
    }
}

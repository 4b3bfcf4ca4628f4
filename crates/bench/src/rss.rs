//! The server's resident memory, read from `/proc/PID/status` (Linux, same machine).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;

use crate::error::BenchError;

/// How often the peak is sampled: often enough to catch a storm's spike, rarely enough to cost
/// nothing.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// `VmRSS` of process `pid`, in KiB.
pub(crate) fn read_kib(pid: u32) -> Result<u64, BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|source| BenchError::Rss { pid, source })?;
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix("VmRSS:")?;
            rest.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .ok_or_else(|| BenchError::Rss {
            pid,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "no VmRSS line"),
        })
}

/// The server's RSS over a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RssReport {
    /// The server's process id.
    pub pid: u32,
    /// Before the first connection, KiB.
    pub before_kib: u64,
    /// At the end of the measurement, before the connections close, KiB.
    pub after_kib: u64,
    /// The highest value sampled every 100 ms during the run, KiB.
    pub peak_kib: u64,
}

/// Samples a process's RSS in the background to find its peak.
pub(crate) struct RssSampler {
    pid: u32,
    before: u64,
    peak: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl RssSampler {
    /// Reads the starting RSS and starts sampling.
    pub(crate) fn start(pid: u32) -> Result<Self, BenchError> {
        let before = read_kib(pid)?;
        let peak = Arc::new(AtomicU64::new(before));
        let shared = peak.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tick.tick().await;
                match read_kib(pid) {
                    Ok(kib) => {
                        shared.fetch_max(kib, Ordering::Relaxed);
                    }
                    // The server went away; the final read will report it.
                    Err(_) => return,
                }
            }
        });
        Ok(Self {
            pid,
            before,
            peak,
            task,
        })
    }

    /// Reads the current RSS as the "after" figure and stops sampling.
    pub(crate) fn finish(self) -> Result<RssReport, BenchError> {
        self.task.abort();
        let after = read_kib(self.pid)?;
        let peak = self.peak.load(Ordering::Relaxed).max(after);
        Ok(RssReport {
            pid: self.pid,
            before_kib: self.before,
            after_kib: after,
            peak_kib: peak,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_rss() {
        let kib = read_kib(std::process::id()).unwrap();
        assert!(kib > 0);
        assert!(matches!(read_kib(u32::MAX), Err(BenchError::Rss { .. })));
    }
}

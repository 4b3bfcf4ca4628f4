//! Log output of `rollcall serve`: `tracing` lines on standard error (standard output carries
//! the start-up banner), human-readable or JSON, filtered by `ROLLCALL_LOG`.

use std::io::IsTerminal;

use clap::ValueEnum;
use rollcall_server::config::LogFormat;

/// `--log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormatArg {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

impl From<LogFormatArg> for LogFormat {
    fn from(arg: LogFormatArg) -> Self {
        match arg {
            LogFormatArg::Text => Self::Text,
            LogFormatArg::Json => Self::Json,
        }
    }
}

/// Installs the global subscriber. `ROLLCALL_LOG` is a `tracing` filter (`info` by default;
/// `info,rollcall::connection=warn` silences the per-connection lines).
pub(crate) fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ROLLCALL_LOG")
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never into journald or a log file.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        // Fields at the top level of each object (not under "fields"), so collectors can
        // index `app`, `connection_id`, `close_code` … directly. No spans are used.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

//! The signals that stop `rollcall serve`: SIGTERM (service managers, orchestrators) and
//! SIGINT (Ctrl-C) both start a graceful shutdown; a second one exits at once.

/// Resolves at the first SIGTERM or SIGINT. From then on, another of either ends the process
/// immediately (exit code 130), for an operator who does not want to wait for the drain.
pub(crate) async fn shutdown_requested() {
    let Some(mut signals) = Signals::install() else {
        // Without signal handlers the server could never stop gracefully; it still stops on
        // the default action of the signal.
        std::future::pending::<()>().await;
        return;
    };
    let name = signals.next().await;
    tracing::info!(
        signal = name,
        "stop requested: draining (send it again to exit at once)"
    );
    tokio::spawn(async move {
        let name = signals.next().await;
        eprintln!("rollcall: {name} again: exiting without waiting for connections");
        std::process::exit(EXIT_FORCED);
    });
}

/// The exit code of a forced stop: 128 + SIGINT, as shells report an interrupted program.
const EXIT_FORCED: i32 = 130;

#[cfg(unix)]
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Option<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let installed = signal(SignalKind::terminate())
            .and_then(|terminate| Ok((terminate, signal(SignalKind::interrupt())?)));
        match installed {
            Ok((terminate, interrupt)) => Some(Self {
                terminate,
                interrupt,
            }),
            Err(error) => {
                tracing::error!(%error, "cannot install the SIGTERM / SIGINT handlers");
                None
            }
        }
    }

    /// The next signal's name.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Option<Self> {
        Some(Self)
    }

    async fn next(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

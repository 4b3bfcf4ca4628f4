//! The worker side of a run: a share of the population's connections, driven through the
//! phases the coordinator calls.
//!
//! Phases, the same for every scenario (what each does is the scenario's business):
//!
//! 1. `Setup` — open (and join or watch) this worker's connections; answer `Ready`.
//! 2. `Go` — the instant the scenario's action starts (storm: everyone joins; reconnect:
//!    everyone drops). Passive scenarios ignore it.
//! 3. `Finish` — how many events each connection should have seen, and until when to wait for
//!    them; answer `Done` with the merged measurements.
//! 4. `Stop` (or the coordinator going away) — close everything and exit.
//!
//! Connections stay open and keep reading after they report: a closed socket would be a `leave`
//! for everyone else, and an unread one would be cut off by the server as a slow consumer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::args::{BenchArgs, Plan, WorkerSlot};
use crate::conn::{Conn, now_us};
use crate::error::{BenchError, ConnError};
use crate::protocol::{Incoming, Request};
use crate::scenario;
use crate::stats::Histogram;

/// Connections being opened at once, over all workers. rollcall's listener has a backlog of 128
/// (tokio's default; see `ss -ltn`): more connects in flight than that overflow it, and each
/// dropped SYN comes back only after TCP's one-second retransmit, which would be measured as
/// connection time.
const CONNECTS_IN_FLIGHT: usize = 64;

/// How long after a `Finish` deadline a worker still waits for its connections' reports: they
/// report at the deadline themselves, but on a loaded machine their tasks may run late.
const REPORT_GRACE: Duration = Duration::from_secs(3);

/// Errors kept per report: enough to diagnose, bounded whatever the number of connections.
const MAX_ERRORS: usize = 5;

/// A command from the coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub(crate) enum ToWorker {
    /// Open the connections; `run_id` names this run's clients and channels.
    Setup {
        /// The run's id.
        run_id: String,
    },
    /// The scenario's action starts at `at_us` (Unix µs).
    Go {
        /// When the coordinator gave the signal.
        at_us: u64,
        /// How many connections take part (storm: the size a member list must reach).
        target: u64,
    },
    /// Report once each connection has seen `expected` events, or at `deadline_us` (Unix µs).
    Finish {
        /// What each connection waits for (scenario-specific).
        expected: u64,
        /// The latest time to report.
        deadline_us: u64,
    },
    /// Close everything and exit.
    Stop,
}

/// A worker's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum FromWorker {
    /// Setup is over.
    Ready(SetupReport),
    /// Measurements after `Finish`.
    Done(WorkerReport),
    /// The worker could not go on.
    Failed {
        /// Why.
        error: String,
    },
}

/// How a worker's setup went.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SetupReport {
    pub(crate) connected: u64,
    pub(crate) failed: u64,
    pub(crate) errors: Vec<String>,
}

impl SetupReport {
    pub(crate) fn merge(&mut self, other: Self) {
        self.connected += other.connected;
        self.failed += other.failed;
        keep_errors(&mut self.errors, other.errors);
    }
}

/// What one connection measured.
#[derive(Debug, Default)]
pub(crate) struct ConnOutcome {
    /// Whether it saw everything it waited for.
    pub(crate) done: bool,
    /// Events counted (messages, churn joins, members seen, …).
    pub(crate) received: u64,
    /// Events that repeated or went backwards.
    pub(crate) duplicates: u64,
    /// `join` / `leave` events of interest.
    pub(crate) joins: u64,
    pub(crate) leaves: u64,
    /// Latency samples, µs.
    pub(crate) samples: Vec<u64>,
    /// First and last measured arrival (Unix µs).
    pub(crate) first_us: Option<u64>,
    pub(crate) last_us: Option<u64>,
    /// Text frames and bytes received after setup.
    pub(crate) frames: u64,
    pub(crate) bytes: u64,
    /// Why the connection ended early, if it did.
    pub(crate) error: Option<String>,
}

impl ConnOutcome {
    /// Records an arrival with its latency.
    pub(crate) fn sample(&mut self, now: u64, latency_us: u64) {
        self.samples.push(latency_us);
        self.first_us = Some(self.first_us.map_or(now, |f| f.min(now)));
        self.last_us = Some(self.last_us.map_or(now, |l| l.max(now)));
    }
}

/// A worker's merged measurements.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct WorkerReport {
    /// Connections that reported.
    pub(crate) conns: u64,
    /// Connections that saw everything they waited for.
    pub(crate) done: u64,
    pub(crate) received: u64,
    pub(crate) duplicates: u64,
    pub(crate) joins: u64,
    pub(crate) leaves: u64,
    /// Connections that ended early (closed by the server, read error).
    pub(crate) failed: u64,
    pub(crate) frames: u64,
    pub(crate) bytes: u64,
    pub(crate) first_us: Option<u64>,
    pub(crate) last_us: Option<u64>,
    pub(crate) latency: Histogram,
    pub(crate) errors: Vec<String>,
}

impl WorkerReport {
    fn add(&mut self, outcome: ConnOutcome) {
        self.conns += 1;
        self.done += u64::from(outcome.done);
        self.received += outcome.received;
        self.duplicates += outcome.duplicates;
        self.joins += outcome.joins;
        self.leaves += outcome.leaves;
        self.frames += outcome.frames;
        self.bytes += outcome.bytes;
        self.first_us = min_opt(self.first_us, outcome.first_us);
        self.last_us = max_opt(self.last_us, outcome.last_us);
        for v in outcome.samples {
            self.latency.record(v);
        }
        if let Some(error) = outcome.error {
            self.failed += 1;
            keep_errors(&mut self.errors, vec![error]);
        }
    }

    /// Adds another worker's report.
    pub(crate) fn merge(&mut self, other: Self) {
        self.conns += other.conns;
        self.done += other.done;
        self.received += other.received;
        self.duplicates += other.duplicates;
        self.joins += other.joins;
        self.leaves += other.leaves;
        self.failed += other.failed;
        self.frames += other.frames;
        self.bytes += other.bytes;
        self.first_us = min_opt(self.first_us, other.first_us);
        self.last_us = max_opt(self.last_us, other.last_us);
        self.latency.merge(&other.latency);
        keep_errors(&mut self.errors, other.errors);
    }
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a.max(b)
}

pub(crate) fn keep_errors(into: &mut Vec<String>, more: Vec<String>) {
    for e in more {
        if into.len() >= MAX_ERRORS {
            return;
        }
        if !into.contains(&e) {
            into.push(e);
        }
    }
}

/// The coordinator's end, as seen by a worker.
pub(crate) struct WorkerLink {
    pub(crate) rx: mpsc::Receiver<ToWorker>,
    pub(crate) tx: mpsc::Sender<FromWorker>,
}

impl WorkerLink {
    async fn send(&self, message: FromWorker) -> Result<(), BenchError> {
        self.tx
            .send(message)
            .await
            .map_err(|_| BenchError::Io(std::io::ErrorKind::BrokenPipe.into()))
    }
}

/// Runs one worker until the coordinator stops it or goes away.
pub(crate) async fn worker_main(args: BenchArgs, slot: WorkerSlot, mut link: WorkerLink) {
    let result = async {
        // Anything else first means the coordinator went away before starting us.
        let Some(ToWorker::Setup { run_id }) = link.rx.recv().await else {
            return Ok(());
        };
        let plan = Arc::new(Plan::new(&args, run_id)?);
        scenario::worker(plan, slot, &mut link).await
    }
    .await;
    if let Err(error) = result {
        let _ = link
            .send(FromWorker::Failed {
                error: error.to_string(),
            })
            .await;
    }
}

/// What the connections of a worker see of the coordinator's commands. Cumulative, because a
/// `watch` channel only keeps the latest value and a busy task may miss intermediate ones.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Signals {
    pub(crate) go_at_us: Option<u64>,
    pub(crate) go_target: u64,
    pub(crate) finish: Option<FinishSignal>,
    pub(crate) stop: bool,
}

/// The `Finish` command, with its deadline on this process's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FinishSignal {
    pub(crate) expected: u64,
    pub(crate) deadline: Instant,
}

/// Converts a Unix-µs deadline to a monotonic instant.
pub(crate) fn instant_at(unix_us: u64) -> Instant {
    Instant::now() + Duration::from_micros(unix_us.saturating_sub(now_us()))
}

/// A connection task's handle on its worker.
pub(crate) struct ConnCtx {
    /// The connection's index in the population.
    pub(crate) index: usize,
    pub(crate) plan: Arc<Plan>,
    signals: watch::Receiver<Signals>,
    limiter: Arc<Semaphore>,
    setup_tx: mpsc::UnboundedSender<Result<(), String>>,
    report_tx: mpsc::UnboundedSender<ConnOutcome>,
}

impl ConnCtx {
    /// Waits for a turn to connect (see [`CONNECTS_IN_FLIGHT`]).
    pub(crate) async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        self.limiter.clone().acquire_owned().await.ok()
    }

    /// Opens this connection's socket, as population member `index`.
    pub(crate) async fn open(&self) -> Result<Conn, ConnError> {
        Conn::open(&self.plan, self.plan.client_id(self.index)).await
    }

    /// Opens this connection (taking a turn) and, if given, sends `first` as request 1 and waits
    /// for its ack. Reports the end of setup either way.
    pub(crate) async fn establish(&self, first: Option<Request>) -> Option<Conn> {
        let permit = self.permit().await;
        let result = async {
            let mut conn = self.open().await?;
            if let Some(request) = first {
                conn.request(1, &request, self.plan.timeout).await?;
            }
            Ok(conn)
        }
        .await;
        drop(permit);
        match result {
            Ok(conn) => {
                self.setup_done(Ok(()));
                Some(conn)
            }
            Err(e) => {
                self.setup_done(Err(e));
                None
            }
        }
    }

    /// Reports the end of this connection's setup.
    pub(crate) fn setup_done(&self, result: Result<(), ConnError>) {
        let _ = self.setup_tx.send(result.map_err(|e| e.to_string()));
    }

    /// The commands so far.
    pub(crate) fn signals(&self) -> Signals {
        if self.signals.has_changed().is_err() {
            // The worker is gone: behave as if told to stop.
            return Signals {
                stop: true,
                ..*self.signals.borrow()
            };
        }
        *self.signals.borrow()
    }

    /// Waits for the next command.
    pub(crate) async fn changed(&mut self) {
        if self.signals.changed().await.is_err() {
            // Sender gone: `signals()` now says stop; never wake again from here.
            std::future::pending::<()>().await;
        }
    }

    /// Hands this connection's measurements to the worker.
    pub(crate) fn report(&self, outcome: ConnOutcome) {
        let _ = self.report_tx.send(outcome);
    }

    /// Waits until the worker says stop.
    pub(crate) async fn until_stop(&mut self) {
        while !self.signals().stop {
            self.changed().await;
        }
    }
}

/// What a passive connection does with the frames it receives (fanout, churn, storm, idle).
pub(crate) trait Observer: Send {
    /// A request to send at `Go` as request 1 (storm: the join), if any.
    fn on_go(&mut self, _at_us: u64, _target: u64) -> Option<Request> {
        None
    }
    /// One frame, at `now_us`.
    fn on_frame(&mut self, incoming: Incoming<'_>, now_us: u64);
    /// Whether it has seen everything `Finish` asked for.
    fn done(&self, expected: u64) -> bool;
    /// Its measurements.
    fn outcome(&mut self) -> ConnOutcome;
}

/// Reads `conn` until stopped, feeding `observer`; reports once the observer is done or at the
/// `Finish` deadline, whichever comes first.
pub(crate) async fn observe(mut ctx: ConnCtx, mut conn: Conn, mut observer: impl Observer) {
    let protocol = ctx.plan.protocol;
    let (frames_at_setup, bytes_at_setup) = (conn.frames, conn.bytes);
    let mut went = false;
    let mut reported = false;
    let mut deadline_armed = false;
    let mut ended: Option<ConnError> = None;
    // Reports are sent while `ctx` is borrowed by the wait for the next command.
    let reports = ctx.report_tx.clone();
    // One timer for the whole loop, armed at `Finish`: recreating it per frame would cost a
    // timer registration per delivery.
    let sleep = tokio::time::sleep(Duration::from_secs(86_400));
    tokio::pin!(sleep);
    'commands: loop {
        let signals = ctx.signals();
        if signals.stop {
            break;
        }
        if let (false, Some(at)) = (went, signals.go_at_us) {
            went = true;
            if let Some(request) = observer.on_go(at, signals.go_target) {
                if let Err(e) = conn.send_request(1, &request).await {
                    ended = Some(e);
                    break;
                }
            }
        }
        if let (Some(finish), false) = (signals.finish, deadline_armed) {
            sleep.as_mut().reset(finish.deadline);
            deadline_armed = true;
        }
        // The commands stay the same until `changed` fires, so frames are read against this
        // copy of them: the per-frame path touches nothing the worker's other connections share
        // (waiting on the command channel anew for every frame locked its waiter list twice).
        let changed = ctx.changed();
        tokio::pin!(changed);
        loop {
            if let (false, Some(finish)) = (reported, signals.finish)
                && (observer.done(finish.expected) || Instant::now() >= finish.deadline)
            {
                let mut outcome = observer.outcome();
                outcome.done = observer.done(finish.expected);
                outcome.frames = conn.frames - frames_at_setup;
                outcome.bytes = conn.bytes - bytes_at_setup;
                let _ = reports.send(outcome);
                reported = true;
            }
            tokio::select! {
                frame = conn.recv() => match frame {
                    Ok(text) => observer.on_frame(protocol.decode(&text), now_us()),
                    Err(e) => {
                        ended = Some(e);
                        break 'commands;
                    }
                },
                () = &mut changed => continue 'commands,
                () = &mut sleep, if deadline_armed && !reported => {}
            }
        }
    }
    if !reported {
        let mut outcome = observer.outcome();
        outcome.frames = conn.frames - frames_at_setup;
        outcome.bytes = conn.bytes - bytes_at_setup;
        outcome.error = ended.as_ref().map(ToString::to_string);
        if outcome.error.is_some() || ctx.signals().finish.is_some() {
            ctx.report(outcome);
        }
    }
    // A connection that ended early waits for the stop like the others, so the worker's count
    // of live tasks stays meaningful.
    if ended.is_some() {
        ctx.until_stop().await;
    }
}

/// Runs `task` for each connection of this worker's share and relays the phases.
pub(crate) async fn drive<F, Fut>(
    plan: Arc<Plan>,
    slot: WorkerSlot,
    link: &mut WorkerLink,
    task: F,
) -> Result<(), BenchError>
where
    F: Fn(ConnCtx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let share = plan.share(slot);
    let total = share.len() as u64;
    let (signal_tx, signal_rx) = watch::channel(Signals::default());
    let (setup_tx, mut setup_rx) = mpsc::unbounded_channel();
    let (report_tx, mut report_rx) = mpsc::unbounded_channel();
    let limiter = Arc::new(Semaphore::new((CONNECTS_IN_FLIGHT / slot.count).max(8)));
    let mut tasks = JoinSet::new();
    for index in share {
        tasks.spawn(task(ConnCtx {
            index,
            plan: plan.clone(),
            signals: signal_rx.clone(),
            limiter: limiter.clone(),
            setup_tx: setup_tx.clone(),
            report_tx: report_tx.clone(),
        }));
    }
    drop((setup_tx, report_tx));

    let mut setup = SetupReport::default();
    let deadline = Instant::now() + plan.timeout;
    while setup.connected + setup.failed < total {
        match tokio::time::timeout_at(deadline, setup_rx.recv()).await {
            Ok(Some(Ok(()))) => setup.connected += 1,
            Ok(Some(Err(e))) => {
                setup.failed += 1;
                keep_errors(&mut setup.errors, vec![e]);
            }
            Ok(None) => break,
            Err(_) => {
                return Err(BenchError::Timeout {
                    phase: "opening connections",
                });
            }
        }
    }
    let established = setup.connected;
    link.send(FromWorker::Ready(setup)).await?;

    while let Some(command) = link.rx.recv().await {
        match command {
            ToWorker::Go { at_us, target } => signal_tx.send_modify(|s| {
                s.go_at_us = Some(at_us);
                s.go_target = target;
            }),
            ToWorker::Finish {
                expected,
                deadline_us,
            } => {
                let deadline = instant_at(deadline_us);
                signal_tx.send_modify(|s| s.finish = Some(FinishSignal { expected, deadline }));
                let mut report = WorkerReport::default();
                while report.conns < established {
                    match tokio::time::timeout_at(deadline + REPORT_GRACE, report_rx.recv()).await {
                        Ok(Some(outcome)) => report.add(outcome),
                        _ => break,
                    }
                }
                link.send(FromWorker::Done(report)).await?;
            }
            ToWorker::Stop => break,
            ToWorker::Setup { .. } => {}
        }
    }
    signal_tx.send_modify(|s| s.stop = true);
    // Let the tasks drop their sockets themselves, briefly; abort whatever is left.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    Ok(())
}

//! The coordinator's workers: one in-process task when one worker suffices, otherwise worker
//! processes.
//!
//! A worker process is this same binary re-executed with the same arguments plus
//! `--worker I/W`. Commands go to its stdin and answers come back on its stdout, one JSON object
//! per line; its stderr is ours. It exits when its stdin closes, so a coordinator that dies
//! takes its workers with it (and `kill_on_drop` covers the rest).

use std::process::{ExitCode, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::args::{BenchArgs, Plan, WorkerSlot};
use crate::error::BenchError;
use crate::worker::{FromWorker, SetupReport, ToWorker, WorkerLink, WorkerReport, worker_main};

/// Commands and answers in flight per worker; the protocol is lock-step, so a few suffice.
const LINK_DEPTH: usize = 8;

struct Link {
    tx: mpsc::Sender<ToWorker>,
    rx: mpsc::Receiver<FromWorker>,
}

/// The workers of one run.
pub(crate) struct Pool {
    links: Vec<Link>,
    children: Vec<Child>,
    /// A few of the errors that ended connections, from the last `Done` reports.
    pub(crate) errors: Vec<String>,
}

impl Pool {
    /// Starts `plan.workers` workers and sends them `Setup`.
    pub(crate) async fn start(args: &BenchArgs, plan: &Plan) -> Result<Self, BenchError> {
        let mut pool = Self {
            links: Vec::new(),
            children: Vec::new(),
            errors: Vec::new(),
        };
        if plan.workers == 1 {
            // One worker needs no process of its own: it runs beside the coordinator, which
            // is also how the tests drive every scenario.
            let (to_tx, to_rx) = mpsc::channel(LINK_DEPTH);
            let (from_tx, from_rx) = mpsc::channel(LINK_DEPTH);
            let slot = WorkerSlot { index: 0, count: 1 };
            tokio::spawn(worker_main(
                args.clone(),
                slot,
                WorkerLink {
                    rx: to_rx,
                    tx: from_tx,
                },
            ));
            pool.links.push(Link {
                tx: to_tx,
                rx: from_rx,
            });
        } else {
            for index in 0..plan.workers {
                let slot = WorkerSlot {
                    index,
                    count: plan.workers,
                };
                pool.spawn(slot)?;
            }
        }
        pool.broadcast(&ToWorker::Setup {
            run_id: plan.run_id.clone(),
        })
        .await?;
        Ok(pool)
    }

    fn spawn(&mut self, slot: WorkerSlot) -> Result<(), BenchError> {
        let spawn_error = |source| BenchError::Spawn {
            index: slot.index,
            source,
        };
        let exe = std::env::current_exe().map_err(spawn_error)?;
        let mut child = Command::new(exe)
            .args(std::env::args_os().skip(1))
            .arg("--worker")
            .arg(slot.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_error)?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(spawn_error(std::io::ErrorKind::BrokenPipe.into()));
        };
        let (to_tx, mut to_rx) = mpsc::channel::<ToWorker>(LINK_DEPTH);
        let (from_tx, from_rx) = mpsc::channel(LINK_DEPTH);
        tokio::spawn(async move {
            while let Some(command) = to_rx.recv().await {
                let Ok(mut line) = serde_json::to_string(&command) else {
                    break;
                };
                line.push('\n');
                if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
            }
            // Dropping stdin closes it: the worker's cue to exit.
        });
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                // Reports are JSON objects; anything else is output of the host binary (a log
                // line, say), passed on rather than mistaken for a report.
                if !line.starts_with('{') {
                    eprintln!("[worker {slot}] {line}");
                    continue;
                }
                let message = serde_json::from_str(&line).unwrap_or_else(|e| FromWorker::Failed {
                    error: format!("unreadable report ({e}): {line:.200}"),
                });
                if from_tx.send(message).await.is_err() {
                    break;
                }
            }
        });
        self.links.push(Link {
            tx: to_tx,
            rx: from_rx,
        });
        self.children.push(child);
        Ok(())
    }

    /// Sends `command` to every worker.
    pub(crate) async fn broadcast(&self, command: &ToWorker) -> Result<(), BenchError> {
        for (index, link) in self.links.iter().enumerate() {
            link.tx
                .send(command.clone())
                .await
                .map_err(|_| exited(index))?;
        }
        Ok(())
    }

    /// One answer from each worker, by `deadline`.
    async fn gather(
        &mut self,
        deadline: Instant,
        phase: &'static str,
    ) -> Result<Vec<FromWorker>, BenchError> {
        let mut answers = Vec::with_capacity(self.links.len());
        for (index, link) in self.links.iter_mut().enumerate() {
            match tokio::time::timeout_at(deadline, link.rx.recv()).await {
                Ok(Some(FromWorker::Failed { error })) => {
                    return Err(BenchError::Worker {
                        index,
                        message: error,
                    });
                }
                Ok(Some(answer)) => answers.push(answer),
                Ok(None) => return Err(exited(index)),
                Err(_) => return Err(BenchError::Timeout { phase }),
            }
        }
        Ok(answers)
    }

    /// Waits for every worker's `Ready` and merges them.
    pub(crate) async fn ready(&mut self, deadline: Instant) -> Result<SetupReport, BenchError> {
        let mut merged = SetupReport::default();
        for (index, answer) in self
            .gather(deadline, "opening connections")
            .await?
            .into_iter()
            .enumerate()
        {
            match answer {
                FromWorker::Ready(setup) => merged.merge(setup),
                _ => return Err(out_of_step(index)),
            }
        }
        Ok(merged)
    }

    /// Sends `Finish` and merges every worker's `Done`.
    pub(crate) async fn finish(
        &mut self,
        expected: u64,
        deadline_us: u64,
        deadline: Instant,
    ) -> Result<WorkerReport, BenchError> {
        self.broadcast(&ToWorker::Finish {
            expected,
            deadline_us,
        })
        .await?;
        // Workers answer by the deadline plus their own grace; allow for theirs and more.
        let patience = deadline + Duration::from_secs(10);
        let mut merged = WorkerReport::default();
        for (index, answer) in self
            .gather(patience, "collecting results")
            .await?
            .into_iter()
            .enumerate()
        {
            match answer {
                FromWorker::Done(report) => merged.merge(report),
                _ => return Err(out_of_step(index)),
            }
        }
        self.errors.clone_from(&merged.errors);
        Ok(merged)
    }

    /// Tells every worker to stop and waits briefly for the processes to exit.
    pub(crate) async fn shutdown(mut self) {
        let _ = self.broadcast(&ToWorker::Stop).await;
        self.links.clear();
        for child in &mut self.children {
            if tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
            }
        }
    }
}

fn exited(index: usize) -> BenchError {
    BenchError::Worker {
        index,
        message: "exited without reporting (see its stderr above)".into(),
    }
}

fn out_of_step(index: usize) -> BenchError {
    BenchError::Worker {
        index,
        message: "answered out of step".into(),
    }
}

/// The main of a worker process: bridges stdin/stdout to [`worker_main`].
pub(crate) fn run_worker_process(args: BenchArgs, slot: WorkerSlot) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rollcall bench worker {slot}: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let (to_tx, to_rx) = mpsc::channel(LINK_DEPTH);
        let (from_tx, mut from_rx) = mpsc::channel::<FromWorker>(LINK_DEPTH);
        tokio::spawn(async move {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str(&line) {
                    Ok(command) => {
                        if to_tx.send(command).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => eprintln!("rollcall bench worker {slot}: bad command ({e})"),
                }
            }
            // stdin closed: dropping `to_tx` tells the worker to stop.
        });
        let writer = tokio::spawn(async move {
            let mut stdout = tokio::io::stdout();
            while let Some(message) = from_rx.recv().await {
                let Ok(mut line) = serde_json::to_string(&message) else {
                    continue;
                };
                line.push('\n');
                if stdout.write_all(line.as_bytes()).await.is_err() || stdout.flush().await.is_err()
                {
                    break;
                }
            }
        });
        worker_main(
            args,
            slot,
            WorkerLink {
                rx: to_rx,
                tx: from_tx,
            },
        )
        .await;
        let _ = writer.await;
    });
    // The stdin reader may still block on a read; don't wait for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    ExitCode::SUCCESS
}

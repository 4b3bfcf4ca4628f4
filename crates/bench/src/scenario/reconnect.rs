//! reconnect: N joined members drop their sockets at the same instant and reconnect at once;
//! a watcher counts the presence events this causes. Without a grace period every member shows
//! up as one leave and one join; with one (or resume), the watcher would see nothing.
//!
//! Over the Pusher protocol the watcher is itself a member of the presence channel (Pusher has
//! no way to follow presence without joining), left out of the counts; and since Pusher member
//! events are per user, a member whose new connection subscribes before the server has noticed
//! the old one's drop causes no event at all.

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::args::ProtocolKind;
use crate::conn::{Conn, now_us};
use crate::error::{BenchError, ConnError};
use crate::protocol::{Incoming, Request};
use crate::report::{Check, Outcome, ReconnectOutcome};
use crate::scenario::{Run, span_ms};
use crate::worker::{ConnCtx, ConnOutcome, Observer, ToWorker, observe};

/// The watcher's name (its client id is the run's id and this).
const WATCHER: &str = "watcher";

/// How long the watcher's list must stay complete and silent before the run calls it steady.
const QUIET: Duration = Duration::from_millis(500);

/// Population member: join; at the signal drop the socket, reconnect and join again.
pub(super) async fn member(mut ctx: ConnCtx) {
    let join = |ctx: &ConnCtx| Request::Join {
        channel: ctx.plan.channel(0),
        stamp_us: now_us(),
    };
    let Some(mut conn) = ctx.establish(Some(join(&ctx))).await else {
        return;
    };
    let go_at = loop {
        let signals = ctx.signals();
        if signals.stop {
            return;
        }
        if let Some(at) = signals.go_at_us {
            break at;
        }
        tokio::select! {
            frame = conn.recv() => if let Err(e) = frame {
                fail(&mut ctx, &e).await;
                return;
            },
            () = ctx.changed() => {}
        }
    };
    // No close frame: the way a network blip or a killed process looks to the server.
    drop(conn);
    let rejoined = async {
        let _permit = ctx.permit().await;
        let mut conn = ctx.open().await?;
        conn.request(1, &join(&ctx), ctx.plan.timeout).await?;
        Ok::<_, ConnError>(conn)
    }
    .await;
    match rejoined {
        Ok(conn) => {
            let now = now_us();
            let mut outcome = ConnOutcome {
                received: 1,
                ..ConnOutcome::default()
            };
            outcome.sample(now, now.saturating_sub(go_at));
            observe(ctx, conn, Rejoined { outcome }).await;
        }
        Err(e) => fail(&mut ctx, &e).await,
    }
}

async fn fail(ctx: &mut ConnCtx, error: &ConnError) {
    ctx.report(ConnOutcome {
        error: Some(error.to_string()),
        ..ConnOutcome::default()
    });
    ctx.until_stop().await;
}

struct Rejoined {
    outcome: ConnOutcome,
}

impl Observer for Rejoined {
    fn on_frame(&mut self, _: Incoming<'_>, _: u64) {}
    fn done(&self, _: u64) -> bool {
        true
    }
    fn outcome(&mut self) -> ConnOutcome {
        std::mem::take(&mut self.outcome)
    }
}

/// What the watcher saw after the drop.
#[derive(Default)]
struct Watched {
    leaves: u64,
    joins: u64,
    updates: u64,
    last_change_us: Option<u64>,
    present: usize,
}

pub(super) async fn coordinate(run: &mut Run<'_>) -> Result<(Outcome, Vec<Check>), BenchError> {
    let plan = run.plan;
    let channel = plan.channel(0);
    let members = run.setup.connected;
    let connection_error = |source| BenchError::Connection {
        role: "watcher",
        source,
    };
    let mut watcher = run.open("watcher", WATCHER).await?;
    let watch = Request::Watch {
        channel: channel.clone(),
    };
    let ack = watcher
        .request_raw(1, &watch, plan.timeout)
        .await
        .map_err(connection_error)?;
    let mut present: HashSet<String> = plan
        .protocol
        .snapshot_ids(&ack)
        .unwrap_or_default()
        .into_iter()
        .collect();
    // A Pusher watcher is a member of the presence channel itself: not one of the N.
    present.remove(&plan.named_client(WATCHER));
    let present_before = present.len();

    let go_at = now_us();
    run.pool
        .broadcast(&ToWorker::Go {
            at_us: go_at,
            target: members,
        })
        .await?;
    let (all_back_tx, all_back) = watch::channel(false);
    let give_up = Instant::now() + plan.timeout + QUIET * 4;
    let target = usize::try_from(members).unwrap_or(usize::MAX);
    let watching = tokio::spawn(watch_events(
        watcher,
        plan.protocol,
        present,
        target,
        all_back,
        give_up,
    ));
    let (deadline_us, deadline) = Run::deadline(plan.timeout);
    let report = run.pool.finish(members, deadline_us, deadline).await;
    let _ = all_back_tx.send(true);
    let watched = watching
        .await
        .map_err(|e| BenchError::Io(std::io::Error::other(e)))?
        .map_err(connection_error)?;
    let report = report?;

    let rejoined = report.done;
    let steady = rejoined == members && watched.present == target;
    let steady_at = watched.last_change_us.max(report.last_us).unwrap_or(go_at);
    let outcome = ReconnectOutcome {
        members,
        rejoined,
        time_to_steady_ms: steady.then(|| span_ms(go_at, steady_at)),
        rejoin: report.latency.summary(),
        watcher_leaves: watched.leaves,
        watcher_joins: watched.joins,
        watcher_updates: watched.updates,
        watcher_final_members: watched.present as u64,
    };
    let checks = vec![
        Check::new(
            "watcher saw every member before the drop",
            present_before == target,
            format!("{present_before} of {members}"),
        ),
        Check::new(
            "every member rejoined",
            rejoined == members,
            format!("{rejoined} of {members}"),
        ),
        Check::new(
            "watcher's list complete again",
            watched.present == target,
            format!("{} of {members}", watched.present),
        ),
        Check::new(
            "one leave and one join per member at most",
            watched.leaves <= members && watched.joins <= members,
            format!("{} leaves, {} joins", watched.leaves, watched.joins),
        ),
    ];
    Ok((Outcome::Reconnect(outcome), checks))
}

/// Follows the channel from the drop until every member is back (`all_back`, from the
/// workers), the list is complete and nothing has changed for [`QUIET`] — or `give_up`.
async fn watch_events(
    mut conn: Conn,
    protocol: ProtocolKind,
    mut present: HashSet<String>,
    target: usize,
    all_back: watch::Receiver<bool>,
    give_up: Instant,
) -> Result<Watched, ConnError> {
    let mut watched = Watched::default();
    while Instant::now() < give_up {
        match tokio::time::timeout(QUIET, conn.recv()).await {
            Ok(frame) => {
                let text = frame?;
                match protocol.decode(&text) {
                    Incoming::Join { client_id, .. } => {
                        watched.joins += 1;
                        present.insert(client_id.into_owned());
                    }
                    Incoming::Leave { client_id, .. } => {
                        watched.leaves += 1;
                        present.remove(client_id.as_ref());
                    }
                    Incoming::Update { .. } => watched.updates += 1,
                    _ => continue,
                }
                watched.last_change_us = Some(now_us());
            }
            Err(_) => {
                if *all_back.borrow() && present.len() >= target {
                    break;
                }
            }
        }
    }
    watched.present = present.len();
    conn.close().await;
    Ok(watched)
}

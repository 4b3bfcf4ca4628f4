//! Node liveness: each node renews a lease in Redis every fifth of its length and, in the same
//! round trip, learns which nodes' leases have lapsed. One survivor per dead node (the one that
//! wins a `SET NX` claim) removes its entries, which publishes one leave per member that had no
//! other connection: exactly once, because each entry is popped atomically with its leave.
//!
//! The renewal is also how a node notices that Redis lost its entries (a restart without
//! persistence) or that another node reaped it (a partition longer than the lease): it then
//! registers its live connections again — silently in the first case, where nobody saw them
//! leave, and with join events in the second, where everybody did.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use std::collections::HashMap;

use redis::Value;
use rollcall_core::{ChannelName, ClientId};

use super::wire::{int, text, texts};
use super::{Cluster, scripts};
use crate::hub::LocalChannel;
use crate::session::now_ms;
use crate::state::ServerState;
use crate::webhooks::Notice;

/// How far a channel's sequence number jumps when Redis lost it: past anything any node may
/// have delivered, so that no node takes a new event for one it already has. Clients see a
/// gap, and a gap makes them ask for the member list, which is right after an outage.
const RESTORE_SEQ_MARGIN: u64 = 1_000;

/// Entries removed per script call while reaping, so Redis is never blocked for long.
const REAP_BATCH: usize = 500;

/// How long a reaper's claim on a dead node lasts; another survivor takes over after it.
const REAP_CLAIM_MS: u64 = 30_000;

pub(super) async fn run(cluster: Arc<Cluster>, state: Weak<ServerState>) {
    let every = Duration::from_millis((cluster.lease_ms / 5).max(100));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(state) = state.upgrade() else { return };
        cluster.renew_lease(&state).await;
    }
}

impl Cluster {
    /// Renews the lease, repairs what Redis lost, retries leaves that failed, and reaps lapsed
    /// nodes. Failures only mark Redis as down: the next round tries again.
    pub(super) async fn renew_lease(&self, state: &ServerState) {
        let Ok(mut redis) = self.commands() else {
            return;
        };
        let reply: Result<Vec<Value>, _> = scripts::LEASE
            .prepare_invoke()
            .arg(&self.prefix)
            .arg(self.node)
            .arg(self.lease_ms)
            .invoke_async(&mut redis)
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(error) => {
                self.failed(&error);
                return;
            }
        };
        // Remembered until a re-registration succeeds: the lease is taken again by the call
        // above, so the next renewal says `ok` even if this round's re-registration failed.
        match reply.first().and_then(text).as_deref() {
            Some("lost") => *self.restore_pending.lock() = Some(true),
            Some("reaped") => *self.restore_pending.lock() = Some(false),
            _ => {}
        }
        let pending = *self.restore_pending.lock();
        if let (Some(silent), false) = (pending, state.is_shutting_down()) {
            if let Err(error) = self.restore(state, silent).await {
                self.failed(&error);
                return;
            }
            *self.restore_pending.lock() = None;
        }
        if let Err(error) = self.retry_leaves(state).await {
            self.failed(&error);
            return;
        }
        if !self.lease_up.swap(true, Ordering::AcqRel) {
            tracing::info!(node = self.node, "Redis reachable; lease held");
        }
        self.show_health();
        for node in reply.get(1).map(texts).unwrap_or_default() {
            let Ok(node) = node.parse::<u32>() else {
                continue;
            };
            if node != self.node {
                if let Err(error) = self.reap_if_unclaimed(state, node).await {
                    self.failed(&error);
                    return;
                }
            }
        }
    }

    /// Registers this node's connections again after Redis lost them (`silent`) or after
    /// another node reaped them.
    async fn restore(&self, state: &ServerState, silent: bool) -> redis::RedisResult<()> {
        let Ok(mut redis) = self.commands() else {
            return Ok(());
        };
        let now = now_ms();
        let mut restored = 0;
        let pending = self.pending_leaves.lock().clone();
        for app in state.apps() {
            self.restore_clients(app).await?;
            let mut channels: HashMap<ChannelName, LocalChannel> = app
                .hub
                .local_channels()
                .into_iter()
                .map(|local| (local.channel.clone(), local))
                .collect();
            // Connections that closed while Redis was away go back in too, for their leave to
            // be announced right after.
            for leave in pending.iter().filter(|l| l.app == app.config.id) {
                let local = channels
                    .entry(leave.channel.clone())
                    .or_insert_with(|| LocalChannel {
                        channel: leave.channel.clone(),
                        subscribers: 0,
                        seq: 0,
                        entries: Vec::new(),
                    });
                local.subscribers += 1;
                if let Some((client, data)) = &leave.member {
                    local
                        .entries
                        .push((leave.connection, client.clone(), data.clone(), now));
                }
            }
            for local in channels.into_values() {
                let floor = if silent {
                    local.seq + RESTORE_SEQ_MARGIN
                } else {
                    local.seq
                };
                let mut call = self.call(&scripts::RESTORE, &app.config.id, &local.channel);
                call.arg(self.node)
                    .arg(local.subscribers)
                    .arg(floor)
                    .arg(now)
                    .arg(u8::from(silent));
                for (conn, client, data, joined_at) in &local.entries {
                    call.arg(conn.to_string())
                        .arg(client.as_str())
                        .arg(data.as_json())
                        .arg(joined_at);
                }
                restored += int(&call.invoke_async::<Value>(&mut redis).await?);
            }
        }
        if restored > 0 {
            self.metrics.restored.increment(restored);
            tracing::warn!(
                restored,
                silent,
                "Redis had lost this node's presence entries; registered them again"
            );
        }
        Ok(())
    }

    /// Carries out the leaves that failed while Redis was unreachable.
    async fn retry_leaves(&self, state: &ServerState) -> redis::RedisResult<()> {
        let pending = std::mem::take(&mut *self.pending_leaves.lock());
        let mut failed = None;
        let mut remaining = Vec::new();
        for leave in pending {
            if failed.is_some() {
                remaining.push(leave);
                continue;
            }
            let Some(app) = state.app_by_id(leave.app.as_str()) else {
                continue;
            };
            if let Err(error) = self
                .leave_in_redis(app, &leave.channel, leave.connection, now_ms())
                .await
            {
                failed = Some(error);
                remaining.push(leave);
            }
        }
        self.pending_leaves.lock().extend(remaining);
        failed.map_or(Ok(()), Err)
    }

    async fn reap_if_unclaimed(&self, state: &ServerState, node: u32) -> redis::RedisResult<()> {
        let Ok(mut redis) = self.commands() else {
            return Ok(());
        };
        let claim = format!("{}:reap:{node}", self.prefix);
        let won: Option<String> = redis::cmd("SET")
            .arg(&claim)
            .arg(self.node)
            .arg("NX")
            .arg("PX")
            .arg(REAP_CLAIM_MS)
            .query_async(&mut redis)
            .await?;
        if won.is_none() {
            return Ok(());
        }
        tracing::warn!(node, "a node's lease lapsed; removing its members");
        self.metrics.reaped.increment(1);
        let result = self.reap(state, node).await;
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&claim).query_async(&mut redis).await;
        result
    }

    /// Removes every entry of `node`, in batches, and sends the webhooks of what that did.
    pub(super) async fn reap(&self, state: &ServerState, node: u32) -> redis::RedisResult<()> {
        let Ok(mut redis) = self.commands() else {
            return Ok(());
        };
        loop {
            let reply: Vec<Value> = scripts::REAP
                .prepare_invoke()
                .arg(&self.prefix)
                .arg(node)
                .arg(now_ms())
                .arg(REAP_BATCH)
                .invoke_async(&mut redis)
                .await?;
            for row in reply.get(1..).unwrap_or_default().chunks_exact(3) {
                notify_reaped(state, &row[0], &row[1], &row[2]);
            }
            if reply.first().map_or(0, int) == 0 {
                return Ok(());
            }
        }
    }
}

/// The webhook of one change a reap made: `member_removed` for a member that left, or
/// `channel_vacated` (empty `client`) for a channel left without subscribers.
fn notify_reaped(state: &ServerState, app: &Value, channel: &Value, client: &Value) {
    let (Some(app), Some(channel), Some(client)) = (text(app), text(channel), text(client)) else {
        return;
    };
    let Some(notices) = state.app_by_id(&app).and_then(|a| a.notices.as_ref()) else {
        return;
    };
    let Ok(channel) = ChannelName::parse(&channel) else {
        return;
    };
    if client.is_empty() {
        notices.send(Notice::ChannelVacated { channel });
    } else if let Ok(user_id) = ClientId::parse(&client) {
        notices.send(Notice::MemberRemoved { channel, user_id });
    }
}

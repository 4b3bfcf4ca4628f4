//! This node's Redis pub/sub connection: subscribed to exactly the channels it has local
//! subscribers for, reconnected with backoff when it drops, and the way events from every
//! node reach the local hubs.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use parking_lot::Mutex;
use rollcall_core::ChannelName;
use tokio::sync::{mpsc, oneshot};

use super::wire::{Kind, WireEvent};
use super::{Cluster, Topic};
use crate::hub::Delivered;
use crate::session::now_ms;
use crate::state::{AppRuntime, ServerState};

/// Requests to the task that owns the connection, so that subscribes and unsubscribes reach
/// Redis in the order they were decided.
#[derive(Debug)]
enum Control {
    /// Subscribe, and say whether Redis confirmed it.
    Subscribe(String, oneshot::Sender<bool>),
    /// Unsubscribe, unless somebody wants the channel again by the time this is carried out.
    Unsubscribe(String),
}

/// Which pub/sub channels this node wants, and how many local subscriptions want each.
#[derive(Debug)]
pub(super) struct Subscriptions {
    wanted: Mutex<HashMap<String, usize>>,
    control: mpsc::UnboundedSender<Control>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Control>>>,
}

impl Subscriptions {
    pub(super) fn new() -> Self {
        let (control, receiver) = mpsc::unbounded_channel();
        Self {
            wanted: Mutex::default(),
            control,
            receiver: Mutex::new(Some(receiver)),
        }
    }

    /// Counts one more local subscription of `channel` and returns once Redis delivers its
    /// events to this node; `false` when it cannot (Redis unreachable), the count undone.
    pub(super) async fn acquire(&self, channel: &str) -> bool {
        *self.wanted.lock().entry(channel.to_owned()).or_default() += 1;
        let (done, confirmed) = oneshot::channel();
        let ok = self
            .control
            .send(Control::Subscribe(channel.to_owned(), done))
            .is_ok()
            && confirmed.await.unwrap_or(false);
        if !ok {
            self.release(channel);
        }
        ok
    }

    /// Counts one local subscription of `channel` fewer, unsubscribing after the last.
    pub(super) fn release(&self, channel: &str) {
        let mut wanted = self.wanted.lock();
        let Some(count) = wanted.get_mut(channel) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            wanted.remove(channel);
            let _ = self.control.send(Control::Unsubscribe(channel.to_owned()));
        }
    }

    fn wanted(&self) -> Vec<String> {
        self.wanted.lock().keys().cloned().collect()
    }

    fn is_wanted(&self, channel: &str) -> bool {
        self.wanted.lock().contains_key(channel)
    }
}

/// Runs the pub/sub connection until the server goes away.
pub(super) async fn run(cluster: Arc<Cluster>, state: Weak<ServerState>) {
    let Some(mut control) = cluster.pubsub.receiver.lock().take() else {
        return;
    };
    let mut backoff = Backoff::default();
    let mut reconnecting = false;
    loop {
        if state.strong_count() == 0 {
            return;
        }
        let (mut sink, mut stream) = match cluster.client.get_async_pubsub().await {
            Ok(pubsub) => pubsub.split(),
            Err(error) => {
                cluster.set_pubsub_up(false, &error.to_string());
                refuse_until(&mut control, backoff.next()).await;
                continue;
            }
        };
        let mut wanted = cluster.pubsub.wanted();
        if let Some(state) = state.upgrade() {
            wanted.extend(
                state
                    .apps()
                    .iter()
                    .map(|app| cluster.control_channel(app.config.id.as_str())),
            );
        }
        if !wanted.is_empty() && sink.subscribe(&wanted).await.is_err() {
            refuse_until(&mut control, backoff.next()).await;
            continue;
        }
        backoff = Backoff::default();
        // Events published while the connection was down never reach it: take them from the
        // channels' logs before any live event, which the stream holds meanwhile.
        if reconnecting {
            if let Some(state) = state.upgrade() {
                cluster.catch_up(&state).await;
            }
        }
        reconnecting = true;
        cluster.set_pubsub_up(true, "");
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else { break };
                    let Some(state) = state.upgrade() else { return };
                    dispatch(&cluster, &state, message.get_channel_name(), message.get_payload_bytes());
                }
                request = control.recv() => match request {
                    None => return,
                    Some(Control::Subscribe(channel, done)) => {
                        let _ = done.send(sink.subscribe(&channel).await.is_ok());
                    }
                    Some(Control::Unsubscribe(channel)) => {
                        if !cluster.pubsub.is_wanted(&channel) {
                            let _ = sink.unsubscribe(&channel).await;
                        }
                    }
                }
            }
        }
        // Acks parked for their events keep waiting: the catch-up delivers those events in
        // order, and an ack whose event does not come is sent after `ACK_WAIT` regardless.
        cluster.set_pubsub_up(false, "connection closed");
    }
}

/// Waits `delay`, answering every subscribe meanwhile with "no": there is no connection.
async fn refuse_until(control: &mut mpsc::UnboundedReceiver<Control>, delay: Duration) {
    let until = tokio::time::Instant::now() + delay;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(until) => return,
            request = control.recv() => match request {
                Some(Control::Subscribe(_, done)) => { let _ = done.send(false); }
                Some(Control::Unsubscribe(_)) => {}
                None => return,
            }
        }
    }
}

/// Hands one pub/sub message to the app it is for.
fn dispatch(cluster: &Cluster, state: &ServerState, channel: &str, payload: &[u8]) {
    let (app, channel) = match cluster.parse_pubsub_channel(channel) {
        Some(Topic::Events { app, channel }) => (app, channel),
        Some(Topic::Control { app }) => {
            if let Some(app) = state.app_by_id(app) {
                super::invites::dispatch(app, payload);
            }
            return;
        }
        None => return,
    };
    let Some(app) = state.app_by_id(app) else {
        return;
    };
    let Ok(channel) = ChannelName::parse(channel) else {
        return;
    };
    deliver(app, &channel, payload);
}

/// Hands one channel event (as published) to the app's hub.
pub(super) fn deliver(app: &AppRuntime, channel: &ChannelName, payload: &[u8]) {
    let event: WireEvent = match serde_json::from_slice(payload) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, "ignoring an event from Redis that does not parse");
            return;
        }
    };
    let delivered = match event.kind {
        Kind::Message | Kind::Ephemeral => {
            let (seq, ts, conn) = (event.seq, event.ts, event.conn);
            let Some(message) = event.into_message() else {
                return;
            };
            Delivered::Message {
                seq,
                ts,
                conn,
                message,
            }
        }
        Kind::Joined | Kind::Updated | Kind::Left => {
            let (seq, ts) = (event.seq, event.ts);
            let Some(transition) = event.transition() else {
                return;
            };
            Delivered::Presence {
                seq,
                ts,
                transition,
            }
        }
    };
    app.hub.deliver(channel, delivered, now_ms());
}

/// Exponential backoff with jitter, 100 ms doubling up to 5 s.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    attempts: u32,
}

impl Backoff {
    pub(super) fn next(&mut self) -> Duration {
        let base = 100u64.saturating_mul(1 << self.attempts.min(6)).min(5_000);
        self.attempts = self.attempts.saturating_add(1);
        Duration::from_millis(base / 2 + rand::random_range(0..=base / 2))
    }
}

impl Cluster {
    /// After a pub/sub reconnection: delivers, channel by channel, the logged events this node
    /// has not delivered. A gap longer than the log (about 64 events, two minutes) cannot be
    /// filled: native clients then resync at their next event, as after any gap.
    async fn catch_up(&self, state: &ServerState) {
        let Ok(mut redis) = self.commands() else {
            return;
        };
        for app in state.apps() {
            for local in app.hub.local_channels() {
                let logged: Vec<redis::Value> = match self
                    .call(&super::scripts::LOG, &app.config.id, &local.channel)
                    .invoke_async(&mut redis)
                    .await
                {
                    Ok(logged) => logged,
                    Err(error) => {
                        self.failed(&error);
                        return;
                    }
                };
                let mut missed = 0u64;
                let mut oldest = None;
                for entry in logged.chunks_exact(2) {
                    let seq = super::wire::int(&entry[0]);
                    oldest.get_or_insert(seq);
                    let Some(event) = super::wire::text(&entry[1]) else {
                        continue;
                    };
                    if seq > local.seq {
                        missed += 1;
                        deliver(app, &local.channel, event.as_bytes());
                    }
                }
                if oldest.is_some_and(|oldest| oldest > local.seq + 1) && local.seq > 0 {
                    tracing::warn!(
                        channel = local.channel.as_str(),
                        "events missed while the pub/sub connection was down are no longer logged"
                    );
                }
                if missed > 0 {
                    tracing::info!(
                        channel = local.channel.as_str(),
                        missed,
                        "delivered events missed while the pub/sub connection was down"
                    );
                }
            }
        }
    }
}

//! The per-app dispatcher: turns notices into signed, batched webhook requests.
//!
//! `member_removed` and `channel_vacated` wait `webhook_delay_ms` first; if the member or the
//! channel comes back meanwhile, neither the removal nor the re-addition is sent, as on Pusher,
//! so a page reload does not look like leaving and coming back.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use rollcall_core::{ChannelName, ClientId};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::client::{HttpUrl, post};
use super::{Notice, NoticeReceiver};
use crate::config::{AppConfig, WebhookEvent};
use crate::pusher::sign;
use crate::telemetry::WebhookMetrics;

/// How long the dispatcher gathers events into one request after the first is ready.
const BATCH_WINDOW: Duration = Duration::from_millis(50);

/// Most events in one request.
const MAX_BATCH: usize = 100;

/// Batches waiting per endpoint while earlier ones are being delivered or retried.
const ENDPOINT_QUEUE: usize = 64;

/// Delivery attempts per batch, with exponential backoff between them (1 s, 2 s, 4 s, …).
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Endpoint {
    events: Vec<WebhookEvent>,
    batches: mpsc::Sender<Bytes>,
}

/// Runs an app's dispatcher until its notice queue closes. `delay` is the wait before
/// `member_removed` / `channel_vacated`; `max_pending` bounds how many may wait at once.
pub(crate) async fn run(
    app: AppConfig,
    mut notices: NoticeReceiver,
    delay: Duration,
    max_pending: usize,
    metrics: WebhookMetrics,
) {
    let endpoints: Vec<Endpoint> = app
        .pusher
        .webhooks
        .iter()
        .filter_map(|hook| {
            let url = HttpUrl::parse(&hook.url)?;
            let (batches, queue) = mpsc::channel(ENDPOINT_QUEUE);
            tokio::spawn(deliver(
                url,
                app.key.clone(),
                app.secret.clone(),
                queue,
                hook.url.clone(),
                metrics.clone(),
            ));
            Some(Endpoint {
                events: hook.event_types.clone(),
                batches,
            })
        })
        .collect();
    let mut state = Pending::default();
    let mut ready: Vec<(u64, Notice)> = Vec::new();
    let mut flush_at: Option<Instant> = None;
    loop {
        let wake = [flush_at, state.next_due()].into_iter().flatten().min();
        tokio::select! {
            received = notices.rx.recv() => {
                let Some((at, notice)) = received else { break };
                if let Some(notice) = state.admit(at, notice, Instant::now() + delay, max_pending) {
                    ready.push(notice);
                }
            }
            () = sleep_until(wake.unwrap_or_else(far_future)), if wake.is_some() => {}
        }
        ready.extend(state.take_due(Instant::now()));
        if ready.is_empty() {
            flush_at = None;
            continue;
        }
        let due = *flush_at.get_or_insert_with(|| Instant::now() + BATCH_WINDOW);
        if ready.len() >= MAX_BATCH || Instant::now() >= due {
            for chunk in ready.chunks(MAX_BATCH) {
                send_batch(&endpoints, chunk, &metrics);
            }
            ready.clear();
            flush_at = None;
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

/// Removals waiting out the delay, in arrival order (so the oldest is due first).
#[derive(Debug, Default)]
struct Pending {
    queue: VecDeque<(Instant, u64, Notice)>,
    members: HashMap<(ChannelName, ClientId), u64>,
    channels: HashMap<ChannelName, u64>,
    next_id: u64,
    cancelled: std::collections::HashSet<u64>,
}

impl Pending {
    /// Takes in a notice: a removal waits (returns `None`); an addition that cancels a waiting
    /// removal is dropped with it; anything else is ready at once.
    fn admit(
        &mut self,
        at: u64,
        notice: Notice,
        due: Instant,
        max_pending: usize,
    ) -> Option<(u64, Notice)> {
        let cancelled = match &notice {
            Notice::MemberAdded { channel, user_id } => {
                self.members.remove(&(channel.clone(), user_id.clone()))
            }
            Notice::ChannelOccupied { channel } => self.channels.remove(channel),
            _ => None,
        };
        if let Some(id) = cancelled {
            self.cancelled.insert(id);
            return None;
        }
        // Past the bound a removal is sent at once rather than waiting, so memory stays bounded.
        if self.members.len() + self.channels.len() >= max_pending {
            return Some((at, notice));
        }
        let id = self.next_id;
        self.next_id += 1;
        match &notice {
            Notice::MemberRemoved { channel, user_id } => {
                self.members.insert((channel.clone(), user_id.clone()), id);
            }
            Notice::ChannelVacated { channel } => {
                self.channels.insert(channel.clone(), id);
            }
            _ => return Some((at, notice)),
        }
        self.queue.push_back((due, id, notice));
        None
    }

    fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|(due, _, _)| *due)
    }

    /// The removals whose delay is over and that were not cancelled.
    fn take_due(&mut self, now: Instant) -> Vec<(u64, Notice)> {
        let mut due = Vec::new();
        while self.queue.front().is_some_and(|(at, _, _)| *at <= now) {
            let Some((_, id, notice)) = self.queue.pop_front() else {
                break;
            };
            if self.cancelled.remove(&id) {
                continue;
            }
            match &notice {
                Notice::MemberRemoved { channel, user_id } => {
                    self.members.remove(&(channel.clone(), user_id.clone()));
                }
                Notice::ChannelVacated { channel } => {
                    self.channels.remove(channel);
                }
                _ => {}
            }
            due.push((crate::session::now_ms(), notice));
        }
        due
    }
}

/// The JSON of one webhook event.
fn event_json(notice: &Notice) -> Value {
    match notice {
        Notice::ChannelOccupied { channel } => {
            json!({"name": "channel_occupied", "channel": channel})
        }
        Notice::ChannelVacated { channel } => {
            json!({"name": "channel_vacated", "channel": channel})
        }
        Notice::MemberAdded { channel, user_id } => {
            json!({"name": "member_added", "channel": channel, "user_id": user_id})
        }
        Notice::MemberRemoved { channel, user_id } => {
            json!({"name": "member_removed", "channel": channel, "user_id": user_id})
        }
        Notice::ClientEvent {
            channel,
            event,
            data,
            socket_id,
            user_id,
        } => {
            let mut value = json!({"name": "client_event", "channel": channel, "event": event,
                                   "data": data, "socket_id": socket_id});
            if let Some(user_id) = user_id {
                value["user_id"] = json!(user_id);
            }
            value
        }
        Notice::CacheMiss { channel } => json!({"name": "cache_miss", "channel": channel}),
        Notice::SubscriptionCount { channel, count } => {
            json!({"name": "subscription_count", "channel": channel, "subscription_count": count})
        }
    }
}

/// Hands each endpoint the events it subscribed to, as one body.
fn send_batch(endpoints: &[Endpoint], notices: &[(u64, Notice)], metrics: &WebhookMetrics) {
    for endpoint in endpoints {
        let events: Vec<Value> = notices
            .iter()
            .filter(|(_, n)| endpoint.events.contains(&n.kind()))
            .map(|(_, n)| event_json(n))
            .collect();
        if events.is_empty() {
            continue;
        }
        let time_ms = crate::session::now_ms();
        let body = json!({"time_ms": time_ms, "events": events}).to_string();
        if endpoint.batches.try_send(Bytes::from(body)).is_err() {
            metrics.dropped.increment(1);
            tracing::warn!("webhook endpoint is not keeping up: a batch was dropped");
        }
    }
}

/// Delivers one endpoint's batches in order, retrying each with exponential backoff.
async fn deliver(
    url: HttpUrl,
    key: String,
    secret: String,
    mut batches: mpsc::Receiver<Bytes>,
    shown: String,
    metrics: WebhookMetrics,
) {
    while let Some(body) = batches.recv().await {
        // The body is JSON built from strings, so it is valid UTF-8.
        let signature = sign::sign(&secret, &String::from_utf8_lossy(&body));
        let headers = [
            ("x-pusher-key", key.as_str()),
            ("x-pusher-signature", signature.as_str()),
        ];
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            let outcome = post(&url, &headers, body.clone()).await;
            let counter = if outcome.is_ok() {
                &metrics.delivered
            } else {
                &metrics.failed
            };
            counter.increment(1);
            match outcome {
                Ok(()) => break,
                Err(error) if attempt == ATTEMPTS => {
                    metrics.dropped.increment(1);
                    tracing::warn!(url = %shown, %error, "webhook dropped after {ATTEMPTS} attempts");
                }
                Err(error) => {
                    tracing::debug!(url = %shown, %error, attempt, "webhook attempt failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removed(channel: &str, user: &str) -> Notice {
        Notice::MemberRemoved {
            channel: ChannelName::parse(channel).unwrap(),
            user_id: ClientId::parse(user).unwrap(),
        }
    }

    fn added(channel: &str, user: &str) -> Notice {
        Notice::MemberAdded {
            channel: ChannelName::parse(channel).unwrap(),
            user_id: ClientId::parse(user).unwrap(),
        }
    }

    #[test]
    fn a_quick_return_cancels_both_removal_and_addition() {
        let mut pending = Pending::default();
        let now = Instant::now();
        assert!(
            pending
                .admit(1, removed("presence-a", "u"), now, 10)
                .is_none()
        );
        assert!(
            pending
                .admit(2, added("presence-a", "u"), now, 10)
                .is_none()
        );
        assert!(pending.take_due(now).is_empty());
        assert!(
            pending
                .admit(3, removed("presence-a", "v"), now, 10)
                .is_none()
        );
        let due = pending.take_due(now);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1, removed("presence-a", "v"));
        assert!(
            pending
                .admit(4, added("presence-a", "v"), now, 10)
                .is_some()
        );
    }

    #[test]
    fn past_the_bound_removals_are_sent_at_once() {
        let mut pending = Pending::default();
        let now = Instant::now();
        assert!(
            pending
                .admit(1, removed("presence-a", "u"), now, 1)
                .is_none()
        );
        assert!(
            pending
                .admit(2, removed("presence-a", "v"), now, 1)
                .is_some()
        );
    }
}

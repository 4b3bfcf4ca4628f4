//! Webhooks: what the hub and sessions report ([`Notice`]), and the per-app dispatcher that
//! delays, cancels, batches, signs and delivers them.
//!
//! Reporting never waits: notices go into a bounded queue with `try_send`, and a full queue
//! drops the notice (and logs it) rather than slow down a channel lock. Delivery happens on
//! separate tasks, one per endpoint, each with its own bounded queue of batches, so a dead
//! endpoint costs a few retries and some dropped batches, never the server's progress.

mod client;
mod dispatch;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rollcall_core::{ChannelName, ClientId, ConnectionId};
use tokio::sync::mpsc;

pub(crate) use client::HttpUrl;
pub(crate) use dispatch::run;

use crate::config::WebhookEvent;

/// A change an app's webhooks may want to hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A channel got its first subscriber.
    ChannelOccupied {
        /// The channel.
        channel: ChannelName,
    },
    /// A channel lost its last subscriber.
    ChannelVacated {
        /// The channel.
        channel: ChannelName,
    },
    /// A user's first connection entered the channel's presence.
    MemberAdded {
        /// The channel.
        channel: ChannelName,
        /// The user (client id).
        user_id: ClientId,
    },
    /// A user's last connection left the channel's presence.
    MemberRemoved {
        /// The channel.
        channel: ChannelName,
        /// The user (client id).
        user_id: ClientId,
    },
    /// A Pusher client sent a `client-` event.
    ClientEvent {
        /// The channel.
        channel: ChannelName,
        /// The event name.
        event: String,
        /// The event's data, as Pusher clients receive it.
        data: String,
        /// The sender.
        socket_id: ConnectionId,
        /// The sender's user id, on presence channels.
        user_id: Option<ClientId>,
    },
    /// A Pusher client subscribed to a cache channel with nothing cached.
    CacheMiss {
        /// The channel.
        channel: ChannelName,
    },
    /// A channel's subscriber count changed.
    SubscriptionCount {
        /// The channel.
        channel: ChannelName,
        /// The new count.
        count: usize,
    },
}

impl Notice {
    /// The webhook event type this notice becomes.
    #[must_use]
    pub fn kind(&self) -> WebhookEvent {
        match self {
            Self::ChannelOccupied { .. } => WebhookEvent::ChannelOccupied,
            Self::ChannelVacated { .. } => WebhookEvent::ChannelVacated,
            Self::MemberAdded { .. } => WebhookEvent::MemberAdded,
            Self::MemberRemoved { .. } => WebhookEvent::MemberRemoved,
            Self::ClientEvent { .. } => WebhookEvent::ClientEvent,
            Self::CacheMiss { .. } => WebhookEvent::CacheMiss,
            Self::SubscriptionCount { .. } => WebhookEvent::SubscriptionCount,
        }
    }
}

/// The reporting end of an app's notice queue.
#[derive(Debug, Clone)]
pub struct NoticeSender {
    tx: mpsc::Sender<(u64, Notice)>,
    dropped: Arc<AtomicU64>,
}

/// The dispatcher's end of an app's notice queue.
#[derive(Debug)]
pub struct NoticeReceiver {
    rx: mpsc::Receiver<(u64, Notice)>,
}

/// A queue of at most `capacity` notices.
#[must_use]
pub fn notice_queue(capacity: usize) -> (NoticeSender, NoticeReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        NoticeSender {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        },
        NoticeReceiver { rx },
    )
}

impl NoticeSender {
    /// How many notices were dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queues `notice`, stamped with the current time, or drops it when the queue is full.
    pub fn send(&self, notice: Notice) {
        if self
            .tx
            .try_send((crate::session::now_ms(), notice))
            .is_err()
        {
            // Log the first drop and then every 1000th, so a flood does not flood the log too.
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed);
            if dropped % 1000 == 0 {
                tracing::warn!(dropped = dropped + 1, "webhook queue full: notices dropped");
            }
        }
    }
}

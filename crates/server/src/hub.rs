//! Local fan-out: which connections subscribe to which channels, and the presence registry
//! beside them, sharded by channel.
//!
//! Each command runs under its channel's shard lock from start to finish: the registry change,
//! the sequence number, the encoding of the event (at most once per protocol present, see
//! [`crate::event`]), the push into every subscriber's queue and the answer to the requester. That is what makes the guarantees hold: a snapshot at
//! `seq` S is followed, in the requester's queue, by exactly the events S+1, S+2, …; and every
//! subscriber sees one channel's events in `seq` order. Pushing into a queue never blocks and
//! never does I/O, so the critical section stays short.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::ws::Utf8Bytes;
use parking_lot::Mutex;
use rollcall_core::{
    ChannelName, ClientId, ConnectionId, DataError, Member, MemberData, PresenceError, Registry,
    Transition,
};
use rollcall_proto::{AckResult, RequestId, ServerMessage};
use serde_json::value::RawValue;

use crate::event::{API_CONNECTION_ID, Event, Frames, Message, Protocol};
use crate::outbound::Outbound;
use crate::pusher;
use crate::telemetry::PresenceMetrics;
use crate::webhooks::{Notice, NoticeSender};

mod remote;

pub(crate) use remote::{Delivered, LocalChannel};

/// How many shards a hub has: enough that two cores rarely contend, few enough to stay small.
const SHARDS: usize = 64;

/// How many recent message ids a channel remembers for de-duplicating retried publishes.
const RECENT_MESSAGE_IDS: usize = 1024;

/// How long a cache channel remembers its last event: Pusher's documented 30 minutes.
const CACHE_TTL_MS: u64 = 30 * 60 * 1000;

/// Most cache channels one shard remembers; the oldest is forgotten past this, so the memory of
/// cache channels is bounded whatever names the HTTP API is given.
const CACHED_CHANNELS_PER_SHARD: usize = 1024;

/// Why the hub refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// The registry refused the change.
    #[error(transparent)]
    Presence(#[from] PresenceError),
    /// The new member data is not acceptable.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The connection already subscribes to the channel.
    #[error("already subscribed to this channel")]
    AlreadySubscribed,
    /// The connection does not subscribe to the channel.
    #[error("not subscribed to this channel: join or watch it first")]
    NotSubscribed,
    /// The shared engine (Redis) cannot be reached; nothing was changed.
    #[error("presence is unavailable: this node cannot reach Redis; retry shortly")]
    Unavailable,
}

/// The connection a command comes from.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// The connection.
    pub connection_id: ConnectionId,
    /// Its identity, if it has one.
    pub client_id: Option<&'a ClientId>,
    /// Its queue, where answers and events go.
    pub outbound: &'a Arc<Outbound>,
    /// The protocol it speaks, which decides how its events are encoded.
    pub protocol: Protocol,
    /// How the command is answered.
    pub answer: Answer<'a>,
}

/// How a command is answered: each protocol answers in its own words.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// A native request: ack it, echoing its id if it had one.
    Ack(Option<&'a RequestId>),
    /// A Pusher subscription: `pusher_internal:subscription_succeeded` (with the presence
    /// member list when it entered presence), then a cache channel's replay; nothing else is
    /// answered.
    Pusher,
    /// The server's own doing (cleanup after a disconnect): nobody to answer.
    Silent,
}

impl Requester<'_> {
    /// Acks the request, when it is a native one.
    pub(crate) fn ack(&self, result: Option<AckResult<'_>>) {
        if let Answer::Ack(id) = self.answer {
            let text = ServerMessage::Ack { id, result }.encode();
            self.outbound.push_reply(&Utf8Bytes::from(text));
        }
    }

    /// Answers a subscription (`join` when `entered`, `watch` otherwise) with the member list
    /// as it is at `seq`. Called under the channel's lock, so no event can come in between.
    fn subscribed<'m>(
        &self,
        channel: &ChannelName,
        seq: u64,
        members: impl Iterator<Item = &'m Member>,
        entered: bool,
    ) {
        match self.answer {
            Answer::Ack(_) => self.ack(Some(AckResult::Snapshot {
                channel,
                seq,
                members: members.collect(),
            })),
            Answer::Pusher => {
                let text = if entered {
                    pusher::encode::presence_succeeded(channel.as_str(), members)
                } else {
                    pusher::wire::subscription_succeeded(channel.as_str())
                };
                self.outbound.push_reply(&text);
            }
            Answer::Silent => {}
        }
    }
}

/// One subscriber of a channel.
#[derive(Debug, Clone)]
struct Subscriber {
    outbound: Arc<Outbound>,
    protocol: Protocol,
    /// Events at or below this sequence number are already in the subscriber's snapshot. Only
    /// events arriving from another engine (Redis) can be that old; locally it stays 0.
    from_seq: u64,
}

/// A cache channel's last event, encoded for Pusher.
#[derive(Debug, Clone)]
struct Cached {
    frame: Utf8Bytes,
    /// The raw payload, for `GET /channels/{name}?info=cache`.
    data: Arc<str>,
    stored_at: u64,
}

/// What `GET /apps/{id}/channels` reports per channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The channel.
    pub name: ChannelName,
    /// Connections subscribed to it (any protocol).
    pub subscription_count: usize,
    /// Distinct members (client ids / Pusher user ids).
    pub user_count: usize,
}

/// A hub's size, for the admin API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubTotals {
    /// Channels with at least one subscriber.
    pub channels: usize,
    /// Subscriptions (connection, channel) over all channels.
    pub subscriptions: usize,
    /// Members (client id, channel) over all channels.
    pub members: usize,
}

/// One page of a channel's members, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberPage {
    /// The channel's sequence number the page is current at.
    pub seq: u64,
    /// How many members the channel has in all.
    pub total: usize,
    /// The page, in client id order.
    pub members: Vec<Member>,
    /// Whether members after the last one of the page remain.
    pub more: bool,
}

impl MemberPage {
    /// Up to `limit` of `members` whose client id sorts after `after`, in client id order.
    pub(crate) fn of<'m>(
        seq: u64,
        members: impl Iterator<Item = &'m Member>,
        after: Option<&ClientId>,
        limit: usize,
    ) -> Self {
        let mut total = 0;
        let mut candidates: Vec<&Member> = members
            .inspect(|_| total += 1)
            .filter(|m| after.is_none_or(|after| m.client_id > *after))
            .collect();
        let more = candidates.len() > limit;
        if more {
            candidates.select_nth_unstable_by(limit, |a, b| a.client_id.cmp(&b.client_id));
            candidates.truncate(limit);
        }
        candidates.sort_unstable_by(|a, b| a.client_id.cmp(&b.client_id));
        Self {
            seq,
            total,
            members: candidates.into_iter().cloned().collect(),
            more,
        }
    }
}

/// A cache channel's remembered event, for the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheInfo {
    /// The event's payload.
    pub data: Arc<str>,
    /// Seconds it will still be remembered.
    pub ttl_s: u64,
}

/// What a hub is built with.
#[derive(Debug, Clone, Default)]
pub struct HubOptions {
    /// Most members a channel may have.
    pub max_members: usize,
    /// Send `pusher_internal:subscription_count` to Pusher subscribers of non-presence channels.
    pub subscription_count: bool,
    /// Channels with more subscribers than this get their count at most once per
    /// `subscription_count_interval_ms`; the changes in between are sent by
    /// [`Hub::flush_subscription_counts`].
    pub subscription_count_throttle_above: usize,
    /// The throttled channels' interval between counts, in ms. The defaults (0 and 0) send
    /// every count at once.
    pub subscription_count_interval_ms: u64,
    /// Where webhook-worthy changes are reported; `None` when the app has no webhooks.
    pub notices: Option<NoticeSender>,
    /// Counters of join / leave / update events (counting nothing by default).
    pub(crate) presence: PresenceMetrics,
}

/// The member data a `join` brings.
#[derive(Debug, Clone)]
pub enum JoinData {
    /// Replace the member's data (or start a new member with it).
    Replace(MemberData),
    /// Start a new member with this; an existing member keeps its data.
    Initial(MemberData),
    /// Start a new member with `{}`; an existing member keeps its data.
    Keep,
}

/// A message to publish.
#[derive(Debug, Clone, Copy)]
pub struct Publication<'a> {
    /// The payload, already serialized (once).
    pub data: &'a RawValue,
    /// Whether the sender receives it too.
    pub echo: bool,
    /// The sender's message id, for de-duplication.
    pub message_id: Option<&'a str>,
}

#[derive(Debug, Default)]
struct Shard {
    registry: Registry,
    channels: HashMap<ChannelName, ChannelState>,
    cache: HashMap<ChannelName, Cached>,
    /// Channels whose subscription count changed while throttled: the sweeper's work list, so it
    /// never scans every channel. Holds only channels present in `channels`.
    deferred_counts: HashSet<ChannelName>,
}

#[derive(Debug, Default)]
struct ChannelState {
    seq: u64,
    /// When a throttled subscription count may next be sent (Unix ms): one number per channel
    /// instead of a timer per channel.
    count_next_at: u64,
    subscribers: HashMap<ConnectionId, Subscriber>,
    recent_ids: RecentIds,
    /// The last events delivered from a shared engine, for subscribers whose snapshot is older
    /// than what was already delivered (see `remote.rs`). Always empty on the memory engine.
    recent: VecDeque<Arc<remote::Delivered>>,
    /// Acks waiting for their own event to come back from a shared engine (see
    /// `Hub::ack_in_order`), oldest first. Always empty on the memory engine.
    pending_acks: VecDeque<remote::ParkedAck>,
}

impl ChannelState {
    /// Sends `event` to every subscriber but `skip`, encoded at most once per protocol. A
    /// `lossy` event is skipped for subscribers whose queue is over half full.
    fn fan_out(&self, event: &Event<'_>, skip: Option<ConnectionId>, lossy: bool) {
        let mut frames = Frames::new(event);
        for (id, subscriber) in &self.subscribers {
            if Some(*id) == skip {
                continue;
            }
            if let Some(text) = frames.get(subscriber.protocol) {
                if lossy {
                    subscriber.outbound.push_lossy(text);
                } else {
                    subscriber.outbound.push(text);
                }
            }
        }
    }

    /// Sends `text` to the Pusher subscribers only.
    fn to_pusher(&self, text: &Utf8Bytes) {
        for subscriber in self.subscribers.values() {
            if subscriber.protocol == Protocol::Pusher {
                subscriber.outbound.push(text);
            }
        }
    }

    /// Turns a registry transition into one event, sent to every subscriber but `skip`.
    /// Returns the event's sequence number (the current one when nothing changed).
    fn emit(
        &mut self,
        channel: &ChannelName,
        transition: &Transition,
        now: u64,
        skip: Option<ConnectionId>,
    ) -> u64 {
        if *transition == Transition::Unchanged {
            return self.seq;
        }
        self.seq += 1;
        let event = Event::Presence {
            channel,
            seq: self.seq,
            ts: now,
            transition,
        };
        self.fan_out(&event, skip, false);
        self.seq
    }
}

/// Remembers the last [`RECENT_MESSAGE_IDS`] `(sender, message id)` pairs of a channel, with
/// the sequence number each was delivered at.
#[derive(Debug, Default)]
struct RecentIds {
    order: VecDeque<(String, String)>,
    seq_of: HashMap<(String, String), u64>,
}

impl RecentIds {
    fn get(&self, key: &(String, String)) -> Option<u64> {
        self.seq_of.get(key).copied()
    }

    fn insert(&mut self, key: (String, String), seq: u64) {
        if self.order.len() == RECENT_MESSAGE_IDS {
            if let Some(old) = self.order.pop_front() {
                self.seq_of.remove(&old);
            }
        }
        self.order.push_back(key.clone());
        self.seq_of.insert(key, seq);
    }
}

/// One app's channels.
#[derive(Debug)]
pub struct Hub {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    max_members: usize,
    subscription_count: bool,
    count_throttle_above: usize,
    count_interval_ms: u64,
    /// How many channels are in the shards' `deferred_counts`, so that the sweeper skips the
    /// shards' locks altogether when none is (the usual case).
    deferred_total: AtomicUsize,
    notices: Option<NoticeSender>,
    presence: PresenceMetrics,
}

impl Hub {
    /// An empty hub whose channels hold at most `max_members` members.
    #[must_use]
    pub fn new(max_members: usize) -> Self {
        Self::with_options(HubOptions {
            max_members,
            ..HubOptions::default()
        })
    }

    /// An empty hub with `options`.
    #[must_use]
    pub fn with_options(options: HubOptions) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            max_members: options.max_members,
            subscription_count: options.subscription_count,
            count_throttle_above: options.subscription_count_throttle_above,
            count_interval_ms: options.subscription_count_interval_ms,
            deferred_total: AtomicUsize::new(0),
            notices: options.notices,
            presence: options.presence,
        }
    }

    /// Reports a webhook-worthy change, without waiting (see [`NoticeSender::send`]).
    fn notify(&self, notice: impl FnOnce() -> Notice) {
        if let Some(notices) = &self.notices {
            notices.send(notice());
        }
    }

    /// Reports what a transition means for webhooks (and counts its event).
    fn notify_transition(&self, channel: &ChannelName, transition: &Transition) {
        self.presence.record(transition);
        match transition {
            Transition::Joined { member, .. } => self.notify(|| Notice::MemberAdded {
                channel: channel.clone(),
                user_id: member.client_id.clone(),
            }),
            Transition::Left { member, .. } => self.notify(|| Notice::MemberRemoved {
                channel: channel.clone(),
                user_id: member.client_id.clone(),
            }),
            Transition::Updated { .. } | Transition::Unchanged => {}
        }
    }

    /// Adds a subscriber, reporting `channel_occupied` when it is the first.
    fn add_subscriber(&self, state: &mut ChannelState, channel: &ChannelName, who: &Requester<'_>) {
        if state.subscribers.is_empty() {
            self.notify(|| Notice::ChannelOccupied {
                channel: channel.clone(),
            });
        }
        state.subscribers.insert(
            who.connection_id,
            Subscriber {
                outbound: who.outbound.clone(),
                protocol: who.protocol,
                from_seq: 0,
            },
        );
    }

    /// Tells Pusher subscribers the channel's new subscriber count, where the app asked for it
    /// (never on presence channels, which have member events instead). A channel over the
    /// throttle threshold gets a count at most once per interval, as on Pusher ("only sent every
    /// 30 seconds"); a change that comes sooner is put in `deferred`, and
    /// [`Self::flush_subscription_counts`] sends the count as it is then once the interval has
    /// passed, so the last change is never lost.
    fn count_changed(
        &self,
        state: &mut ChannelState,
        deferred: &mut HashSet<ChannelName>,
        channel: &ChannelName,
        now: u64,
    ) {
        if !self.subscription_count || pusher::channel::is_presence(channel) {
            return;
        }
        let throttled = state.subscribers.len() > self.count_throttle_above;
        if throttled && now < state.count_next_at {
            if !deferred.contains(channel) {
                deferred.insert(channel.clone());
                self.deferred_total.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        if deferred.remove(channel) {
            self.deferred_total.fetch_sub(1, Ordering::Relaxed);
        }
        self.send_count(state, channel, now);
    }

    /// Sends the channel's subscriber count to its Pusher subscribers (and the webhook), and
    /// starts its interval.
    fn send_count(&self, state: &mut ChannelState, channel: &ChannelName, now: u64) {
        let count = state.subscribers.len();
        state.to_pusher(&pusher::wire::subscription_count(channel.as_str(), count));
        state.count_next_at = now.saturating_add(self.count_interval_ms);
        self.notify(|| Notice::SubscriptionCount {
            channel: channel.clone(),
            count,
        });
    }

    /// Sends the subscription counts that throttling held back and whose interval has passed.
    /// The server calls it periodically for apps with subscription counts; it returns at once
    /// when nothing is held back, and otherwise visits only the held-back channels.
    pub fn flush_subscription_counts(&self, now: u64) {
        if self.deferred_total.load(Ordering::Relaxed) == 0 {
            return;
        }
        for shard in &*self.shards {
            let mut guard = shard.lock();
            let Shard {
                channels,
                deferred_counts,
                ..
            } = &mut *guard;
            deferred_counts.retain(|name| {
                let due = match channels.get_mut(name) {
                    Some(state) if now < state.count_next_at => return true,
                    Some(state) => Some(state),
                    None => None,
                };
                if let Some(state) = due {
                    self.send_count(state, name, now);
                }
                self.deferred_total.fetch_sub(1, Ordering::Relaxed);
                false
            });
        }
    }

    /// After a Pusher subscription to a cache channel: the remembered event, or
    /// `pusher:cache_miss`.
    fn replay_cache(
        &self,
        cache: &mut HashMap<ChannelName, Cached>,
        who: &Requester<'_>,
        channel: &ChannelName,
        now: u64,
    ) {
        if !matches!(who.answer, Answer::Pusher) || !pusher::channel::is_cache(channel.as_str()) {
            return;
        }
        match cache.get(channel) {
            Some(cached) if now < cached.stored_at + CACHE_TTL_MS => {
                who.outbound.push(&cached.frame);
            }
            _ => {
                cache.remove(channel);
                who.outbound
                    .push(&pusher::wire::cache_miss(channel.as_str()));
                self.notify(|| Notice::CacheMiss {
                    channel: channel.clone(),
                });
            }
        }
    }

    /// The most members a channel may have.
    #[must_use]
    pub(crate) fn max_members(&self) -> usize {
        self.max_members
    }

    fn shard(&self, channel: &ChannelName) -> &Mutex<Shard> {
        // The modulo keeps the index in range, so indexing cannot panic.
        let index = (self.hasher.hash_one(channel.as_str()) as usize) % SHARDS;
        &self.shards[index]
    }

    /// Subscribes the requester and enters `client` into the channel's presence; answers with
    /// the member list. `max_members`, when given, lowers the hub's member limit for this join
    /// (Pusher apps' `max_presence_members`).
    ///
    /// # Errors
    /// [`HubError::Presence`] (`AlreadyJoined`, `ChannelFull`).
    pub fn join(
        &self,
        who: Requester<'_>,
        client: &ClientId,
        channel: &ChannelName,
        data: JoinData,
        max_members: Option<usize>,
        now: u64,
    ) -> Result<(), HubError> {
        let mut guard = self.shard(channel).lock();
        let Shard {
            registry,
            channels,
            cache,
            deferred_counts,
        } = &mut *guard;
        let data = match data {
            JoinData::Replace(data) => Some(data),
            JoinData::Initial(data) => registry.member(channel, client).is_none().then_some(data),
            JoinData::Keep => None,
        };
        let limit = max_members.map_or(self.max_members, |m| m.min(self.max_members));
        let transition = registry.join(channel, who.connection_id, client, data, limit, now)?;
        let state = channels.entry(channel.clone()).or_default();
        let was_subscribed = state.subscribers.contains_key(&who.connection_id);
        self.add_subscriber(state, channel, &who);
        let seq = state.emit(channel, &transition, now, Some(who.connection_id));
        self.notify_transition(channel, &transition);
        who.subscribed(channel, seq, registry.members(channel), true);
        self.replay_cache(cache, &who, channel, now);
        if !was_subscribed {
            self.count_changed(state, deferred_counts, channel, now);
        }
        Ok(())
    }

    /// Subscribes the requester without entering presence; answers with the member list.
    ///
    /// # Errors
    /// [`HubError::AlreadySubscribed`].
    pub fn watch(
        &self,
        who: Requester<'_>,
        channel: &ChannelName,
        now: u64,
    ) -> Result<(), HubError> {
        let mut guard = self.shard(channel).lock();
        let Shard {
            registry,
            channels,
            cache,
            deferred_counts,
        } = &mut *guard;
        let state = channels.entry(channel.clone()).or_default();
        if state.subscribers.contains_key(&who.connection_id) {
            return Err(HubError::AlreadySubscribed);
        }
        self.add_subscriber(state, channel, &who);
        who.subscribed(channel, state.seq, registry.members(channel), false);
        self.replay_cache(cache, &who, channel, now);
        self.count_changed(state, deferred_counts, channel, now);
        Ok(())
    }

    /// Leaves the channel's presence (if joined) and unsubscribes.
    ///
    /// # Errors
    /// [`HubError::NotSubscribed`].
    pub fn leave(
        &self,
        who: Requester<'_>,
        channel: &ChannelName,
        now: u64,
    ) -> Result<(), HubError> {
        let mut guard = self.shard(channel).lock();
        let Shard {
            registry,
            channels,
            deferred_counts,
            ..
        } = &mut *guard;
        let state = channels
            .get_mut(channel)
            .filter(|s| s.subscribers.contains_key(&who.connection_id))
            .ok_or(HubError::NotSubscribed)?;
        state.subscribers.remove(&who.connection_id);
        match registry.leave(channel, who.connection_id, now) {
            Ok(transition) => {
                state.emit(channel, &transition, now, None);
                self.notify_transition(channel, &transition);
            }
            Err(PresenceError::NotJoined) => {}
            Err(other) => return Err(other.into()),
        }
        if state.subscribers.is_empty() {
            channels.remove(channel);
            // A vacated channel has nobody to tell its count to.
            if deferred_counts.remove(channel) {
                self.deferred_total.fetch_sub(1, Ordering::Relaxed);
            }
            self.notify(|| Notice::ChannelVacated {
                channel: channel.clone(),
            });
        } else {
            self.count_changed(state, deferred_counts, channel, now);
        }
        who.ack(None);
        Ok(())
    }

    /// Changes the requester's member data with `change`, given the current data.
    ///
    /// # Errors
    /// [`HubError::Presence`] (`NotJoined`) or [`HubError::Data`] from `change`.
    pub fn update(
        &self,
        who: Requester<'_>,
        channel: &ChannelName,
        change: impl FnOnce(&MemberData) -> Result<MemberData, DataError>,
        now: u64,
    ) -> Result<(), HubError> {
        let mut guard = self.shard(channel).lock();
        let Shard {
            registry, channels, ..
        } = &mut *guard;
        let current = registry
            .member_of(channel, who.connection_id)
            .ok_or(PresenceError::NotJoined)?;
        let data = change(&current.data)?;
        let transition = registry.update(channel, who.connection_id, data, now)?;
        let state = channels.get_mut(channel).ok_or(PresenceError::NotJoined)?;
        let changed = transition != Transition::Unchanged;
        self.presence.record(&transition);
        let seq = state.emit(channel, &transition, now, None);
        who.ack(Some(AckResult::Updated {
            channel,
            seq,
            changed,
        }));
        Ok(())
    }

    /// Acks with the member list, or with one member when `client` is given.
    pub fn members(&self, who: Requester<'_>, channel: &ChannelName, client: Option<&ClientId>) {
        let guard = self.shard(channel).lock();
        let seq = guard.channels.get(channel).map_or(0, |s| s.seq);
        let result = match client {
            Some(client) => AckResult::Member {
                channel,
                seq,
                member: guard.registry.member(channel, client),
            },
            None => AckResult::Snapshot {
                channel,
                seq,
                members: guard.registry.members(channel).collect(),
            },
        };
        who.ack(Some(result));
    }

    /// Acks with whether `client` is a member of the channel.
    pub fn is_present(&self, who: Requester<'_>, channel: &ChannelName, client: &ClientId) {
        let guard = self.shard(channel).lock();
        let present = guard.registry.member(channel, client).is_some();
        who.ack(Some(AckResult::Presence {
            channel,
            client_id: client,
            present,
        }));
    }

    /// Whether the connection has joined the channel.
    #[must_use]
    pub fn has_joined(&self, channel: &ChannelName, connection: ConnectionId) -> bool {
        self.shard(channel)
            .lock()
            .registry
            .member_of(channel, connection)
            .is_some()
    }

    /// Sends a sequenced message to every subscriber of the channel.
    ///
    /// # Errors
    /// [`HubError::NotSubscribed`].
    pub fn publish(
        &self,
        who: Requester<'_>,
        channel: &ChannelName,
        message: Publication<'_>,
        now: u64,
    ) -> Result<(), HubError> {
        let mut guard = self.shard(channel).lock();
        let Shard {
            registry, channels, ..
        } = &mut *guard;
        let state = channels
            .get_mut(channel)
            .filter(|s| s.subscribers.contains_key(&who.connection_id))
            .ok_or(HubError::NotSubscribed)?;
        let dedupe_key = message.message_id.map(|id| {
            let sender = who
                .client_id
                .map_or_else(|| who.connection_id.to_string(), |c| c.as_str().to_owned());
            (sender, id.to_owned())
        });
        if let Some(seq) = dedupe_key
            .as_ref()
            .and_then(|key| state.recent_ids.get(key))
        {
            who.ack(Some(AckResult::Duplicate {
                channel,
                seq,
                duplicate: true,
            }));
            return Ok(());
        }
        state.seq += 1;
        if let Some(key) = dedupe_key {
            state.recent_ids.insert(key, state.seq);
        }
        let event = Event::Message(Message {
            channel,
            seq: state.seq,
            ts: now,
            client_id: who.client_id,
            connection_id: who.connection_id,
            member: registry
                .member_of(channel, who.connection_id)
                .map(|m| &m.client_id),
            message_id: message.message_id,
            data: message.data,
        });
        let skip = (!message.echo).then_some(who.connection_id);
        state.fan_out(&event, skip, false);
        who.ack(Some(AckResult::Published {
            channel,
            seq: state.seq,
        }));
        Ok(())
    }

    /// Sends an unsequenced message to the subscribers of the channel that are keeping up.
    ///
    /// # Errors
    /// [`HubError::NotSubscribed`].
    pub fn ephemeral(
        &self,
        who: Requester<'_>,
        channel: &ChannelName,
        data: &RawValue,
        echo: bool,
        now: u64,
    ) -> Result<(), HubError> {
        let guard = self.shard(channel).lock();
        let state = guard
            .channels
            .get(channel)
            .filter(|s| s.subscribers.contains_key(&who.connection_id))
            .ok_or(HubError::NotSubscribed)?;
        let event = Event::Ephemeral(Message {
            channel,
            seq: 0,
            ts: now,
            client_id: who.client_id,
            connection_id: who.connection_id,
            member: guard
                .registry
                .member_of(channel, who.connection_id)
                .map(|m| &m.client_id),
            message_id: None,
            data,
        });
        let skip = (!echo).then_some(who.connection_id);
        state.fan_out(&event, skip, true);
        who.ack(None);
        Ok(())
    }

    /// Sends an event from the HTTP API (no sending connection) to every subscriber of the
    /// channel but `skip`, and remembers it when the channel is a cache channel. `payload` is
    /// the `{"event": name, "data": string}` envelope.
    pub fn trigger(
        &self,
        channel: &ChannelName,
        payload: &RawValue,
        skip: Option<ConnectionId>,
        now: u64,
    ) {
        let mut guard = self.shard(channel).lock();
        let Shard {
            channels, cache, ..
        } = &mut *guard;
        let state = channels.get_mut(channel);
        let seq = state.as_ref().map_or(0, |s| s.seq + 1);
        let event = Event::Message(Message {
            channel,
            seq,
            ts: now,
            client_id: None,
            connection_id: API_CONNECTION_ID,
            member: None,
            message_id: None,
            data: payload,
        });
        if let Some(state) = state {
            state.seq = seq;
            // `socket_id` exclusion is a Pusher feature. A native subscriber is never skipped:
            // it would see a gap in `seq`, and it has no ack to learn the number from.
            let skip = skip.filter(|id| {
                state
                    .subscribers
                    .get(id)
                    .is_some_and(|s| s.protocol == Protocol::Pusher)
            });
            state.fan_out(&event, skip, false);
        }
        if pusher::channel::is_cache(channel.as_str()) {
            if let Some(frame) = Frames::new(&event).get(Protocol::Pusher).cloned() {
                remember(cache, channel, frame, payload, now);
            }
        }
    }

    /// Every channel with at least one subscriber whose name starts with `prefix`.
    #[must_use]
    pub fn occupied_channels(&self, prefix: &str) -> Vec<ChannelInfo> {
        let mut found = Vec::new();
        for shard in &*self.shards {
            let shard = shard.lock();
            for (name, state) in &shard.channels {
                if name.as_str().starts_with(prefix) {
                    found.push(ChannelInfo {
                        name: name.clone(),
                        subscription_count: state.subscribers.len(),
                        user_count: shard.registry.member_count(name),
                    });
                }
            }
        }
        found
    }

    /// The channel's subscriber and member counts (zero when nobody subscribes).
    #[must_use]
    pub fn channel_info(&self, channel: &ChannelName) -> ChannelInfo {
        let shard = self.shard(channel).lock();
        ChannelInfo {
            name: channel.clone(),
            subscription_count: shard
                .channels
                .get(channel)
                .map_or(0, |s| s.subscribers.len()),
            user_count: shard.registry.member_count(channel),
        }
    }

    /// The cache channel's remembered event, if it has one that has not expired.
    #[must_use]
    pub fn cached(&self, channel: &ChannelName, now: u64) -> Option<CacheInfo> {
        let shard = self.shard(channel).lock();
        let cached = shard.cache.get(channel)?;
        let expires = cached.stored_at + CACHE_TTL_MS;
        (now < expires).then(|| CacheInfo {
            data: cached.data.clone(),
            ttl_s: (expires - now) / 1000,
        })
    }

    /// The client ids of the channel's members.
    #[must_use]
    pub fn member_ids(&self, channel: &ChannelName) -> Vec<ClientId> {
        let shard = self.shard(channel).lock();
        shard
            .registry
            .members(channel)
            .map(|m| m.client_id.clone())
            .collect()
    }

    /// How many channels have at least one subscriber.
    #[must_use]
    pub fn channel_count(&self) -> usize {
        self.shards.iter().map(|s| s.lock().channels.len()).sum()
    }

    /// Channels, subscriptions and members over the whole hub, one shard at a time (so the
    /// sums are not one instant's, which is fine for the admin API's statistics).
    #[must_use]
    pub fn totals(&self) -> HubTotals {
        let mut totals = HubTotals::default();
        for shard in &*self.shards {
            let shard = shard.lock();
            totals.channels += shard.channels.len();
            for (name, state) in &shard.channels {
                totals.subscriptions += state.subscribers.len();
                totals.members += shard.registry.member_count(name);
            }
        }
        totals
    }

    /// Up to `limit` members of the channel whose client id sorts after `after`, in client id
    /// order, with the channel's sequence number and member count: the admin API's paged
    /// member list. Linear in the channel's size under its lock, like a `members` request.
    #[must_use]
    pub fn member_page(
        &self,
        channel: &ChannelName,
        after: Option<&ClientId>,
        limit: usize,
    ) -> MemberPage {
        let shard = self.shard(channel).lock();
        let seq = shard.channels.get(channel).map_or(0, |s| s.seq);
        MemberPage::of(seq, shard.registry.members(channel), after, limit)
    }
}

/// Stores a cache channel's last event, forgetting expired and then the oldest entries so a
/// shard never holds more than [`CACHED_CHANNELS_PER_SHARD`].
fn remember(
    cache: &mut HashMap<ChannelName, Cached>,
    channel: &ChannelName,
    frame: Utf8Bytes,
    payload: &RawValue,
    now: u64,
) {
    if cache.len() >= CACHED_CHANNELS_PER_SHARD && !cache.contains_key(channel) {
        cache.retain(|_, c| now < c.stored_at + CACHE_TTL_MS);
        if cache.len() >= CACHED_CHANNELS_PER_SHARD {
            let oldest = cache
                .iter()
                .min_by_key(|(_, c)| c.stored_at)
                .map(|(name, _)| name.clone());
            if let Some(oldest) = oldest {
                cache.remove(&oldest);
            }
        }
    }
    let data = pusher::encode::split_envelope(payload).map_or_else(
        || payload.get().into(),
        |(_, d)| pusher::wire::data_text(d).into(),
    );
    cache.insert(
        channel.clone(),
        Cached {
            frame,
            data,
            stored_at: now,
        },
    );
}

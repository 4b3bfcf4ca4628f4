//! Local fan-out: which connections subscribe to which channels, and the presence registry
//! beside them, sharded by channel.
//!
//! Each command runs under its channel's shard lock from start to finish: the registry change,
//! the sequence number, the single encoding of the event, the push into every subscriber's
//! queue and the ack to the requester. That is what makes the guarantees hold: a snapshot at
//! `seq` S is followed, in the requester's queue, by exactly the events S+1, S+2, …; and every
//! subscriber sees one channel's events in `seq` order. Pushing into a queue never blocks and
//! never does I/O, so the critical section stays short.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use parking_lot::Mutex;
use rollcall_core::{
    ChannelName, ClientId, ConnectionId, DataError, MemberData, PresenceError, Registry, Transition,
};
use rollcall_proto::{AckResult, RequestId, ServerMessage};
use serde_json::value::RawValue;

use crate::outbound::Outbound;

/// How many shards a hub has: enough that two cores rarely contend, few enough to stay small.
const SHARDS: usize = 64;

/// How many recent message ids a channel remembers for de-duplicating retried publishes.
const RECENT_MESSAGE_IDS: usize = 1024;

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
}

/// The connection a command comes from.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// The connection.
    pub connection_id: ConnectionId,
    /// Its identity, if it has one.
    pub client_id: Option<&'a ClientId>,
    /// Its queue, where acks and events go.
    pub outbound: &'a Arc<Outbound>,
    /// Whether the command is answered.
    pub answer: Answer<'a>,
}

/// Whether a command gets an ack.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// A client's request: ack it, echoing its id if it had one.
    Ack(Option<&'a RequestId>),
    /// The server's own doing (cleanup after a disconnect): nobody to answer.
    Silent,
}

impl Requester<'_> {
    /// Acks the request, unless the command is the server's own.
    pub(crate) fn ack(&self, result: Option<AckResult<'_>>) {
        if let Answer::Ack(id) = self.answer {
            let text = ServerMessage::Ack { id, result }.encode();
            self.outbound.push(&Utf8Bytes::from(text));
        }
    }
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
}

#[derive(Debug, Default)]
struct ChannelState {
    seq: u64,
    subscribers: HashMap<ConnectionId, Arc<Outbound>>,
    recent_ids: RecentIds,
}

impl ChannelState {
    /// Sends `text` to every subscriber but `skip`.
    fn fan_out(&self, text: &Utf8Bytes, skip: Option<ConnectionId>) {
        for (id, outbound) in &self.subscribers {
            if Some(*id) != skip {
                outbound.push(text);
            }
        }
    }

    /// Turns a registry transition into one encoded event, sent to every subscriber but
    /// `skip`. Returns the event's sequence number (the current one when nothing changed).
    fn emit(
        &mut self,
        channel: &ChannelName,
        transition: &Transition,
        now: u64,
        skip: Option<ConnectionId>,
    ) -> u64 {
        let seq = self.seq + 1;
        let message = match transition {
            Transition::Joined {
                member,
                connection_id,
            } => ServerMessage::Join {
                channel,
                seq,
                ts: now,
                client_id: &member.client_id,
                connection_id: *connection_id,
                member,
            },
            Transition::Updated {
                member,
                connection_id,
                reason,
            } => ServerMessage::Update {
                channel,
                seq,
                ts: now,
                client_id: &member.client_id,
                connection_id: *connection_id,
                reason: *reason,
                member,
            },
            Transition::Left {
                member,
                connection_id,
            } => ServerMessage::Leave {
                channel,
                seq,
                ts: now,
                client_id: &member.client_id,
                connection_id: *connection_id,
                member,
            },
            Transition::Unchanged => return self.seq,
        };
        self.seq = seq;
        self.fan_out(&Utf8Bytes::from(message.encode()), skip);
        seq
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
}

impl Hub {
    /// An empty hub whose channels hold at most `max_members` members.
    #[must_use]
    pub fn new(max_members: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            max_members,
        }
    }

    fn shard(&self, channel: &ChannelName) -> &Mutex<Shard> {
        // The modulo keeps the index in range, so indexing cannot panic.
        let index = (self.hasher.hash_one(channel.as_str()) as usize) % SHARDS;
        &self.shards[index]
    }

    /// Subscribes the requester and enters `client` into the channel's presence; acks with the
    /// member list.
    ///
    /// # Errors
    /// [`HubError::Presence`] (`AlreadyJoined`, `ChannelFull`).
    pub fn join(
        &self,
        who: Requester<'_>,
        client: &ClientId,
        channel: &ChannelName,
        data: JoinData,
        now: u64,
    ) -> Result<(), HubError> {
        let mut guard = self.shard(channel).lock();
        let Shard { registry, channels } = &mut *guard;
        let data = match data {
            JoinData::Replace(data) => Some(data),
            JoinData::Initial(data) => registry.member(channel, client).is_none().then_some(data),
            JoinData::Keep => None,
        };
        let transition = registry.join(
            channel,
            who.connection_id,
            client,
            data,
            self.max_members,
            now,
        )?;
        let state = channels.entry(channel.clone()).or_default();
        state
            .subscribers
            .insert(who.connection_id, who.outbound.clone());
        let seq = state.emit(channel, &transition, now, Some(who.connection_id));
        who.ack(Some(AckResult::Snapshot {
            channel,
            seq,
            members: registry.members(channel).collect(),
        }));
        Ok(())
    }

    /// Subscribes the requester without entering presence; acks with the member list.
    ///
    /// # Errors
    /// [`HubError::AlreadySubscribed`].
    pub fn watch(&self, who: Requester<'_>, channel: &ChannelName) -> Result<(), HubError> {
        let mut guard = self.shard(channel).lock();
        let Shard { registry, channels } = &mut *guard;
        let state = channels.entry(channel.clone()).or_default();
        if state.subscribers.contains_key(&who.connection_id) {
            return Err(HubError::AlreadySubscribed);
        }
        state
            .subscribers
            .insert(who.connection_id, who.outbound.clone());
        who.ack(Some(AckResult::Snapshot {
            channel,
            seq: state.seq,
            members: registry.members(channel).collect(),
        }));
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
        let Shard { registry, channels } = &mut *guard;
        let state = channels
            .get_mut(channel)
            .filter(|s| s.subscribers.contains_key(&who.connection_id))
            .ok_or(HubError::NotSubscribed)?;
        state.subscribers.remove(&who.connection_id);
        match registry.leave(channel, who.connection_id, now) {
            Ok(transition) => {
                state.emit(channel, &transition, now, None);
            }
            Err(PresenceError::NotJoined) => {}
            Err(other) => return Err(other.into()),
        }
        if state.subscribers.is_empty() {
            channels.remove(channel);
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
        let Shard { registry, channels } = &mut *guard;
        let current = registry
            .member_of(channel, who.connection_id)
            .ok_or(PresenceError::NotJoined)?;
        let data = change(&current.data)?;
        let transition = registry.update(channel, who.connection_id, data, now)?;
        let state = channels.get_mut(channel).ok_or(PresenceError::NotJoined)?;
        let changed = transition != Transition::Unchanged;
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
        let state = guard
            .channels
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
        let text = ServerMessage::Message {
            channel,
            seq: state.seq,
            ts: now,
            client_id: who.client_id,
            connection_id: who.connection_id,
            message_id: message.message_id,
            data: message.data,
        }
        .encode();
        let skip = (!message.echo).then_some(who.connection_id);
        state.fan_out(&Utf8Bytes::from(text), skip);
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
        let text = Utf8Bytes::from(
            ServerMessage::Ephemeral {
                channel,
                ts: now,
                client_id: who.client_id,
                connection_id: who.connection_id,
                data,
            }
            .encode(),
        );
        for (id, outbound) in &state.subscribers {
            if echo || *id != who.connection_id {
                outbound.push_lossy(&text);
            }
        }
        who.ack(None);
        Ok(())
    }

    /// How many channels have at least one subscriber.
    #[must_use]
    pub fn channel_count(&self) -> usize {
        self.shards.iter().map(|s| s.lock().channels.len()).sum()
    }
}

//! The hub when presence lives in a shared engine (Redis): the engine decides and numbers every
//! change, and the hub only fans out, in sequence order, the events the engine sends back
//! ([`Hub::deliver`]), to the subscribers this node holds.
//!
//! A subscription's snapshot is taken by the engine at some `seq` while events travel
//! separately, so the two can cross: [`Hub::attach`] answers with the snapshot, then replays the
//! events already delivered past it, and marks the subscriber so that older events are never
//! sent to it. An ack whose request caused an event waits for that event ([`Hub::ack_in_order`]),
//! so it keeps its place in the stream. The hub's registry then holds only this node's own
//! connections: what the node re-registers if the engine loses its data.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use rollcall_core::{ChannelName, ClientId, ConnectionId, Member, MemberData, Transition};
use rollcall_proto::{AckResult, ServerMessage};
use tokio::sync::oneshot;

use super::{Answer, ChannelState, Hub, HubError, Requester, Shard, Subscriber};
use crate::cluster::wire::WireMessage;
use crate::event::{API_CONNECTION_ID, Event, Frames, Message, Protocol};
use crate::outbound::Outbound;
use crate::pusher;

/// How many delivered events a channel keeps for late snapshots. A snapshot is late by the
/// events published while its reply was on the way: a handful. A subscriber that needs more
/// sees a gap in `seq` and asks for the member list again, as after any gap.
const REPLAY: usize = 64;

/// An event as it arrived from the engine.
#[derive(Debug)]
pub(crate) enum Delivered {
    /// A presence change.
    Presence {
        /// Its sequence number.
        seq: u64,
        /// When it happened (Unix ms).
        ts: u64,
        /// What happened.
        transition: Transition,
    },
    /// A message; `seq` 0 for an ephemeral one.
    Message {
        /// Its sequence number (0: ephemeral).
        seq: u64,
        /// When it was sent (Unix ms).
        ts: u64,
        /// The sending connection.
        conn: ConnectionId,
        /// The rest of it.
        message: WireMessage,
    },
}

impl Delivered {
    fn seq(&self) -> u64 {
        match self {
            Self::Presence { seq, .. } | Self::Message { seq, .. } => *seq,
        }
    }

    fn event<'a>(&'a self, channel: &'a ChannelName) -> Event<'a> {
        match self {
            Self::Presence {
                seq,
                ts,
                transition,
            } => Event::Presence {
                channel,
                seq: *seq,
                ts: *ts,
                transition,
            },
            Self::Message {
                seq,
                ts,
                conn,
                message,
            } => {
                let message = Message {
                    channel,
                    seq: *seq,
                    ts: *ts,
                    client_id: message.client_id.as_ref(),
                    connection_id: *conn,
                    member: message.sender_member.as_ref(),
                    message_id: message.message_id.as_deref(),
                    data: &message.data,
                };
                if *seq == 0 {
                    Event::Ephemeral(message)
                } else {
                    Event::Message(message)
                }
            }
        }
    }

    /// Whether `subscriber` (connection `id`) must not get this event.
    fn skips(&self, id: ConnectionId, subscriber: &Subscriber) -> bool {
        if self.seq() != 0 && self.seq() <= subscriber.from_seq {
            return true;
        }
        match self {
            Self::Presence { .. } => false,
            Self::Message { message, .. } => {
                message.skip == Some(id)
                    && (!message.skip_pusher_only || subscriber.protocol == Protocol::Pusher)
            }
        }
    }
}

/// This node's part of a channel, for re-registering it with the engine.
#[derive(Debug, Clone)]
pub(crate) struct LocalChannel {
    /// The channel.
    pub(crate) channel: ChannelName,
    /// How many of this node's connections subscribe to it.
    pub(crate) subscribers: usize,
    /// The last sequence number this node delivered.
    pub(crate) seq: u64,
    /// This node's connections in its presence, with their member, data and when they joined.
    pub(crate) entries: Vec<(ConnectionId, ClientId, MemberData, u64)>,
}

impl Hub {
    /// Subscribes `who` with the member list the engine took at `seq`, then sends it what was
    /// delivered since. `joined` names the member it entered as, when it joined.
    ///
    /// # Errors
    /// [`HubError::AlreadySubscribed`] for a second `watch`.
    pub(crate) fn attach(
        &self,
        who: Requester<'_>,
        channel: &ChannelName,
        seq: u64,
        members: &[Member],
        joined: Option<&ClientId>,
        now: u64,
    ) -> Result<(), HubError> {
        let mut guard = self.shard(channel).lock();
        let Shard {
            registry,
            channels,
            cache,
            ..
        } = &mut *guard;
        let state = channels.entry(channel.clone()).or_default();
        if joined.is_none() && state.subscribers.contains_key(&who.connection_id) {
            return Err(HubError::AlreadySubscribed);
        }
        state.subscribers.insert(
            who.connection_id,
            Subscriber {
                outbound: who.outbound.clone(),
                protocol: who.protocol,
                from_seq: seq,
            },
        );
        who.subscribed(channel, seq, members.iter(), joined.is_some());
        for event in state.recent.iter().filter(|e| e.seq() > seq) {
            if let Some(text) = Frames::new(&event.event(channel)).get(who.protocol) {
                who.outbound.push(text);
            }
        }
        self.replay_cache(cache, &who, channel, now);
        if let Some(client) = joined {
            let data = members
                .iter()
                .find(|m| m.client_id == *client)
                .map(|m| m.data.clone());
            // The engine accepted the join; locally this only records it, so no limit applies.
            let _ = registry.join(channel, who.connection_id, client, data, usize::MAX, now);
        }
        Ok(())
    }

    /// Acks `who` with `result` once the event numbered `seq`, which its request caused, has
    /// been delivered here: the ack then takes the place in the stream it has on the memory
    /// engine (after the requester's own event, before any later one; `docs/protocol.md`,
    /// Ordering). Returns what resolves once the ack is sent when it had to wait; the caller
    /// waits for it before taking the connection's next request, so answers stay in request
    /// order.
    pub(crate) fn ack_in_order(
        &self,
        channel: &ChannelName,
        seq: u64,
        who: &Requester<'_>,
        result: AckResult<'_>,
    ) -> Option<oneshot::Receiver<()>> {
        let Answer::Ack(id) = who.answer else {
            return None;
        };
        let text = Utf8Bytes::from(
            ServerMessage::Ack {
                id,
                result: Some(result),
            }
            .encode(),
        );
        let mut guard = self.shard(channel).lock();
        match guard.channels.get_mut(channel) {
            Some(state) if state.seq < seq => {
                let (sent, done) = oneshot::channel();
                state.pending_acks.push_back(ParkedAck {
                    seq,
                    connection: who.connection_id,
                    outbound: who.outbound.clone(),
                    text,
                    sent,
                });
                Some(done)
            }
            _ => {
                who.outbound.push_reply(&text);
                None
            }
        }
    }

    /// Sends the connection's parked acks now, in order, whatever happened to their events.
    pub(crate) fn release_acks(&self, channel: &ChannelName, connection: ConnectionId) {
        let mut guard = self.shard(channel).lock();
        if let Some(state) = guard.channels.get_mut(channel) {
            release_acks_of(state, connection);
        }
    }

    /// Removes the subscriber and its presence entry. Returns `None` when it did not subscribe,
    /// otherwise the member it had joined as (with its data), if it had.
    pub(crate) fn detach(
        &self,
        channel: &ChannelName,
        connection: ConnectionId,
        now: u64,
    ) -> Option<Option<(ClientId, MemberData)>> {
        let mut guard = self.shard(channel).lock();
        let Shard {
            registry, channels, ..
        } = &mut *guard;
        let state = channels.get_mut(channel)?;
        state.subscribers.remove(&connection)?;
        release_acks_of(state, connection);
        if state.subscribers.is_empty() {
            channels.remove(channel);
        }
        let member = registry
            .member_of(channel, connection)
            .map(|m| (m.client_id.clone(), m.data.clone()));
        let _ = registry.leave(channel, connection, now);
        Some(member)
    }

    /// Whether the connection subscribes to the channel.
    #[must_use]
    pub(crate) fn is_subscribed(&self, channel: &ChannelName, connection: ConnectionId) -> bool {
        self.shard(channel)
            .lock()
            .channels
            .get(channel)
            .is_some_and(|s| s.subscribers.contains_key(&connection))
    }

    /// The member the connection joined the channel as, with its data as last known here.
    #[must_use]
    pub(crate) fn local_member(
        &self,
        channel: &ChannelName,
        connection: ConnectionId,
    ) -> Option<(ClientId, MemberData)> {
        self.shard(channel)
            .lock()
            .registry
            .member_of(channel, connection)
            .map(|m| (m.client_id.clone(), m.data.clone()))
    }

    /// Sends an event from the engine to this node's subscribers of the channel, unless it is
    /// one they already have (the engine's pub/sub can repeat itself after a reconnection).
    pub(crate) fn deliver(&self, channel: &ChannelName, event: Delivered, now: u64) {
        let mut guard = self.shard(channel).lock();
        let Shard {
            registry,
            channels,
            cache,
            ..
        } = &mut *guard;
        let Some(state) = channels.get_mut(channel) else {
            return;
        };
        let seq = event.seq();
        if seq != 0 {
            if seq <= state.seq {
                return;
            }
            state.seq = seq;
        }
        if let Delivered::Presence {
            transition: Transition::Updated { member, .. },
            ..
        } = &event
        {
            keep_local_data(registry, channel, member);
        }
        fan_out_delivered(state, channel, &event);
        while state.pending_acks.front().is_some_and(|ack| ack.seq <= seq) {
            if let Some(ack) = state.pending_acks.pop_front() {
                ack.send();
            }
        }
        // Only HTTP API events are remembered by cache channels, as on the memory engine.
        if let Delivered::Message { conn, message, .. } = &event {
            if *conn == API_CONNECTION_ID && pusher::channel::is_cache(channel.as_str()) {
                if let Some(frame) = Frames::new(&event.event(channel)).get(Protocol::Pusher) {
                    super::remember(cache, channel, frame.clone(), &message.data, now);
                }
            }
        }
        if seq != 0 {
            if state.recent.len() == REPLAY {
                state.recent.pop_front();
            }
            state.recent.push_back(Arc::new(event));
        }
    }

    /// This node's subscriptions and presence entries, channel by channel.
    #[must_use]
    pub(crate) fn local_channels(&self) -> Vec<LocalChannel> {
        let mut out = Vec::new();
        for shard in &*self.shards {
            let shard = shard.lock();
            for (name, state) in &shard.channels {
                out.push(LocalChannel {
                    channel: name.clone(),
                    subscribers: state.subscribers.len(),
                    seq: state.seq,
                    entries: shard
                        .registry
                        .members(name)
                        .flat_map(|m| {
                            m.connections.iter().map(|c| {
                                let client = m.client_id.clone();
                                (c.connection_id, client, m.data.clone(), c.joined_at)
                            })
                        })
                        .collect(),
                });
            }
        }
        out
    }
}

/// An ack waiting for its event.
#[derive(Debug)]
pub(crate) struct ParkedAck {
    seq: u64,
    connection: ConnectionId,
    outbound: Arc<Outbound>,
    text: Utf8Bytes,
    sent: oneshot::Sender<()>,
}

impl ParkedAck {
    fn send(self) {
        self.outbound.push_reply(&self.text);
        let _ = self.sent.send(());
    }
}

fn release_acks_of(state: &mut ChannelState, connection: ConnectionId) {
    let (mine, others): (VecDeque<ParkedAck>, VecDeque<ParkedAck>) =
        std::mem::take(&mut state.pending_acks)
            .into_iter()
            .partition(|ack| ack.connection == connection);
    state.pending_acks = others;
    for ack in mine {
        ParkedAck::send(ack);
    }
}

/// Another device's data change reaches this node as an event: the local entries of the same
/// member take it, so a re-registration would not bring back old data.
fn keep_local_data(registry: &mut rollcall_core::Registry, channel: &ChannelName, member: &Member) {
    let Some(local) = registry.member(channel, &member.client_id) else {
        return;
    };
    if local.data == member.data {
        return;
    }
    if let Some(conn) = local.connections.first().map(|c| c.connection_id) {
        let _ = registry.update(channel, conn, member.data.clone(), member.updated_at);
    }
}

fn fan_out_delivered(state: &ChannelState, channel: &ChannelName, event: &Delivered) {
    let view = event.event(channel);
    let mut frames = Frames::new(&view);
    let lossy = event.seq() == 0;
    for (id, subscriber) in &state.subscribers {
        if event.skips(*id, subscriber) {
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

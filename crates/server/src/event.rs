//! What the hub fans out, before any protocol has encoded it.
//!
//! The hub builds one [`Event`] per change and hands it to [`Frames`], which encodes it at most
//! once per protocol, and only for a protocol that has a subscriber in the channel. Each
//! protocol's encoder lives with that protocol (`rollcall_proto` for the native one,
//! [`crate::pusher::encode`] for Pusher); a protocol may render an event as nothing (Pusher has
//! no `update` event).

use axum::extract::ws::Utf8Bytes;
use rollcall_core::{ChannelName, ClientId, ConnectionId, Transition};
use rollcall_proto::ServerMessage;
use serde_json::value::RawValue;

/// The connection id that messages sent through the HTTP API carry on the native protocol.
/// Connection sequence numbers start at 1, so no connection ever has this id.
pub(crate) const API_CONNECTION_ID: ConnectionId = ConnectionId::new(0, 0);

/// Which wire protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// rollcall's own protocol (`/ws`, `docs/protocol.md`).
    Native,
    /// Pusher Channels protocol 7 (`/app/{key}`, `docs/pusher-compat.md`).
    Pusher,
}

/// A channel event, protocol-neutral.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event<'a> {
    /// A member joined, changed or left.
    Presence {
        /// The channel.
        channel: &'a ChannelName,
        /// The channel's sequence number of this event.
        seq: u64,
        /// Server time (Unix ms).
        ts: u64,
        /// What happened; never [`Transition::Unchanged`].
        transition: &'a Transition,
    },
    /// A sequenced message: a native `publish`, a Pusher client event or an HTTP API trigger.
    Message(Message<'a>),
    /// An unsequenced, droppable message (native `ephemeral`).
    Ephemeral(Message<'a>),
}

/// A message, as every protocol needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Message<'a> {
    /// The channel.
    pub(crate) channel: &'a ChannelName,
    /// The channel's sequence number (0 for ephemeral messages, which have none).
    pub(crate) seq: u64,
    /// Server time (Unix ms).
    pub(crate) ts: u64,
    /// The sender's client id, if it has one.
    pub(crate) client_id: Option<&'a ClientId>,
    /// The sender's connection ([`API_CONNECTION_ID`] for the HTTP API).
    pub(crate) connection_id: ConnectionId,
    /// The member the sender is in this channel, if it joined it: Pusher's `user_id`.
    pub(crate) member: Option<&'a ClientId>,
    /// The sender's message id.
    pub(crate) message_id: Option<&'a str>,
    /// The payload. Pusher events travel as `{"event": name, "data": payload}`; see
    /// `docs/pusher-compat.md`.
    pub(crate) data: &'a RawValue,
}

/// Encodes one event lazily, at most once per protocol.
#[derive(Debug)]
pub(crate) struct Frames<'a> {
    event: &'a Event<'a>,
    native: Option<Option<Utf8Bytes>>,
    pusher: Option<Option<Utf8Bytes>>,
}

impl<'a> Frames<'a> {
    /// Nothing encoded yet.
    #[must_use]
    pub(crate) fn new(event: &'a Event<'a>) -> Self {
        Self {
            event,
            native: None,
            pusher: None,
        }
    }

    /// The frame for `protocol`, encoding it on first use; `None` when the protocol has no
    /// rendering of this event.
    pub(crate) fn get(&mut self, protocol: Protocol) -> Option<&Utf8Bytes> {
        let event = self.event;
        match protocol {
            Protocol::Native => self.native.get_or_insert_with(|| encode_native(event)),
            Protocol::Pusher => self
                .pusher
                .get_or_insert_with(|| crate::pusher::encode::event(event)),
        }
        .as_ref()
    }
}

fn encode_native(event: &Event<'_>) -> Option<Utf8Bytes> {
    let message = match *event {
        Event::Presence {
            channel,
            seq,
            ts,
            transition,
        } => match transition {
            Transition::Joined {
                member,
                connection_id,
            } => ServerMessage::Join {
                channel,
                seq,
                ts,
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
                ts,
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
                ts,
                client_id: &member.client_id,
                connection_id: *connection_id,
                member,
            },
            Transition::Unchanged => return None,
        },
        Event::Message(m) => ServerMessage::Message {
            channel: m.channel,
            seq: m.seq,
            ts: m.ts,
            client_id: m.client_id,
            connection_id: m.connection_id,
            message_id: m.message_id,
            data: m.data,
        },
        Event::Ephemeral(m) => ServerMessage::Ephemeral {
            channel: m.channel,
            ts: m.ts,
            client_id: m.client_id,
            connection_id: m.connection_id,
            data: m.data,
        },
    };
    Some(Utf8Bytes::from(message.encode()))
}

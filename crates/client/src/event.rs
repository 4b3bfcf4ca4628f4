//! What the application is told: per-channel events and client-level events.

use rollcall_core::{ChannelName, ClientId, ConnectionId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ServerError;
use crate::invitation::Invitation;
use crate::member::{Member, UpdateReason};

/// Something that happened in a channel. Serialized (for logs and scripts) with an `event` tag:
/// `{"event":"member_joined","client_id":"ann",...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChannelEvent {
    /// A member entered the channel (its client's first connection).
    MemberJoined(Member),
    /// A member that stays present changed: its data, or its devices.
    MemberUpdated {
        /// The member as it now is.
        member: Member,
        /// The member as this client last saw it, when it did.
        previous: Option<Member>,
        /// What changed.
        reason: UpdateReason,
    },
    /// A member left the channel (its client's last connection). Carries the member as it was.
    MemberLeft(Member),
    /// A message published to the channel.
    Message(Message),
    /// An ephemeral message (typing, cursors): not sequenced, never stored.
    Ephemeral(Ephemeral),
    /// The local member view was replaced by a fresh list from the server, after the events
    /// that explain the difference (if any) were emitted.
    Resynced {
        /// Why a fresh list was needed.
        cause: ResyncCause,
        /// How many members the channel has now.
        members: usize,
    },
    /// This receiver fell behind and `missed` events were dropped. The member view (see
    /// [`Channel::members`](crate::Channel::members)) is still exact.
    Lagged {
        /// How many events were lost.
        missed: u64,
    },
    /// The server refused to subscribe this channel again after a reconnect (for example the
    /// token no longer grants it). No more events follow.
    Unsubscribed {
        /// The server's refusal.
        error: ServerError,
    },
}

/// Why the member view was refreshed from a full member list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResyncCause {
    /// The connection was lost and re-established; the channel was joined again.
    Reconnected,
    /// An event's sequence number showed that events were missed.
    Gap,
}

/// A message published to a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The channel.
    pub channel: ChannelName,
    /// The channel's sequence number of this message.
    pub seq: u64,
    /// Server time (Unix ms).
    pub ts: u64,
    /// The sender's client id, if it has one.
    pub client_id: Option<ClientId>,
    /// The sender's connection.
    pub connection_id: ConnectionId,
    /// The sender's message id, if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The payload.
    pub data: Value,
}

/// An ephemeral message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ephemeral {
    /// The channel.
    pub channel: ChannelName,
    /// Server time (Unix ms).
    pub ts: u64,
    /// The sender's client id, if it has one.
    pub client_id: Option<ClientId>,
    /// The sender's connection.
    pub connection_id: ConnectionId,
    /// The payload.
    pub data: Value,
}

/// Something that concerns the client rather than one channel.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientEvent {
    /// Someone invited this client to a channel; answer with
    /// [`Invitation::accept`] or [`Invitation::decline`].
    Invitation(Invitation),
    /// Someone answered an invitation this client sent.
    InvitationReply(InvitationReply),
    /// The server reported an error that answers no request (for example a frame it could not
    /// read, or the reason it is about to close the connection).
    ServerError(ServerError),
    /// This receiver fell behind and `missed` events were dropped.
    Lagged {
        /// How many events were lost.
        missed: u64,
    },
}

/// The answer to an invitation this client sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationReply {
    /// The invitation's id, as returned by [`Channel::invite`](crate::Channel::invite).
    pub invitation_id: String,
    /// The channel.
    pub channel: ChannelName,
    /// The invitee.
    pub client_id: ClientId,
    /// Whether the invitee accepted (and so joined the channel).
    pub accepted: bool,
    /// Server time (Unix ms).
    pub ts: u64,
}

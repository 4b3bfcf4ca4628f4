//! Server → client: every message the server sends, each encoded once.

use rollcall_core::{ChannelName, ClientId, ConnectionId, Member, UpdateReason};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::{ErrorCode, RequestId};

/// The limits a client should respect, announced in the `session` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LimitsInfo {
    /// Largest accepted frame, in bytes.
    pub max_frame_bytes: usize,
    /// Largest accepted member data (serialized JSON), in bytes.
    pub max_member_data_bytes: usize,
    /// Largest accepted message payload (serialized JSON), in bytes.
    pub max_message_bytes: usize,
    /// Most channels one connection may join or watch at once.
    pub max_channels_per_connection: usize,
}

/// The `result` of an `ack`, shaped by the request it answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AckResult<'a> {
    /// `join`, `watch`, `members` and an accepted `invite_reply`: the whole member list.
    Snapshot {
        /// The channel.
        channel: &'a ChannelName,
        /// The channel's sequence number that the list is current at.
        seq: u64,
        /// Every member, in no particular order.
        members: Vec<&'a Member>,
    },
    /// `members` with a `client_id`: one member, or `null`.
    Member {
        /// The channel.
        channel: &'a ChannelName,
        /// The channel's sequence number that the answer is current at.
        seq: u64,
        /// The member, if present.
        member: Option<&'a Member>,
    },
    /// `is_present`.
    Presence {
        /// The channel.
        channel: &'a ChannelName,
        /// The client id asked about.
        client_id: &'a ClientId,
        /// Whether it is a member.
        present: bool,
    },
    /// `update`: the sequence number of the `update` event it produced.
    Updated {
        /// The channel.
        channel: &'a ChannelName,
        /// The event's sequence number; when nothing changed, the channel's current one.
        seq: u64,
        /// False when the new data equalled the current data: no event was sent.
        changed: bool,
    },
    /// `publish`: the sequence number of the `message` event it produced.
    Published {
        /// The channel.
        channel: &'a ChannelName,
        /// The message's sequence number.
        seq: u64,
    },
    /// `publish` of a `message_id` this sender already used in this channel: nothing was
    /// delivered again.
    Duplicate {
        /// The channel.
        channel: &'a ChannelName,
        /// The sequence number the message was first delivered at.
        seq: u64,
        /// Always true.
        duplicate: bool,
    },
    /// `invite`.
    Invited {
        /// The invitation's id, which the reply will carry.
        invitation_id: &'a str,
        /// How many of the invitee's connections were sent the invitation.
        delivered: usize,
    },
}

/// Everything the server sends on the native protocol.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    /// The first message on every connection.
    Session {
        /// This connection's id, unique across the cluster.
        connection_id: ConnectionId,
        /// The connection's identity, when it has one.
        client_id: Option<&'a ClientId>,
        /// The server's version.
        server_version: &'a str,
        /// The protocol version.
        protocol_version: u32,
        /// How often the server pings.
        heartbeat_interval_ms: u64,
        /// How long the server waits for any frame before closing the connection.
        heartbeat_timeout_ms: u64,
        /// An opaque token for resuming this session later.
        resume_token: &'a str,
        /// Limits to respect.
        limits: LimitsInfo,
    },
    /// A request succeeded.
    Ack {
        /// The request's id, if it had one.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a RequestId>,
        /// What the request produced, if anything.
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<AckResult<'a>>,
    },
    /// A request failed, or the connection is about to close.
    Error {
        /// The request's id, if it had a readable one.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a RequestId>,
        /// The documented error code.
        code: ErrorCode,
        /// A human explanation.
        message: &'a str,
    },
    /// The server is shutting down: an `error` (`server_shutdown`, without `id`) that also says
    /// when to reconnect, so that clients spread their reconnections instead of all arriving
    /// at once.
    #[serde(rename = "error")]
    ShuttingDown {
        /// Always [`ErrorCode::ServerShutdown`].
        code: ErrorCode,
        /// A human explanation.
        message: &'a str,
        /// How long to wait before reconnecting, in milliseconds (random per connection).
        reconnect_after_ms: u64,
    },
    /// A member entered a channel (its client's first connection).
    Join {
        /// The channel.
        channel: &'a ChannelName,
        /// The channel's sequence number of this event.
        seq: u64,
        /// Server time of the event (Unix ms).
        ts: u64,
        /// The member's client id.
        client_id: &'a ClientId,
        /// The connection that entered.
        connection_id: ConnectionId,
        /// The member as it now is.
        member: &'a Member,
    },
    /// A member's data or connection list changed.
    Update {
        /// The channel.
        channel: &'a ChannelName,
        /// The channel's sequence number of this event.
        seq: u64,
        /// Server time of the event (Unix ms).
        ts: u64,
        /// The member's client id.
        client_id: &'a ClientId,
        /// The connection whose action caused the change.
        connection_id: ConnectionId,
        /// What changed.
        reason: UpdateReason,
        /// The member as it now is.
        member: &'a Member,
    },
    /// A member left a channel (its client's last connection).
    Leave {
        /// The channel.
        channel: &'a ChannelName,
        /// The channel's sequence number of this event.
        seq: u64,
        /// Server time of the event (Unix ms).
        ts: u64,
        /// The member's client id.
        client_id: &'a ClientId,
        /// The connection that left.
        connection_id: ConnectionId,
        /// The member as it was when it left.
        member: &'a Member,
    },
    /// A message published to a channel.
    Message {
        /// The channel.
        channel: &'a ChannelName,
        /// The channel's sequence number of this event.
        seq: u64,
        /// Server time of the event (Unix ms).
        ts: u64,
        /// The sender's client id, if it has one.
        client_id: Option<&'a ClientId>,
        /// The sender's connection.
        connection_id: ConnectionId,
        /// The sender's message id, if it gave one.
        #[serde(skip_serializing_if = "Option::is_none")]
        message_id: Option<&'a str>,
        /// The payload.
        data: &'a RawValue,
    },
    /// An ephemeral message: not sequenced, never stored.
    Ephemeral {
        /// The channel.
        channel: &'a ChannelName,
        /// Server time of the event (Unix ms).
        ts: u64,
        /// The sender's client id, if it has one.
        client_id: Option<&'a ClientId>,
        /// The sender's connection.
        connection_id: ConnectionId,
        /// The payload.
        data: &'a RawValue,
    },
    /// This client was invited to a channel.
    Invitation {
        /// Reply with this id.
        invitation_id: &'a str,
        /// The channel.
        channel: &'a ChannelName,
        /// Who invited.
        from: &'a ClientId,
        /// The inviter's connection.
        from_connection_id: ConnectionId,
        /// The inviter's note, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a Value>,
        /// Server time of the invitation (Unix ms).
        ts: u64,
        /// When the invitation lapses (Unix ms).
        expires_at: u64,
    },
    /// The invitee answered an invitation this connection sent.
    InvitationReply {
        /// The invitation's id.
        invitation_id: &'a str,
        /// The channel.
        channel: &'a ChannelName,
        /// The invitee.
        client_id: &'a ClientId,
        /// Whether the invitee accepted.
        accepted: bool,
        /// Server time of the reply (Unix ms).
        ts: u64,
    },
    /// The answer to a `ping` request.
    Pong {
        /// The request's id, if it had one.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a RequestId>,
    },
}

impl ServerMessage<'_> {
    /// Serializes the message. Called once per message, whatever the number of recipients.
    #[must_use]
    pub fn encode(&self) -> String {
        // Every field is a string, number, map-backed JSON value or already-valid raw JSON,
        // none of which can fail to serialize.
        #[allow(clippy::expect_used)]
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_core::{ConnectionEntry, MemberData};

    #[test]
    fn the_shutdown_error_carries_a_reconnect_hint() {
        let text = ServerMessage::ShuttingDown {
            code: ErrorCode::ServerShutdown,
            message: "bye",
            reconnect_after_ms: 1234,
        }
        .encode();
        assert_eq!(
            text,
            r#"{"type":"error","code":"server_shutdown","message":"bye","reconnect_after_ms":1234}"#
        );
    }

    #[test]
    fn events_encode_with_a_type_tag_and_raw_member_data() {
        let channel = ChannelName::parse("room").unwrap();
        let client = ClientId::parse("ann").unwrap();
        let conn = ConnectionId::new(1, 2);
        let member = Member {
            client_id: client.clone(),
            data: MemberData::from_value(&serde_json::json!({"n": 1}), 100).unwrap(),
            joined_at: 5,
            updated_at: 5,
            connections: vec![ConnectionEntry {
                connection_id: conn,
                joined_at: 5,
            }],
        };
        let text = ServerMessage::Join {
            channel: &channel,
            seq: 3,
            ts: 9,
            client_id: &client,
            connection_id: conn,
            member: &member,
        }
        .encode();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "type": "join", "channel": "room", "seq": 3, "ts": 9, "client_id": "ann",
                "connection_id": "1.2",
                "member": {"client_id": "ann", "data": {"n": 1}, "joined_at": 5, "updated_at": 5,
                           "connections": [{"connection_id": "1.2", "joined_at": 5}]}
            })
        );
    }
}

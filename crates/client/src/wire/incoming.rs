//! Server → client messages, decoded into owned types.

use rollcall_core::{ChannelName, ClientId, ConnectionId};
use serde::Deserialize;
use serde_json::Value;

use crate::event::{Ephemeral, InvitationReply, Message};
use crate::member::{Member, UpdateReason};
use crate::session::Session;

/// One server message. Types this SDK does not know decode as [`Incoming::Unknown`], so a newer
/// server can add messages without breaking older clients.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Incoming {
    Session(Session),
    Ack {
        #[serde(default)]
        id: Option<Value>,
        #[serde(default)]
        result: Option<Value>,
    },
    Error {
        #[serde(default)]
        id: Option<Value>,
        code: String,
        message: String,
        /// With `server_shutdown`: how long to wait before reconnecting.
        #[serde(default)]
        reconnect_after_ms: Option<u64>,
    },
    Join(MemberEvent),
    Update(MemberEvent),
    Leave(MemberEvent),
    Message(Message),
    Ephemeral(Ephemeral),
    Invitation(InvitationMessage),
    InvitationReply(InvitationReply),
    Pong {},
    #[serde(other)]
    Unknown,
}

/// A `join`, `update` or `leave` event.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MemberEvent {
    pub(crate) channel: ChannelName,
    pub(crate) seq: u64,
    #[serde(default)]
    pub(crate) reason: Option<UpdateReason>,
    pub(crate) member: Member,
}

/// An `invitation` addressed to this client.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct InvitationMessage {
    pub(crate) invitation_id: String,
    pub(crate) channel: ChannelName,
    pub(crate) from: ClientId,
    pub(crate) from_connection_id: ConnectionId,
    #[serde(default)]
    pub(crate) data: Option<Value>,
    pub(crate) ts: u64,
    pub(crate) expires_at: u64,
}

/// The `result` of an ack to `join`, `watch`, `members` and an accepted invitation.
#[derive(Debug, Deserialize)]
pub(crate) struct AckSnapshot {
    pub(crate) seq: u64,
    pub(crate) members: Vec<Member>,
}

/// Decodes one text frame.
pub(crate) fn decode(text: &str) -> Result<Incoming, serde_json::Error> {
    serde_json::from_str(text)
}

/// The numeric request id of an ack or error; the SDK only ever sends numbers.
pub(crate) fn request_id(id: Option<&Value>) -> Option<u64> {
    id.and_then(Value::as_u64)
}

impl Incoming {
    /// The id of the request this message answers, if it answers one.
    pub(crate) fn answers(&self) -> Option<u64> {
        match self {
            Self::Ack { id, .. } | Self::Error { id, .. } => request_id(id.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_server_messages_and_tolerates_new_ones() {
        let join = decode(
            r#"{"type":"join","channel":"room","seq":3,"ts":9,"client_id":"ann",
                "connection_id":"1.2","member":{"client_id":"ann","data":{"n":1},"joined_at":5,
                "updated_at":5,"connections":[{"connection_id":"1.2","joined_at":5}]}}"#,
        )
        .unwrap();
        let Incoming::Join(event) = join else {
            panic!("{join:?}")
        };
        assert_eq!(event.seq, 3);
        assert_eq!(event.member.data["n"], 1);
        assert!(matches!(
            decode(r#"{"type":"hologram","x":1}"#).unwrap(),
            Incoming::Unknown
        ));
        let error = decode(r#"{"type":"error","id":4,"code":"not_joined","message":"m"}"#).unwrap();
        assert_eq!(error.answers(), Some(4));
        assert!(decode(r#"{"type":"join","channel":"bad name"}"#).is_err());
    }
}

//! What successful requests return.

use serde::{Deserialize, Serialize};

/// A publish the server acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// The message id it was sent with.
    pub message_id: String,
    /// The message's sequence number in the channel (for a duplicate, that of its first
    /// delivery). `None` only from servers that do not report it for duplicates.
    pub seq: Option<u64>,
    /// True when the server recognised the message id and delivered nothing (a retry).
    pub duplicate: bool,
    /// How many times the message was sent.
    pub attempts: u32,
}

/// The answer to an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Updated {
    /// The sequence number of the `update` event, or the channel's current one if nothing
    /// changed.
    pub seq: u64,
    /// False when the new data equalled the old: no event was sent.
    pub changed: bool,
}

/// An invitation the server delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invited {
    /// The invitation's id; the reply event carries it.
    pub invitation_id: String,
    /// How many of the invitee's connections received it.
    pub delivered: usize,
}

/// Options of [`Channel::publish_with`](crate::Channel::publish_with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    /// Whether this connection receives its own message too. Default true.
    pub echo: bool,
    /// The message id; by default a random one. Reuse an id only to resend the same message.
    pub message_id: Option<String>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self {
            echo: true,
            message_id: None,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct PublishAck {
    #[serde(default)]
    pub(crate) seq: Option<u64>,
    #[serde(default)]
    pub(crate) duplicate: bool,
}

#[derive(Deserialize)]
pub(crate) struct PresenceAck {
    pub(crate) present: bool,
}

#[derive(Deserialize)]
pub(crate) struct MemberAck {
    pub(crate) member: Option<crate::member::Member>,
}

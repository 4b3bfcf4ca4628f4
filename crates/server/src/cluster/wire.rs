//! What travels between nodes: events on Redis pub/sub (JSON, written partly by the Lua scripts
//! and partly here), and the replies of the scripts.

use std::collections::HashMap;

use redis::Value;
use rollcall_core::{
    ClientId, ConnectionEntry, ConnectionId, Member, MemberData, Transition, UpdateReason,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// What an event on a channel's pub/sub channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// A member's first connection entered.
    Joined,
    /// A member's data or connections changed.
    Updated,
    /// A member's last connection left.
    Left,
    /// A sequenced message (native publish, Pusher client event, HTTP API trigger).
    Message,
    /// An unsequenced message.
    Ephemeral,
}

/// One event, as published by a node or a script.
#[derive(Debug, Deserialize)]
pub(crate) struct WireEvent {
    /// The channel's sequence number (0 for ephemeral messages).
    pub(crate) seq: u64,
    /// When it happened (Unix ms, the originating node's clock).
    pub(crate) ts: u64,
    /// What it is.
    pub(crate) kind: Kind,
    /// The connection that caused it.
    pub(crate) conn: ConnectionId,
    /// Why an updated member changed.
    #[serde(default)]
    pub(crate) reason: Option<UpdateReason>,
    /// The member, for presence events.
    #[serde(default)]
    pub(crate) member: Option<WireMember>,
    // A message's fields, inline: `RawValue` cannot go through `#[serde(flatten)]`.
    #[serde(default)]
    client_id: Option<ClientId>,
    #[serde(default)]
    sender_member: Option<ClientId>,
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    skip: Option<ConnectionId>,
    #[serde(default)]
    skip_pusher_only: bool,
    #[serde(default)]
    data: Option<Box<RawValue>>,
}

/// A member as the scripts write it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireMember {
    client_id: ClientId,
    data: Box<RawValue>,
    joined_at: u64,
    updated_at: u64,
    /// `conn=joined_at,...`, oldest first.
    conns: String,
}

/// The parts of a message event a node writes.
#[derive(Debug, Serialize)]
pub(crate) struct WireMessage {
    /// The sender's client id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<ClientId>,
    /// The member the sender is in the channel (Pusher's `user_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sender_member: Option<ClientId>,
    /// The sender's message id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message_id: Option<String>,
    /// A connection that must not receive it (the sender without echo, a REST `socket_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) skip: Option<ConnectionId>,
    /// Whether `skip` applies only when that connection speaks the Pusher protocol (REST
    /// `socket_id`, see `Hub::trigger`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) skip_pusher_only: bool,
    /// The payload.
    pub(crate) data: Box<RawValue>,
}

/// The fields of a message event the publishing node writes, as JSON without its opening
/// brace: the `PUBLISH` script prepends `{"seq":N,`. `ephemeral` messages are published whole,
/// with `seq` 0, by [`ephemeral_event`].
#[must_use]
pub(crate) fn message_body(
    ts: u64,
    kind: Kind,
    conn: ConnectionId,
    message: &WireMessage,
) -> String {
    #[derive(Serialize)]
    struct Head {
        ts: u64,
        kind: Kind,
        conn: ConnectionId,
    }
    // Two objects spliced into one (`RawValue` cannot go through `#[serde(flatten)]`).
    // Serializing plain fields and an already-valid RawValue cannot fail.
    let head = serde_json::to_string(&Head { ts, kind, conn }).unwrap_or_default();
    let rest = serde_json::to_string(message).unwrap_or_default();
    let head = head.trim_start_matches('{').trim_end_matches('}');
    format!("{head},{}", rest.trim_start_matches('{'))
}

/// A whole ephemeral event.
#[must_use]
pub(crate) fn ephemeral_event(ts: u64, conn: ConnectionId, message: &WireMessage) -> String {
    format!(
        "{{\"seq\":0,{}",
        message_body(ts, Kind::Ephemeral, conn, message)
    )
}

impl WireMember {
    /// The member as the registry would hold it.
    pub(crate) fn into_member(self) -> Option<Member> {
        Some(Member {
            client_id: self.client_id,
            data: MemberData::from_json(self.data.get()).ok()?,
            joined_at: self.joined_at,
            updated_at: self.updated_at,
            connections: parse_connections(&self.conns),
        })
    }
}

impl WireEvent {
    /// The message a message event carries.
    pub(crate) fn into_message(self) -> Option<WireMessage> {
        Some(WireMessage {
            client_id: self.client_id,
            sender_member: self.sender_member,
            message_id: self.message_id,
            skip: self.skip,
            skip_pusher_only: self.skip_pusher_only,
            data: self.data?,
        })
    }

    /// The registry transition a presence event stands for.
    pub(crate) fn transition(self) -> Option<Transition> {
        let member = self.member?.into_member()?;
        let connection_id = self.conn;
        Some(match self.kind {
            Kind::Joined => Transition::Joined {
                member,
                connection_id,
            },
            Kind::Updated => Transition::Updated {
                member,
                connection_id,
                reason: self.reason.unwrap_or(UpdateReason::Data),
            },
            Kind::Left => Transition::Left {
                member,
                connection_id,
            },
            Kind::Message | Kind::Ephemeral => return None,
        })
    }
}

fn parse_connections(text: &str) -> Vec<ConnectionEntry> {
    text.split(',')
        .filter_map(|item| {
            let (conn, joined_at) = item.split_once('=')?;
            Some(ConnectionEntry {
                connection_id: conn.parse().ok()?,
                joined_at: joined_at.parse().ok()?,
            })
        })
        .collect()
}

/// A script reply's element as text.
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A script reply's element as a number.
pub(crate) fn int(value: &Value) -> u64 {
    match value {
        Value::Int(n) => u64::try_from(*n).unwrap_or(0),
        other => text(other).and_then(|t| t.parse().ok()).unwrap_or(0),
    }
}

/// A script reply's element as a list of texts.
pub(crate) fn texts(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

/// The member list from a snapshot's three `HGETALL` replies (data, times, connections), in
/// no particular order. Entries that do not parse are left out rather than failing the list.
pub(crate) fn members(data: &Value, times: &Value, conns: &Value) -> Vec<Member> {
    let pairs = |v: &Value| -> HashMap<String, String> {
        let flat = texts(v);
        flat.chunks_exact(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect()
    };
    let times = pairs(times);
    let conns = pairs(conns);
    texts(data)
        .chunks_exact(2)
        .filter_map(|pair| {
            let client_id = ClientId::parse(&pair[0]).ok()?;
            let (joined_at, updated_at) = times.get(&pair[0])?.split_once(':')?;
            Some(Member {
                client_id,
                data: MemberData::from_json(&pair[1]).ok()?,
                joined_at: joined_at.parse().ok()?,
                updated_at: updated_at.parse().ok()?,
                connections: parse_connections(conns.get(&pair[0]).map_or("", String::as_str)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_body_completes_the_scripts_prefix_into_one_event() {
        let message = WireMessage {
            client_id: Some(ClientId::parse("ada").unwrap_or_else(|_| unreachable!())),
            sender_member: None,
            message_id: Some("m1".into()),
            skip: None,
            skip_pusher_only: false,
            data: RawValue::from_string(r#"{"x":1}"#.into()).unwrap_or_else(|_| unreachable!()),
        };
        let conn = ConnectionId::new(7, 3);
        let text = format!(
            "{{\"seq\":5,{}",
            message_body(9, Kind::Message, conn, &message)
        );
        let event: WireEvent =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(
            (event.seq, event.ts, event.kind, event.conn),
            (5, 9, Kind::Message, conn)
        );
        let message = event.into_message().unwrap_or_else(|| unreachable!());
        assert_eq!(message.message_id.as_deref(), Some("m1"));
        assert_eq!(message.data.get(), r#"{"x":1}"#);
        let whole: WireEvent = serde_json::from_str(&ephemeral_event(9, conn, &message))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((whole.seq, whole.kind), (0, Kind::Ephemeral));
    }

    #[test]
    fn connection_lists_parse_in_order() {
        let list = parse_connections("1.2=10,3.4=20");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].connection_id, ConnectionId::new(1, 2));
        assert_eq!(list[1].joined_at, 20);
        assert!(parse_connections("").is_empty());
    }
}

//! Renders the hub's protocol-neutral events as Pusher frames (or as nothing).
//!
//! The mapping (`docs/pusher-compat.md` has the full table):
//! - a member's first connection in (`Joined`) → `pusher_internal:member_added`, its last out
//!   (`Left`) → `pusher_internal:member_removed`, on `presence-` channels only; `Updated` (a
//!   second device, a data change) → nothing, because Pusher has no such event;
//! - a message whose payload is `{"event": E, "data": D}` → event `E` with data `D`; any other
//!   payload → event `message` (or `ephemeral`) with the whole payload as data;
//! - member data `{"pusher_user_info": V}` → `user_info` `V` (how a non-object `user_info` is
//!   kept in rollcall's object-only member data); any other member data → itself.

use std::collections::BTreeMap;

use axum::extract::ws::Utf8Bytes;
use rollcall_core::{Member, MemberData, Transition};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::channel::is_presence;
use super::wire::{data_text, frame, frame_with_text};
use crate::event::{Event, Message};

/// The member-data key that holds a Pusher `user_info` that is not a JSON object.
pub(crate) const USER_INFO_KEY: &str = "pusher_user_info";

/// Event names a message may not take on its way to Pusher clients: those are the protocol's.
fn is_reserved(name: &str) -> bool {
    name.starts_with("pusher:") || name.starts_with("pusher_internal:")
}

/// Longest event name, as Pusher limits it.
pub(crate) const MAX_EVENT_NAME_LEN: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Splits a message payload into a Pusher event name and data, when it is an envelope
/// `{"event": name, "data": payload}` with an acceptable name.
pub(crate) fn split_envelope(payload: &RawValue) -> Option<(&str, &RawValue)> {
    let envelope: Envelope<'_> = serde_json::from_str(payload.get()).ok()?;
    let ok = !envelope.event.is_empty()
        && envelope.event.len() <= MAX_EVENT_NAME_LEN
        && !is_reserved(envelope.event);
    ok.then_some((envelope.event, envelope.data))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wrapped<'a> {
    #[serde(borrow)]
    pusher_user_info: &'a RawValue,
}

/// The `user_info` Pusher clients see for member data.
pub(crate) fn user_info(data: &MemberData) -> &RawValue {
    let raw: &RawValue = serde_json::from_str(data.as_json()).unwrap_or_else(|_| empty_object());
    match serde_json::from_str::<Wrapped<'_>>(data.as_json()) {
        Ok(wrapped) => wrapped.pusher_user_info,
        Err(_) => raw,
    }
}

fn empty_object() -> &'static RawValue {
    // A literal `{}` is valid JSON.
    #[allow(clippy::expect_used)]
    serde_json::from_str("{}").expect("`{}` is JSON")
}

/// Renders `event` for Pusher subscribers; `None` when Pusher has no such event.
pub(crate) fn event(event: &Event<'_>) -> Option<Utf8Bytes> {
    match *event {
        Event::Presence {
            channel,
            transition,
            ..
        } => {
            if !is_presence(channel) {
                return None;
            }
            match transition {
                Transition::Joined { member, .. } => Some(member_added(channel.as_str(), member)),
                Transition::Left { member, .. } => {
                    #[derive(Serialize)]
                    struct Removed<'a> {
                        user_id: &'a str,
                    }
                    Some(frame(
                        "pusher_internal:member_removed",
                        Some(channel.as_str()),
                        &Removed {
                            user_id: member.client_id.as_str(),
                        },
                    ))
                }
                Transition::Updated { .. } | Transition::Unchanged => None,
            }
        }
        Event::Message(m) => Some(message(&m, "message")),
        Event::Ephemeral(m) => Some(message(&m, "ephemeral")),
    }
}

fn member_added(channel: &str, member: &Member) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Added<'a> {
        user_id: &'a str,
        user_info: &'a RawValue,
    }
    frame(
        "pusher_internal:member_added",
        Some(channel),
        &Added {
            user_id: member.client_id.as_str(),
            user_info: user_info(&member.data),
        },
    )
}

fn message(m: &Message<'_>, default_name: &str) -> Utf8Bytes {
    let (name, payload) = split_envelope(m.data).unwrap_or((default_name, m.data));
    // Pusher adds the sender's `user_id` to events on presence channels only.
    let user_id = m
        .member
        .filter(|_| is_presence(m.channel))
        .map(rollcall_core::ClientId::as_str);
    frame_with_text(name, Some(m.channel.as_str()), &data_text(payload), user_id)
}

/// `pusher_internal:subscription_succeeded` for a presence channel, with every member
/// (including the subscriber, who has already entered).
pub(crate) fn presence_succeeded<'m>(
    channel: &str,
    members: impl Iterator<Item = &'m Member>,
) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Presence<'a> {
        ids: Vec<&'a str>,
        hash: BTreeMap<&'a str, &'a RawValue>,
        count: usize,
    }
    #[derive(Serialize)]
    struct Data<'a> {
        presence: Presence<'a>,
    }
    let hash: BTreeMap<&str, &RawValue> = members
        .map(|m| (m.client_id.as_str(), user_info(&m.data)))
        .collect();
    let presence = Presence {
        ids: hash.keys().copied().collect(),
        count: hash.len(),
        hash,
    };
    frame(
        "pusher_internal:subscription_succeeded",
        Some(channel),
        &Data { presence },
    )
}

#[cfg(test)]
mod tests {
    use rollcall_core::{ChannelName, ClientId, ConnectionEntry, ConnectionId};
    use serde_json::json;

    use super::*;

    fn member(id: &str, data: &serde_json::Value) -> Member {
        Member {
            client_id: ClientId::parse(id).unwrap(),
            data: MemberData::from_value(data, 1000).unwrap(),
            joined_at: 1,
            updated_at: 1,
            connections: vec![ConnectionEntry {
                connection_id: ConnectionId::new(1, 1),
                joined_at: 1,
            }],
        }
    }

    fn parse(frame: &Utf8Bytes) -> serde_json::Value {
        let mut v: serde_json::Value = serde_json::from_str(frame.as_str()).unwrap();
        if let Some(text) = v["data"].as_str() {
            v["data"] = serde_json::from_str(text).unwrap_or(json!(text));
        }
        v
    }

    #[test]
    fn joined_and_left_render_only_on_presence_channels() {
        let presence = ChannelName::parse("presence-x").unwrap();
        let public = ChannelName::parse("x").unwrap();
        let ann = member("ann", &json!({"pusher_user_info": true}));
        let joined = Transition::Joined {
            member: ann.clone(),
            connection_id: ConnectionId::new(1, 1),
        };
        let at = |channel| Event::Presence {
            channel,
            seq: 1,
            ts: 1,
            transition: &joined,
        };
        let frame = event(&at(&presence)).unwrap();
        assert_eq!(
            parse(&frame),
            json!({"event": "pusher_internal:member_added", "channel": "presence-x",
                   "data": {"user_id": "ann", "user_info": true}})
        );
        assert!(event(&at(&public)).is_none());
        let updated = Transition::Updated {
            member: ann,
            connection_id: ConnectionId::new(1, 2),
            reason: rollcall_core::UpdateReason::ConnectionAdded,
        };
        let update = Event::Presence {
            channel: &presence,
            seq: 2,
            ts: 1,
            transition: &updated,
        };
        assert!(event(&update).is_none());
    }

    #[test]
    fn envelopes_become_event_names_and_other_payloads_are_messages() {
        let channel = ChannelName::parse("presence-x").unwrap();
        let ann = ClientId::parse("ann").unwrap();
        let render = |payload: &str| {
            let data = RawValue::from_string(payload.into()).unwrap();
            let m = Message {
                channel: &channel,
                seq: 1,
                ts: 1,
                client_id: Some(&ann),
                connection_id: ConnectionId::new(1, 1),
                member: Some(&ann),
                message_id: None,
                data: &data,
            };
            parse(&event(&Event::Message(m)).unwrap())
        };
        assert_eq!(
            render(r#"{"event":"client-typing","data":{"a":1}}"#),
            json!({"event": "client-typing", "channel": "presence-x", "data": {"a": 1}, "user_id": "ann"})
        );
        assert_eq!(
            render(r#"{"text":"hi"}"#),
            json!({"event": "message", "channel": "presence-x", "data": {"text": "hi"}, "user_id": "ann"})
        );
        assert_eq!(
            render(r#"{"event":"pusher:error","data":1}"#)["event"],
            "message"
        );
    }

    #[test]
    fn presence_snapshots_list_every_member_once_with_a_matching_count() {
        let members = [member("b", &json!({"n": 2})), member("a", &json!({}))];
        let frame = presence_succeeded("presence-x", members.iter());
        assert_eq!(
            parse(&frame)["data"],
            json!({"presence": {"ids": ["a", "b"], "hash": {"a": {}, "b": {"n": 2}}, "count": 2}})
        );
    }
}

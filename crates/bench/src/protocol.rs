//! What the generator's clients say and hear, per wire protocol.
//!
//! The scenarios speak in terms of [`ProtocolKind`]'s methods (join, watch, leave, publish;
//! [`Incoming`] events), never in JSON, so a second protocol is one more `match` arm in each.
//!
//! How the Pusher protocol (version 7) maps onto the scenarios' notions:
//!
//! | scenario notion | Pusher |
//! |---|---|
//! | connection accepted | `pusher:connection_established` (its `socket_id` is signed into subscriptions) |
//! | join with `{"t"}` | `pusher:subscribe` to a `presence-` channel, `channel_data` `{"user_id", "user_info": {"t"}}`, signed with the app secret |
//! | watch | `pusher:subscribe` (public: no auth; `private-`: signed; `presence-`: a join with empty `user_info`) |
//! | leave | `pusher:unsubscribe` (never acknowledged) |
//! | ack with snapshot | `pusher_internal:subscription_succeeded`; `presence.count` members, `presence.ids` |
//! | error | `pusher:subscription_error`, `pusher:error` |
//! | join / leave event | `pusher_internal:member_added` / `member_removed` (`user_id`; the stamp in `user_info`) |
//! | update event | none: Pusher member events are per user, and a user's second connection is silent |
//! | message | any other event; `data` (a JSON string, or an object) holds `{"n","t","p"}` |
//! | publish | HTTP API `POST /apps/{id}/events` ([`pusher_event_body`]), or a `client-bench` event |
//!
//! Pusher frames carry neither request ids nor sequence numbers. A client has one request in
//! flight at a time, so the next answer is its answer ([`ProtocolKind::answers`]); and since a
//! server sends a channel's events after its subscription snapshot, on one connection, in order,
//! the snapshot is given sequence 0 and every later member event sequence 1 ("after it").
//! `pusher:ping` is answered with `pusher:pong` by [`crate::conn::Conn`] and never reaches a
//! scenario.
//!
//! Decoding borrows from the frame and skips unneeded fields: at 200k deliveries/s the
//! generator must stay much cheaper than the server it measures.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::args::ProtocolKind;
use crate::pusher::Signer;

/// A frame from the server, reduced to what the scenarios measure.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming<'a> {
    /// The connection was accepted.
    Session,
    /// A request succeeded.
    Ack {
        /// The request's id.
        id: Option<u64>,
        /// The channel sequence number in the result (snapshot or publish).
        seq: Option<u64>,
        /// How many members the result's snapshot lists, if it has one.
        members: Option<usize>,
    },
    /// A request (or the connection) failed.
    Error {
        /// The request's id, when the error answers one.
        id: Option<u64>,
        /// The error code.
        code: Cow<'a, str>,
    },
    /// A member entered a channel.
    Join {
        /// The event's sequence number.
        seq: u64,
        /// Who joined.
        client_id: Cow<'a, str>,
        /// The `t` (Unix µs) the joiner put in its member data, if any.
        stamp: Option<u64>,
    },
    /// A member left a channel.
    Leave {
        /// The event's sequence number.
        seq: u64,
        /// Who left.
        client_id: Cow<'a, str>,
    },
    /// A member that stays present changed (data or connections).
    Update {
        /// The event's sequence number.
        seq: u64,
    },
    /// A published message.
    Message {
        /// The event's sequence number.
        seq: u64,
        /// The publisher's counter `n`, if the payload has one.
        n: Option<u64>,
        /// The publisher's send time `t` (Unix µs), if the payload has one.
        stamp: Option<u64>,
    },
    /// A Pusher `pusher:ping`, which must be answered with `pusher:pong`.
    Ping,
    /// Anything else (pongs, invitations, frames of other publishers, undecodable frames).
    Other,
}

/// A request of a scenario, before it is put into a protocol's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// Enter `channel` with member data `{"t": stamp_us}` (Pusher: `user_info`), so that
    /// whoever sees the join can tell how long it took to become visible.
    Join {
        /// The channel.
        channel: String,
        /// When the request was made, Unix µs.
        stamp_us: u64,
    },
    /// Subscribe to `channel` without entering presence. Pusher has no such thing on a presence
    /// channel: there, watching is joining with empty `user_info`.
    Watch {
        /// The channel.
        channel: String,
    },
    /// Leave (Pusher: unsubscribe from) `channel`.
    Leave {
        /// The channel.
        channel: String,
    },
}

/// Who sends a request: what Pusher's signed subscriptions need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Me<'a> {
    /// This client's id (Pusher: the presence `user_id`).
    pub(crate) user_id: &'a str,
    /// The connection's id (Pusher: `socket_id` from `pusher:connection_established`).
    pub(crate) socket_id: &'a str,
    /// The app's credentials.
    pub(crate) signer: &'a Signer,
}

/// The event name of the generator's messages over the Pusher protocol (HTTP API), and, with
/// the `client-` prefix Pusher requires, of its client events.
pub(crate) const PUSHER_EVENT: &str = "bench";
const PUSHER_CLIENT_EVENT: &str = "client-bench";

impl ProtocolKind {
    /// The URL a client with `client_id` connects to. A Pusher client is identified only by its
    /// subscriptions' `user_id`, so its URL is `base` as given.
    pub(crate) fn connect_url(self, base: &str, app: &str, client_id: Option<&str>) -> String {
        match self {
            Self::Native => {
                let sep = if base.contains('?') { '&' } else { '?' };
                match client_id {
                    // Client ids are generated by `Plan::client_id` from URL-safe characters.
                    Some(id) => format!("{base}{sep}app={app}&client_id={id}"),
                    None => format!("{base}{sep}app={app}"),
                }
            }
            Self::Pusher => base.to_owned(),
        }
    }

    /// `request` as a frame; `id` is its request id where the protocol has them (native).
    pub(crate) fn encode(self, id: u64, request: &Request, me: Me<'_>) -> String {
        match (self, request) {
            (Self::Native, Request::Join { channel, stamp_us }) => format!(
                r#"{{"op":"join","id":{id},"channel":"{channel}","data":{{"t":{stamp_us}}}}}"#
            ),
            (Self::Native, Request::Watch { channel }) => {
                format!(r#"{{"op":"watch","id":{id},"channel":"{channel}"}}"#)
            }
            (Self::Native, Request::Leave { channel }) => {
                format!(r#"{{"op":"leave","id":{id},"channel":"{channel}"}}"#)
            }
            (Self::Pusher, Request::Join { channel, stamp_us }) => {
                pusher_subscribe(channel, &format!(r#"{{"t":{stamp_us}}}"#), me)
            }
            (Self::Pusher, Request::Watch { channel }) => pusher_subscribe(channel, "{}", me),
            (Self::Pusher, Request::Leave { channel }) => {
                format!(r#"{{"event":"pusher:unsubscribe","data":{{"channel":"{channel}"}}}}"#)
            }
        }
    }

    /// Publish message number `n`, sent at `stamp_us`, padded with `pad`. Native: without echo
    /// (the publisher measures nothing from its own copy). Pusher: a client event, which is
    /// never echoed (the HTTP API, the default Pusher publisher, is [`pusher_event_body`]).
    pub(crate) fn publish(
        self,
        id: u64,
        channel: &str,
        n: u64,
        stamp_us: u64,
        pad: &str,
    ) -> String {
        match self {
            Self::Native => format!(
                r#"{{"op":"publish","id":{id},"channel":"{channel}","echo":false,"data":{{"n":{n},"t":{stamp_us},"p":"{pad}"}}}}"#
            ),
            Self::Pusher => format!(
                r#"{{"event":"{PUSHER_CLIENT_EVENT}","channel":"{channel}","data":{{"n":{n},"t":{stamp_us},"p":"{pad}"}}}}"#
            ),
        }
    }

    /// Whether an ack or error carrying `got` answers request `id`. Pusher has no request ids:
    /// a client waits for one answer at a time, and the next answer is it.
    pub(crate) fn answers(self, got: Option<u64>, id: u64) -> bool {
        match self {
            Self::Native => got == Some(id),
            Self::Pusher => got.is_none(),
        }
    }

    /// Whether the server acknowledges a leave (Pusher does not acknowledge unsubscribes).
    pub(crate) fn acknowledges_leaves(self) -> bool {
        matches!(self, Self::Native)
    }

    /// Reduces a text frame to what the scenarios need.
    pub(crate) fn decode(self, text: &str) -> Incoming<'_> {
        match self {
            Self::Native => decode_native(text),
            Self::Pusher => decode_pusher(text),
        }
    }

    /// The connection id the server's first frame assigns, where signatures need it (Pusher's
    /// `socket_id`).
    pub(crate) fn socket_id(self, text: &str) -> Option<String> {
        match self {
            Self::Native => None,
            Self::Pusher => {
                #[derive(Deserialize)]
                struct Established {
                    socket_id: String,
                }
                let wire: PusherWire<'_> = serde_json::from_str(text).ok()?;
                if wire.event != "pusher:connection_established" {
                    return None;
                }
                inner(wire.data?, |data| {
                    serde_json::from_str::<Established>(data)
                        .ok()
                        .map(|e| e.socket_id)
                })
            }
        }
    }

    /// The client ids listed in a snapshot ack (the reconnect watcher's starting point).
    pub(crate) fn snapshot_ids(self, text: &str) -> Option<Vec<String>> {
        match self {
            Self::Native => {
                #[derive(Deserialize)]
                struct Frame {
                    result: Snapshot,
                }
                #[derive(Deserialize)]
                struct Snapshot {
                    members: Vec<Id>,
                }
                #[derive(Deserialize)]
                struct Id {
                    client_id: String,
                }
                let frame: Frame = serde_json::from_str(text).ok()?;
                Some(
                    frame
                        .result
                        .members
                        .into_iter()
                        .map(|m| m.client_id)
                        .collect(),
                )
            }
            Self::Pusher => {
                #[derive(Deserialize)]
                struct Data {
                    presence: Presence,
                }
                #[derive(Deserialize)]
                struct Presence {
                    ids: Option<Vec<String>>,
                    hash: Option<BTreeMap<String, IgnoredAny>>,
                }
                let wire: PusherWire<'_> = serde_json::from_str(text).ok()?;
                let presence = inner(wire.data?, |data| {
                    serde_json::from_str::<Data>(data).ok().map(|d| d.presence)
                })?;
                // pusher-js reads only `hash`; servers send both.
                presence
                    .ids
                    .or_else(|| presence.hash.map(|h| h.into_keys().collect()))
            }
        }
    }
}

/// A `pusher:subscribe` to `channel`, signed as the channel's type requires: presence channels
/// with `channel_data` naming this client and `user_info`, private ones over the socket id.
fn pusher_subscribe(channel: &str, user_info: &str, me: Me<'_>) -> String {
    if channel.starts_with("presence-") {
        // User ids are generated from URL-safe characters: nothing to escape.
        let channel_data = format!(r#"{{"user_id":"{}","user_info":{user_info}}}"#, me.user_id);
        let auth = me
            .signer
            .channel_auth(me.socket_id, channel, Some(&channel_data));
        // `channel_data` travels as a JSON string, and is verified on exactly these bytes.
        let quoted = serde_json::Value::String(channel_data).to_string();
        format!(
            r#"{{"event":"pusher:subscribe","data":{{"auth":"{auth}","channel_data":{quoted},"channel":"{channel}"}}}}"#
        )
    } else {
        let auth = if channel.starts_with("private-") {
            me.signer.channel_auth(me.socket_id, channel, None)
        } else {
            String::new()
        };
        format!(
            r#"{{"event":"pusher:subscribe","data":{{"auth":"{auth}","channel":"{channel}"}}}}"#
        )
    }
}

/// The body of an HTTP API `POST /apps/{id}/events` publishing message `n` to `channel`. Its
/// `data` is a string, as the API requires, holding the same payload as a native publish.
pub(crate) fn pusher_event_body(channel: &str, n: u64, stamp_us: u64, pad: &str) -> String {
    format!(
        r#"{{"name":"{PUSHER_EVENT}","channels":["{channel}"],"data":"{{\"n\":{n},\"t\":{stamp_us},\"p\":\"{pad}\"}}"}}"#
    )
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    id: Option<u64>,
    seq: Option<u64>,
    #[serde(borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    client_id: Option<Cow<'a, str>>,
    result: Option<AckResult>,
    member: Option<WireMember>,
    data: Option<Stamp>,
}

#[derive(Deserialize)]
struct AckResult {
    seq: Option<u64>,
    members: Option<Count>,
}

#[derive(Deserialize)]
struct WireMember {
    data: Option<Stamp>,
}

/// The generator's own fields in member data and message payloads; other fields are skipped.
#[derive(Deserialize)]
struct Stamp {
    t: Option<u64>,
    n: Option<u64>,
}

/// The length of a JSON array, counted without building its elements: a storm's snapshots
/// list up to N members each.
struct Count(usize);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Count(n))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Count, A::Error> {
                Err(de::Error::invalid_type(de::Unexpected::Map, &self))
            }
        }
        d.deserialize_seq(CountVisitor)
    }
}

fn decode_native(text: &str) -> Incoming<'_> {
    // A frame that does not fit (another client's payload that is not an object, a string
    // request id) is not one of ours: it is counted, not measured.
    let Ok(wire) = serde_json::from_str::<Wire<'_>>(text) else {
        return Incoming::Other;
    };
    let seq = wire.seq.unwrap_or(0);
    match wire.kind.as_ref() {
        "session" => Incoming::Session,
        "ack" => {
            let (seq, members) = wire
                .result
                .map_or((None, None), |r| (r.seq, r.members.map(|c| c.0)));
            Incoming::Ack {
                id: wire.id,
                seq,
                members,
            }
        }
        "error" => Incoming::Error {
            id: wire.id,
            code: wire.code.unwrap_or(Cow::Borrowed("")),
        },
        "join" => Incoming::Join {
            seq,
            client_id: wire.client_id.unwrap_or_default(),
            stamp: wire.member.and_then(|m| m.data).and_then(|d| d.t),
        },
        "leave" => Incoming::Leave {
            seq,
            client_id: wire.client_id.unwrap_or_default(),
        },
        "update" => Incoming::Update { seq },
        "message" => {
            let (n, stamp) = wire.data.map_or((None, None), |d| (d.n, d.t));
            Incoming::Message { seq, n, stamp }
        }
        _ => Incoming::Other,
    }
}

/// A Pusher frame's envelope. `data` is kept raw: it is usually a JSON string holding JSON
/// ("double encoding"), sometimes an object, and most frames need only a field or two of it.
#[derive(Deserialize)]
struct PusherWire<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

/// Hands `f` the JSON inside `data`: the string's contents if `data` is a string, else `data`
/// itself.
fn inner<T>(data: &RawValue, f: impl FnOnce(&str) -> Option<T>) -> Option<T> {
    let text = data.get();
    if text.starts_with('"') {
        let unquoted: String = serde_json::from_str(text).ok()?;
        f(&unquoted)
    } else {
        f(text)
    }
}

/// A presence `user_id`, a string or (from other clients) a number, as a string.
fn user_id(raw: &RawValue) -> Option<String> {
    let text = raw.get();
    if text.starts_with('"') {
        serde_json::from_str(text).ok()
    } else {
        Some(text.to_owned())
    }
}

fn decode_pusher(text: &str) -> Incoming<'_> {
    #[derive(Deserialize)]
    struct Member<'b> {
        #[serde(borrow)]
        user_id: &'b RawValue,
        #[serde(borrow)]
        user_info: Option<&'b RawValue>,
    }
    #[derive(Deserialize)]
    struct Subscribed {
        presence: Option<PresenceCount>,
    }
    #[derive(Deserialize)]
    struct PresenceCount {
        count: Option<usize>,
    }
    #[derive(Deserialize)]
    struct SubscriptionError {
        #[serde(rename = "type")]
        kind: Option<String>,
        status: Option<u64>,
    }
    #[derive(Deserialize)]
    struct PusherError {
        code: Option<i64>,
        message: Option<String>,
    }

    let Ok(wire) = serde_json::from_str::<PusherWire<'_>>(text) else {
        return Incoming::Other;
    };
    let data = wire.data;
    let parse = |f: &dyn Fn(&str) -> Option<Incoming<'static>>| data.and_then(|d| inner(d, f));
    let event = wire.event.as_ref();
    match event {
        "pusher:connection_established" => Incoming::Session,
        "pusher:ping" => Incoming::Ping,
        "pusher_internal:subscription_succeeded" => {
            // Soketi sends no `data` for non-presence channels.
            let members = data
                .and_then(|d| inner(d, |t| serde_json::from_str::<Subscribed>(t).ok()))
                .and_then(|s| s.presence)
                .and_then(|p| p.count);
            Incoming::Ack {
                id: None,
                seq: Some(0),
                members,
            }
        }
        "pusher:subscription_error" => {
            let detail =
                data.and_then(|d| inner(d, |t| serde_json::from_str::<SubscriptionError>(t).ok()));
            let code = detail.map_or_else(
                || "subscription_error".to_owned(),
                |e| {
                    format!(
                        "subscription_error {} {}",
                        e.kind.as_deref().unwrap_or("?"),
                        e.status.map_or_else(|| "?".to_owned(), |s| s.to_string())
                    )
                },
            );
            Incoming::Error {
                id: None,
                code: Cow::Owned(code),
            }
        }
        "pusher:error" => {
            let detail =
                data.and_then(|d| inner(d, |t| serde_json::from_str::<PusherError>(t).ok()));
            let code = detail.map_or_else(
                || "pusher:error".to_owned(),
                |e| {
                    let message: String = e.message.unwrap_or_default().chars().take(120).collect();
                    match e.code {
                        Some(code) => format!("pusher:error {code} {message}"),
                        None => format!("pusher:error {message}"),
                    }
                },
            );
            Incoming::Error {
                id: None,
                code: Cow::Owned(code),
            }
        }
        "pusher_internal:member_added" => parse(&|t| {
            let member: Member<'_> = serde_json::from_str(t).ok()?;
            let stamp = member
                .user_info
                .filter(|info| info.get().starts_with('{'))
                .and_then(|info| serde_json::from_str::<Stamp>(info.get()).ok())
                .and_then(|s| s.t);
            Some(Incoming::Join {
                seq: 1,
                client_id: Cow::Owned(user_id(member.user_id)?),
                stamp,
            })
        })
        .unwrap_or(Incoming::Other),
        "pusher_internal:member_removed" => parse(&|t| {
            let member: Member<'_> = serde_json::from_str(t).ok()?;
            Some(Incoming::Leave {
                seq: 1,
                client_id: Cow::Owned(user_id(member.user_id)?),
            })
        })
        .unwrap_or(Incoming::Other),
        _ if event.starts_with("pusher:") || event.starts_with("pusher_internal:") => {
            Incoming::Other
        }
        // An application event: ours carry `{"n","t","p"}`.
        _ => parse(&|t| {
            let stamp: Stamp = serde_json::from_str(t).ok()?;
            Some(Incoming::Message {
                seq: 0,
                n: stamp.n,
                stamp: stamp.t,
            })
        })
        .unwrap_or(Incoming::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NATIVE: ProtocolKind = ProtocolKind::Native;
    const PUSHER: ProtocolKind = ProtocolKind::Pusher;

    #[test]
    fn decodes_the_frames_of_the_protocol_reference() {
        let session = r#"{"type":"session","connection_id":"497962663.1","client_id":"ann","server_version":"0.1.0","protocol_version":1,"heartbeat_interval_ms":15000,"heartbeat_timeout_ms":45000,"resume_token":"x","limits":{"max_frame_bytes":65536}}"#;
        assert_eq!(NATIVE.decode(session), Incoming::Session);

        let ack = r#"{"type":"ack","id":1,"result":{"channel":"room-1","seq":2,"members":[{"client_id":"bob","data":{"name":"Bob"},"joined_at":1,"updated_at":1,"connections":[]},{"client_id":"ann","data":{},"joined_at":1,"updated_at":1,"connections":[]}]}}"#;
        assert_eq!(
            NATIVE.decode(ack),
            Incoming::Ack {
                id: Some(1),
                seq: Some(2),
                members: Some(2)
            }
        );
        assert_eq!(
            NATIVE.snapshot_ids(ack),
            Some(vec!["bob".to_owned(), "ann".to_owned()])
        );
        assert_eq!(
            NATIVE.decode(r#"{"type":"ack","id":3}"#),
            Incoming::Ack {
                id: Some(3),
                seq: None,
                members: None
            }
        );

        let join = r#"{"type":"join","channel":"c","seq":5,"ts":1,"client_id":"x-c1","connection_id":"1.2","member":{"client_id":"x-c1","data":{"t":1234},"joined_at":1,"updated_at":1,"connections":[]}}"#;
        assert_eq!(
            NATIVE.decode(join),
            Incoming::Join {
                seq: 5,
                client_id: "x-c1".into(),
                stamp: Some(1234)
            }
        );

        let message = r#"{"type":"message","channel":"c","seq":9,"ts":1,"client_id":null,"connection_id":"1.1","data":{"n":7,"p":"xx","t":99}}"#;
        assert_eq!(
            NATIVE.decode(message),
            Incoming::Message {
                seq: 9,
                n: Some(7),
                stamp: Some(99)
            }
        );

        let error = r#"{"type":"error","id":2,"code":"not_subscribed","message":"m"}"#;
        assert_eq!(
            NATIVE.decode(error),
            Incoming::Error {
                id: Some(2),
                code: "not_subscribed".into()
            }
        );
        // Someone else's message with a non-object payload is not ours.
        let foreign = r#"{"type":"message","channel":"c","seq":9,"data":"hello"}"#;
        assert_eq!(NATIVE.decode(foreign), Incoming::Other);
    }

    fn me(signer: &Signer) -> Me<'_> {
        Me {
            user_id: "b1-c7",
            socket_id: "123.456",
            signer,
        }
    }

    #[test]
    fn requests_are_valid_json() {
        let signer = Signer::new("k", "a", "secret-1");
        let channel = || "c".to_owned();
        for text in [
            NATIVE.encode(
                1,
                &Request::Join {
                    channel: channel(),
                    stamp_us: 5,
                },
                me(&signer),
            ),
            NATIVE.encode(2, &Request::Watch { channel: channel() }, me(&signer)),
            NATIVE.encode(3, &Request::Leave { channel: channel() }, me(&signer)),
            NATIVE.publish(4, "c", 1, 2, "xx"),
        ] {
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(value["op"].is_string(), "{text}");
        }
        // The native frames are exactly what they were before the Pusher protocol came.
        assert_eq!(
            NATIVE.encode(
                1,
                &Request::Join {
                    channel: channel(),
                    stamp_us: 5
                },
                me(&signer)
            ),
            r#"{"op":"join","id":1,"channel":"c","data":{"t":5}}"#
        );
        assert_eq!(
            NATIVE.connect_url("ws://h/ws", "k", Some("a")),
            "ws://h/ws?app=k&client_id=a"
        );
    }

    #[test]
    fn pusher_requests_are_signed_as_a_pusher_server_checks_them() {
        let signer = Signer::new("k", "a", "secret-1");
        let join = PUSHER.encode(
            9,
            &Request::Join {
                channel: "presence-x".into(),
                stamp_us: 42,
            },
            me(&signer),
        );
        let value: serde_json::Value = serde_json::from_str(&join).unwrap();
        assert_eq!(value["event"], "pusher:subscribe");
        let data = &value["data"];
        assert_eq!(data["channel"], "presence-x");
        let channel_data = data["channel_data"].as_str().unwrap();
        assert_eq!(channel_data, r#"{"user_id":"b1-c7","user_info":{"t":42}}"#);
        assert_eq!(
            data["auth"],
            signer.channel_auth("123.456", "presence-x", Some(channel_data))
        );

        let private = PUSHER.encode(
            1,
            &Request::Watch {
                channel: "private-y".into(),
            },
            me(&signer),
        );
        let value: serde_json::Value = serde_json::from_str(&private).unwrap();
        assert_eq!(
            value["data"]["auth"],
            signer.channel_auth("123.456", "private-y", None)
        );
        assert!(value["data"].get("channel_data").is_none());

        let public = PUSHER.encode(
            1,
            &Request::Watch {
                channel: "bench".into(),
            },
            me(&signer),
        );
        assert_eq!(
            public,
            r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"bench"}}"#
        );
        assert_eq!(
            PUSHER.encode(
                1,
                &Request::Leave {
                    channel: "presence-x".into()
                },
                me(&signer)
            ),
            r#"{"event":"pusher:unsubscribe","data":{"channel":"presence-x"}}"#
        );

        let event: serde_json::Value =
            serde_json::from_str(&PUSHER.publish(3, "private-y", 7, 8, "pp")).unwrap();
        assert_eq!(event["event"], "client-bench");
        assert_eq!(event["data"]["n"], 7);

        let body: serde_json::Value =
            serde_json::from_str(&pusher_event_body("bench", 7, 8, "pp")).unwrap();
        assert_eq!(body["name"], "bench");
        assert_eq!(body["channels"][0], "bench");
        assert_eq!(body["data"], r#"{"n":7,"t":8,"p":"pp"}"#);
        assert_eq!(
            PUSHER.connect_url("ws://h/app/k?protocol=7", "k", Some("a")),
            "ws://h/app/k?protocol=7"
        );
    }

    #[test]
    fn decodes_the_frames_of_the_pusher_protocol() {
        // The examples of the protocol reference (section 1.9) and rollcall's own frames.
        let established = r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":120}"}"#;
        assert_eq!(PUSHER.decode(established), Incoming::Session);
        assert_eq!(PUSHER.socket_id(established).as_deref(), Some("123.456"));

        let subscribed = r#"{"event":"pusher_internal:subscription_succeeded","channel":"presence-example-channel","data":"{\"presence\":{\"ids\":[\"1\",\"2\"],\"hash\":{\"1\":{\"name\":\"Phil\"},\"2\":{\"name\":\"Max\"}},\"count\":2}}"}"#;
        assert_eq!(
            PUSHER.decode(subscribed),
            Incoming::Ack {
                id: None,
                seq: Some(0),
                members: Some(2)
            }
        );
        assert_eq!(
            PUSHER.snapshot_ids(subscribed),
            Some(vec!["1".to_owned(), "2".to_owned()])
        );
        // Soketi sends no data for other channels; Sockudo "{}".
        for public in [
            r#"{"event":"pusher_internal:subscription_succeeded","channel":"x"}"#,
            r#"{"event":"pusher_internal:subscription_succeeded","channel":"x","data":"{}"}"#,
        ] {
            assert_eq!(
                PUSHER.decode(public),
                Incoming::Ack {
                    id: None,
                    seq: Some(0),
                    members: None
                }
            );
        }
        assert!(PUSHER.answers(None, 1) && !NATIVE.answers(None, 1));

        let added = r#"{"event":"pusher_internal:member_added","channel":"presence-x","data":"{\"user_id\":\"b1-c3\",\"user_info\":{\"t\":1234}}"}"#;
        assert_eq!(
            PUSHER.decode(added),
            Incoming::Join {
                seq: 1,
                client_id: "b1-c3".into(),
                stamp: Some(1234)
            }
        );
        // Numeric ids and user_info that is not an object (both seen from Laravel apps).
        let numeric = r#"{"event":"pusher_internal:member_added","channel":"presence-x","data":"{\"user_id\":3559,\"user_info\":true}"}"#;
        assert_eq!(
            PUSHER.decode(numeric),
            Incoming::Join {
                seq: 1,
                client_id: "3559".into(),
                stamp: None
            }
        );
        let removed = r#"{"event":"pusher_internal:member_removed","channel":"presence-x","data":"{\"user_id\":\"b1-c3\"}"}"#;
        assert_eq!(
            PUSHER.decode(removed),
            Incoming::Leave {
                seq: 1,
                client_id: "b1-c3".into()
            }
        );

        // Messages: a string (HTTP API) or an object (client events, as sent).
        let message =
            r#"{"event":"bench","channel":"bench-1","data":"{\"n\":7,\"t\":99,\"p\":\"xx\"}"}"#;
        let client =
            r#"{"event":"client-bench","channel":"private-1","data":{"n":7,"t":99,"p":"xx"}}"#;
        for text in [message, client] {
            assert_eq!(
                PUSHER.decode(text),
                Incoming::Message {
                    seq: 0,
                    n: Some(7),
                    stamp: Some(99)
                }
            );
        }
        let foreign = r#"{"event":"chat","channel":"c","data":"hello"}"#;
        assert_eq!(PUSHER.decode(foreign), Incoming::Other);

        assert_eq!(
            PUSHER.decode(r#"{"event":"pusher:ping","data":{}}"#),
            Incoming::Ping
        );
        assert_eq!(
            PUSHER.decode(r#"{"event":"pusher:pong","data":{}}"#),
            Incoming::Other
        );
        let refused = r#"{"event":"pusher:subscription_error","channel":"presence-x","data":{"type":"LimitReached","error":"full","status":4100}}"#;
        assert_eq!(
            PUSHER.decode(refused),
            Incoming::Error {
                id: None,
                code: "subscription_error LimitReached 4100".into()
            }
        );
        let error = r#"{"event":"pusher:error","data":{"message":"Application does not exist","code":4001}}"#;
        assert_eq!(
            PUSHER.decode(error),
            Incoming::Error {
                id: None,
                code: "pusher:error 4001 Application does not exist".into()
            }
        );
    }
}

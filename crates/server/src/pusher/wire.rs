//! Pusher frames: decoding what clients send, encoding what the server sends.
//!
//! Every frame is `{"event": String, "channel"?: String, "data"?: …}`. The server sends `data`
//! as a JSON *string* holding JSON ("double encoding"), as Pusher does, except where the
//! protocol says otherwise (`pusher:error`, `pusher:pong`, `pusher:signin_success`).

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// A frame from a client.
#[derive(Debug, Clone)]
pub(crate) enum ClientFrame {
    /// `pusher:subscribe`.
    Subscribe {
        /// The channel name, unchecked.
        channel: String,
        /// `<key>:<signature>`, empty for public channels.
        auth: Option<String>,
        /// Presence channels: the exact JSON text that was signed.
        channel_data: Option<String>,
    },
    /// `pusher:unsubscribe`.
    Unsubscribe {
        /// The channel name, unchecked.
        channel: String,
    },
    /// `pusher:ping`.
    Ping,
    /// `pusher:pong`.
    Pong,
    /// `pusher:signin`.
    Signin {
        /// `<key>:<signature>` over `socket_id::user::user_data`.
        auth: String,
        /// The exact JSON text that was signed.
        user_data: String,
    },
    /// A `client-` event.
    ClientEvent {
        /// The event name (starts with `client-`).
        event: String,
        /// The channel name, unchecked.
        channel: String,
        /// The payload, as received.
        data: Box<RawValue>,
    },
    /// Any other event: ignored, as Pusher does with events it does not know.
    Other(String),
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    /// Not JSON, not an object, or `event` missing.
    #[error("invalid frame: {0}")]
    Invalid(String),
    /// A field of a known event is missing or has the wrong type.
    #[error("invalid {event} frame: {reason}")]
    Field {
        /// The event.
        event: &'static str,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Deserialize)]
struct Envelope {
    event: String,
    channel: Option<String>,
    data: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct SubscribeData {
    channel: String,
    auth: Option<String>,
    channel_data: Option<String>,
}

#[derive(Deserialize)]
struct UnsubscribeData {
    channel: String,
}

#[derive(Deserialize)]
struct SigninData {
    auth: String,
    user_data: String,
}

/// Reads `data` as `T`, accepting it either as an object or as a string holding one (some
/// client libraries double-encode what they send, too).
fn data_of<T: for<'de> Deserialize<'de>>(
    event: &'static str,
    data: Option<&RawValue>,
) -> Result<T, WireError> {
    let field = |reason: String| WireError::Field { event, reason };
    let raw = data.ok_or_else(|| field("missing `data`".into()))?;
    match serde_json::from_str::<T>(raw.get()) {
        Ok(value) => Ok(value),
        Err(first) => {
            let text: String =
                serde_json::from_str(raw.get()).map_err(|_| field(first.to_string()))?;
            serde_json::from_str(&text).map_err(|e| field(e.to_string()))
        }
    }
}

/// Decodes one text frame.
pub(crate) fn decode(text: &str) -> Result<ClientFrame, WireError> {
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|e| WireError::Invalid(e.to_string()))?;
    let data = envelope.data.as_deref();
    Ok(match envelope.event.as_str() {
        "pusher:subscribe" => {
            let d: SubscribeData = data_of("pusher:subscribe", data)?;
            Frame::subscribe(d)
        }
        "pusher:unsubscribe" => {
            let d: UnsubscribeData = data_of("pusher:unsubscribe", data)?;
            ClientFrame::Unsubscribe { channel: d.channel }
        }
        "pusher:ping" => ClientFrame::Ping,
        "pusher:pong" => ClientFrame::Pong,
        "pusher:signin" => {
            let d: SigninData = data_of("pusher:signin", data)?;
            ClientFrame::Signin {
                auth: d.auth,
                user_data: d.user_data,
            }
        }
        name if name.starts_with("client-") => {
            let Some(channel) = envelope.channel else {
                return Err(WireError::Field {
                    event: "client event",
                    reason: "missing `channel`".into(),
                });
            };
            let data = match envelope.data {
                Some(data) => data,
                None => RawValue::from_string("null".into())
                    .map_err(|e| WireError::Invalid(e.to_string()))?,
            };
            ClientFrame::ClientEvent {
                event: envelope.event,
                channel,
                data,
            }
        }
        _ => ClientFrame::Other(envelope.event),
    })
}

struct Frame;

impl Frame {
    fn subscribe(d: SubscribeData) -> ClientFrame {
        ClientFrame::Subscribe {
            channel: d.channel,
            auth: d.auth.filter(|a| !a.is_empty()),
            channel_data: d.channel_data,
        }
    }
}

#[derive(Serialize)]
struct Out<'a, D: Serialize> {
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    data: D,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
}

fn to_text<T: Serialize>(value: &T) -> String {
    // Frames hold strings, numbers and already-valid raw JSON, which always serialize.
    #[allow(clippy::expect_used)]
    serde_json::to_string(value).expect("Pusher frames always serialize")
}

/// A frame whose `data` is `inner` serialized to a JSON string (double encoding).
pub(crate) fn frame<T: Serialize>(event: &str, channel: Option<&str>, inner: &T) -> Utf8Bytes {
    frame_with_text(event, channel, &to_text(inner), None)
}

/// A frame whose `data` is the string `data` and that may carry a top-level `user_id`.
pub(crate) fn frame_with_text(
    event: &str,
    channel: Option<&str>,
    data: &str,
    user_id: Option<&str>,
) -> Utf8Bytes {
    Utf8Bytes::from(to_text(&Out {
        event,
        channel,
        data,
        user_id,
    }))
}

/// `pusher:connection_established`.
pub(crate) fn connection_established(socket_id: &str, activity_timeout_s: u64) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Established<'a> {
        socket_id: &'a str,
        activity_timeout: u64,
    }
    frame(
        "pusher:connection_established",
        None,
        &Established {
            socket_id,
            activity_timeout: activity_timeout_s,
        },
    )
}

/// `pusher:error`; `data` is an object here, as in Pusher.
pub(crate) fn error(code: Option<u16>, message: &str) -> Utf8Bytes {
    #[derive(Serialize)]
    struct ErrorData<'a> {
        code: Option<u16>,
        message: &'a str,
    }
    Utf8Bytes::from(to_text(&Out {
        event: "pusher:error",
        channel: None,
        data: ErrorData { code, message },
        user_id: None,
    }))
}

/// `pusher:ping` from the server.
pub(crate) fn ping() -> Utf8Bytes {
    Utf8Bytes::from_static(r#"{"event":"pusher:ping","data":{}}"#)
}

/// `pusher:pong`, the answer to a client's ping.
pub(crate) fn pong() -> Utf8Bytes {
    Utf8Bytes::from_static(r#"{"event":"pusher:pong","data":{}}"#)
}

/// `pusher:subscription_error` for `channel`, as a channel event so that pusher-js reports it
/// on the channel (`type` is `AuthError` or `LimitReached`, `status` an HTTP-like number).
pub(crate) fn subscription_error(channel: &str, kind: &str, error: &str, status: u16) -> Utf8Bytes {
    #[derive(Serialize)]
    struct ErrorData<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        error: &'a str,
        status: u16,
    }
    frame(
        "pusher:subscription_error",
        Some(channel),
        &ErrorData {
            kind,
            error,
            status,
        },
    )
}

/// `pusher_internal:subscription_succeeded` for a channel without presence.
pub(crate) fn subscription_succeeded(channel: &str) -> Utf8Bytes {
    frame_with_text(
        "pusher_internal:subscription_succeeded",
        Some(channel),
        "{}",
        None,
    )
}

/// `pusher:signin_success`, echoing the `user_data` string.
pub(crate) fn signin_success(user_data: &str) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Success<'a> {
        user_data: &'a str,
    }
    Utf8Bytes::from(to_text(&Out {
        event: "pusher:signin_success",
        channel: None,
        data: Success { user_data },
        user_id: None,
    }))
}

/// `pusher:cache_miss`: a cache channel had nothing to replay.
pub(crate) fn cache_miss(channel: &str) -> Utf8Bytes {
    frame_with_text("pusher:cache_miss", Some(channel), "{}", None)
}

/// `pusher_internal:subscription_count`.
pub(crate) fn subscription_count(channel: &str, count: usize) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Count {
        subscription_count: usize,
    }
    frame(
        "pusher_internal:subscription_count",
        Some(channel),
        &Count {
            subscription_count: count,
        },
    )
}

/// One entry of `pusher_internal:watchlist_events`: `online` or `offline`, and whom it is about.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WatchlistEvent<'a> {
    /// `online` or `offline`: pusher-js emits it under this name on `pusher.user.watchlist`.
    pub(crate) name: &'a str,
    /// The user ids it is about.
    pub(crate) user_ids: Vec<&'a str>,
}

/// `pusher_internal:watchlist_events`, without a channel. `data` is an object here, the shape
/// pusher-js's watchlist spec uses (pusher-js parses a string `data` too, so both work).
pub(crate) fn watchlist_events(events: &[WatchlistEvent<'_>]) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Events<'a> {
        events: &'a [WatchlistEvent<'a>],
    }
    Utf8Bytes::from(to_text(&Out {
        event: "pusher_internal:watchlist_events",
        channel: None,
        data: Events { events },
        user_id: None,
    }))
}

/// The text Pusher clients get as `data` for a payload: a JSON string is passed as the string
/// itself, anything else as its JSON text (which pusher-js parses back).
pub(crate) fn data_text(payload: &RawValue) -> std::borrow::Cow<'_, str> {
    let text = payload.get();
    if text.starts_with('"') {
        if let Ok(Value::String(s)) = serde_json::from_str::<Value>(text) {
            return s.into();
        }
    }
    text.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_pusher_js_sends() {
        let frame =
            decode(r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"public-x"}}"#);
        assert!(matches!(
            frame,
            Ok(ClientFrame::Subscribe { ref channel, auth: None, channel_data: None }) if channel == "public-x"
        ));
        let frame = decode(
            r#"{"event":"pusher:subscribe","data":{"auth":"k:ab","channel_data":"{\"user_id\":\"u1\"}","channel":"presence-x"}}"#,
        );
        assert!(matches!(
            frame,
            Ok(ClientFrame::Subscribe { channel_data: Some(d), .. }) if d == r#"{"user_id":"u1"}"#
        ));
        let frame = decode(r#"{"event":"client-typing","data":{"a":1},"channel":"presence-x"}"#);
        assert!(matches!(
            frame,
            Ok(ClientFrame::ClientEvent { ref event, ref data, .. }) if event == "client-typing" && data.get() == r#"{"a":1}"#
        ));
        assert!(matches!(
            decode(r#"{"event":"pusher:ping","data":{}}"#),
            Ok(ClientFrame::Ping)
        ));
        assert!(matches!(
            decode(r#"{"event":"pusher:subscribe","data":"{\"channel\":\"x\"}"}"#),
            Ok(ClientFrame::Subscribe { .. })
        ));
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        assert!(decode("nope").is_err());
        assert!(decode("[]").is_err());
        assert!(decode(r#"{"event":"pusher:subscribe"}"#).is_err());
        assert!(decode(r#"{"event":"pusher:subscribe","data":{"channel":5}}"#).is_err());
        assert!(decode(r#"{"event":"client-x","data":{}}"#).is_err());
        assert!(matches!(
            decode(r#"{"event":"whatever"}"#),
            Ok(ClientFrame::Other(ref name)) if name == "whatever"
        ));
    }

    #[test]
    fn server_frames_double_encode_data() {
        let text = connection_established("1.2", 120);
        assert_eq!(
            text.as_str(),
            r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":120}"}"#
        );
        assert_eq!(
            error(Some(4001), "no").as_str(),
            r#"{"event":"pusher:error","data":{"code":4001,"message":"no"}}"#
        );
        let raw = RawValue::from_string(r#""{\"x\":1}""#.into()).unwrap();
        assert_eq!(data_text(&raw), r#"{"x":1}"#);
        let raw = RawValue::from_string(r#"{"x":1}"#.into()).unwrap();
        assert_eq!(data_text(&raw), r#"{"x":1}"#);
    }
}

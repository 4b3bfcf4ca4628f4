//! Client → server: one request per text frame.

use rollcall_core::{ChannelName, ClientId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ErrorCode;

/// The longest accepted string request id, in bytes.
pub(crate) const MAX_REQUEST_ID_LEN: usize = 64;

/// The longest accepted message id or invitation id, in bytes.
pub(crate) const MAX_TOKEN_ID_LEN: usize = 64;

/// A client-chosen request id, echoed in the ack or error that answers the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RequestId {
    /// A non-negative integer id.
    Number(u64),
    /// A string id of at most 64 bytes.
    Text(String),
}

/// A decoded request: an optional id and the command to carry out.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The id to echo in the answer.
    pub id: Option<RequestId>,
    /// What the client asks for.
    pub command: Command,
}

/// Every operation a client can ask for. `docs/protocol.md` describes each one.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Subscribe to a channel and enter its presence.
    Join {
        /// The channel.
        channel: ChannelName,
        /// The member data to enter with, if any (validated by the server).
        data: Option<Value>,
    },
    /// Subscribe to a channel without entering its presence.
    Watch {
        /// The channel.
        channel: ChannelName,
    },
    /// Leave a channel's presence (if joined) and unsubscribe.
    Leave {
        /// The channel.
        channel: ChannelName,
    },
    /// Change the member data of this connection's member in a channel.
    Update {
        /// The channel.
        channel: ChannelName,
        /// How the data changes.
        change: DataChange,
    },
    /// List a channel's members, or look up one.
    Members {
        /// The channel.
        channel: ChannelName,
        /// Only this member, when given.
        client_id: Option<ClientId>,
    },
    /// Ask whether a client id is a member of a channel.
    IsPresent {
        /// The channel.
        channel: ChannelName,
        /// The client id to look for.
        client_id: ClientId,
    },
    /// Send a message to every subscriber of a channel.
    Publish {
        /// The channel.
        channel: ChannelName,
        /// The payload: any JSON value.
        data: Value,
        /// Whether the sender receives its own message too.
        echo: bool,
        /// A client-chosen id; a repeated id within a channel is acknowledged but not delivered twice.
        message_id: Option<String>,
    },
    /// Send a message that is delivered to current subscribers but not sequenced or kept.
    Ephemeral {
        /// The channel.
        channel: ChannelName,
        /// The payload: any JSON value.
        data: Value,
        /// Whether the sender receives its own message too.
        echo: bool,
    },
    /// Invite a client id to join a channel.
    Invite {
        /// The channel.
        channel: ChannelName,
        /// Who is invited.
        client_id: ClientId,
        /// Anything the inviter wants the invitee to see.
        data: Option<Value>,
    },
    /// Accept or decline an invitation.
    InviteReply {
        /// The invitation's id, from the `invitation` event.
        invitation_id: String,
        /// True to accept (which joins the channel), false to decline.
        accept: bool,
        /// Member data to join with, when accepting.
        data: Option<Value>,
    },
    /// An application-level keep-alive; answered with `pong`.
    Ping,
}

/// How an `update` changes member data.
#[derive(Debug, Clone, PartialEq)]
pub enum DataChange {
    /// Replace the data with this object.
    Replace(Value),
    /// Apply this JSON merge patch (RFC 7396).
    MergePatch(Value),
}

/// A frame that is not a valid request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DecodeError {
    /// The request id, when the frame carried a valid one, so the error can be correlated.
    pub id: Option<RequestId>,
    /// The documented error code.
    pub code: ErrorCode,
    /// A human explanation.
    pub message: String,
}

impl DecodeError {
    fn new(id: Option<&RequestId>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            id: id.cloned(),
            code,
            message: message.into(),
        }
    }
}

/// Decodes one client frame.
///
/// # Errors
/// A [`DecodeError`] with code `invalid_json`, `invalid_message`, `unknown_op`,
/// `invalid_channel` or `invalid_client_id`.
pub fn decode_request(text: &str) -> Result<Request, DecodeError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| DecodeError::new(None, ErrorCode::InvalidJson, e.to_string()))?;
    let Value::Object(mut fields) = value else {
        return Err(DecodeError::new(
            None,
            ErrorCode::InvalidMessage,
            "a request must be a JSON object",
        ));
    };
    let id = parse_id(fields.remove("id"))?;
    let id = id.as_ref();
    let op = match fields.remove("op") {
        Some(Value::String(op)) => op,
        Some(_) => {
            return Err(DecodeError::new(
                id,
                ErrorCode::InvalidMessage,
                "`op` must be a string",
            ));
        }
        None => {
            return Err(DecodeError::new(
                id,
                ErrorCode::InvalidMessage,
                "missing field `op`",
            ));
        }
    };
    let command = decode_command(&op, fields).map_err(|(code, message)| DecodeError {
        id: id.cloned(),
        code,
        message,
    })?;
    Ok(Request {
        id: id.cloned(),
        command,
    })
}

fn parse_id(value: Option<Value>) -> Result<Option<RequestId>, DecodeError> {
    let bad = |what: &str| {
        Err(DecodeError::new(
            None,
            ErrorCode::InvalidMessage,
            format!("`id` {what}"),
        ))
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) => Ok(Some(RequestId::Number(n))),
            None => bad("must be a non-negative integer or a string"),
        },
        Some(Value::String(s)) if s.len() <= MAX_REQUEST_ID_LEN => Ok(Some(RequestId::Text(s))),
        Some(Value::String(_)) => bad("must be at most 64 bytes"),
        Some(_) => bad("must be a non-negative integer or a string"),
    }
}

type FieldError = (ErrorCode, String);

#[derive(Deserialize)]
struct ChannelOnly {
    channel: String,
}

#[derive(Deserialize)]
struct JoinFields {
    channel: String,
    data: Option<Value>,
}

#[derive(Deserialize)]
struct UpdateFields {
    channel: String,
    data: Option<Value>,
    patch: Option<Value>,
}

#[derive(Deserialize)]
struct MembersFields {
    channel: String,
    client_id: Option<String>,
}

#[derive(Deserialize)]
struct IsPresentFields {
    channel: String,
    client_id: String,
}

#[derive(Deserialize)]
struct PublishFields {
    channel: String,
    data: Value,
    echo: Option<bool>,
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct InviteFields {
    channel: String,
    client_id: String,
    data: Option<Value>,
}

#[derive(Deserialize)]
struct InviteReplyFields {
    invitation_id: String,
    accept: bool,
    data: Option<Value>,
}

fn fields<T: DeserializeOwned>(op: &str, map: Map<String, Value>) -> Result<T, FieldError> {
    serde_json::from_value(Value::Object(map))
        .map_err(|e| (ErrorCode::InvalidMessage, format!("{op}: {e}")))
}

fn channel(name: &str) -> Result<ChannelName, FieldError> {
    ChannelName::parse(name).map_err(|e| (ErrorCode::InvalidChannel, e.to_string()))
}

fn client_id(id: &str) -> Result<ClientId, FieldError> {
    ClientId::parse(id).map_err(|e| (ErrorCode::InvalidClientId, e.to_string()))
}

fn short_id(field: &str, id: String) -> Result<String, FieldError> {
    if id.is_empty() || id.len() > MAX_TOKEN_ID_LEN {
        return Err((
            ErrorCode::InvalidMessage,
            format!("`{field}` must be 1 to {MAX_TOKEN_ID_LEN} bytes"),
        ));
    }
    Ok(id)
}

fn decode_command(op: &str, map: Map<String, Value>) -> Result<Command, FieldError> {
    Ok(match op {
        "join" => {
            let f: JoinFields = fields(op, map)?;
            Command::Join {
                channel: channel(&f.channel)?,
                data: f.data,
            }
        }
        "watch" => Command::Watch {
            channel: channel(&fields::<ChannelOnly>(op, map)?.channel)?,
        },
        "leave" => Command::Leave {
            channel: channel(&fields::<ChannelOnly>(op, map)?.channel)?,
        },
        "update" => {
            let f: UpdateFields = fields(op, map)?;
            let change = match (f.data, f.patch) {
                (Some(data), None) => DataChange::Replace(data),
                (None, Some(patch)) => DataChange::MergePatch(patch),
                _ => {
                    return Err((
                        ErrorCode::InvalidMessage,
                        "update: exactly one of `data` (replace) or `patch` (merge patch) is required"
                            .into(),
                    ));
                }
            };
            Command::Update {
                channel: channel(&f.channel)?,
                change,
            }
        }
        "members" => {
            let f: MembersFields = fields(op, map)?;
            Command::Members {
                channel: channel(&f.channel)?,
                client_id: f.client_id.as_deref().map(client_id).transpose()?,
            }
        }
        "is_present" => {
            let f: IsPresentFields = fields(op, map)?;
            Command::IsPresent {
                channel: channel(&f.channel)?,
                client_id: client_id(&f.client_id)?,
            }
        }
        "publish" => {
            let f: PublishFields = fields(op, map)?;
            Command::Publish {
                channel: channel(&f.channel)?,
                data: f.data,
                echo: f.echo.unwrap_or(true),
                message_id: f
                    .message_id
                    .map(|id| short_id("message_id", id))
                    .transpose()?,
            }
        }
        "ephemeral" => {
            let f: PublishFields = fields(op, map)?;
            Command::Ephemeral {
                channel: channel(&f.channel)?,
                data: f.data,
                echo: f.echo.unwrap_or(false),
            }
        }
        "invite" => {
            let f: InviteFields = fields(op, map)?;
            Command::Invite {
                channel: channel(&f.channel)?,
                client_id: client_id(&f.client_id)?,
                data: f.data,
            }
        }
        "invite_reply" => {
            let f: InviteReplyFields = fields(op, map)?;
            Command::InviteReply {
                invitation_id: short_id("invitation_id", f.invitation_id)?,
                accept: f.accept,
                data: f.data,
            }
        }
        "ping" => Command::Ping,
        other => {
            let shown: String = other.chars().take(40).collect();
            return Err((
                ErrorCode::UnknownOp,
                format!("unknown op {shown:?}; see docs/protocol.md for the list"),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> ErrorCode {
        decode_request(text).unwrap_err().code
    }

    #[test]
    fn decodes_a_join_with_id_and_data() {
        let r = decode_request(r#"{"op":"join","id":7,"channel":"room","data":{"a":1}}"#).unwrap();
        assert_eq!(r.id, Some(RequestId::Number(7)));
        assert_eq!(
            r.command,
            Command::Join {
                channel: ChannelName::parse("room").unwrap(),
                data: Some(serde_json::json!({"a": 1})),
            }
        );
    }

    #[test]
    fn each_kind_of_bad_frame_has_its_own_code() {
        assert_eq!(code("{nope"), ErrorCode::InvalidJson);
        assert_eq!(code("[1,2]"), ErrorCode::InvalidMessage);
        assert_eq!(code(r#"{"channel":"x"}"#), ErrorCode::InvalidMessage);
        assert_eq!(code(r#"{"op":5}"#), ErrorCode::InvalidMessage);
        assert_eq!(code(r#"{"op":"dance"}"#), ErrorCode::UnknownOp);
        assert_eq!(code(r#"{"op":"join"}"#), ErrorCode::InvalidMessage);
        assert_eq!(
            code(r#"{"op":"join","channel":7}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"op":"join","channel":""}"#),
            ErrorCode::InvalidChannel
        );
        assert_eq!(
            code(r#"{"op":"join","channel":"a b"}"#),
            ErrorCode::InvalidChannel
        );
        assert_eq!(
            code(r#"{"op":"is_present","channel":"a","client_id":""}"#),
            ErrorCode::InvalidClientId
        );
        assert_eq!(
            code(r#"{"op":"update","channel":"a","data":{},"patch":{}}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(code(r#"{"op":"ping","id":-1}"#), ErrorCode::InvalidMessage);
    }

    #[test]
    fn errors_keep_the_request_id_when_it_was_valid() {
        let err = decode_request(r#"{"op":"join","id":"abc","channel":""}"#).unwrap_err();
        assert_eq!(err.id, Some(RequestId::Text("abc".into())));
    }

    #[test]
    fn echo_defaults_differ_for_publish_and_ephemeral() {
        let publish = decode_request(r#"{"op":"publish","channel":"c","data":1}"#).unwrap();
        assert!(matches!(
            publish.command,
            Command::Publish { echo: true, .. }
        ));
        let eph = decode_request(r#"{"op":"ephemeral","channel":"c","data":1}"#).unwrap();
        assert!(matches!(
            eph.command,
            Command::Ephemeral { echo: false, .. }
        ));
    }
}

//! Client → server requests.

use rollcall_core::{ChannelName, ClientId};
use serde::Serialize;
use serde_json::Value;

/// Every request the SDK sends; field names and defaults follow `docs/protocol.md`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Op {
    Join {
        channel: ChannelName,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
    },
    Watch {
        channel: ChannelName,
    },
    Leave {
        channel: ChannelName,
    },
    Update {
        channel: ChannelName,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        patch: Option<Value>,
    },
    Members {
        channel: ChannelName,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<ClientId>,
    },
    IsPresent {
        channel: ChannelName,
        client_id: ClientId,
    },
    Publish {
        channel: ChannelName,
        data: Value,
        echo: bool,
        message_id: String,
    },
    Ephemeral {
        channel: ChannelName,
        data: Value,
        echo: bool,
    },
    Invite {
        channel: ChannelName,
        client_id: ClientId,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
    },
    InviteReply {
        invitation_id: String,
        accept: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
    },
    Ping,
}

impl Op {
    /// Whether sending the request a second time, after a lost connection left its fate unknown,
    /// has the same effect as sending it once. Updates replace or merge-patch (both idempotent),
    /// queries change nothing, and publishes carry a message id that receivers de-duplicate.
    pub(crate) fn is_idempotent(&self) -> bool {
        matches!(
            self,
            Self::Update { .. }
                | Self::Members { .. }
                | Self::IsPresent { .. }
                | Self::Publish { .. }
        )
    }
}

#[derive(Serialize)]
struct Request<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    #[serde(flatten)]
    op: &'a Op,
}

/// Encodes a request as the text of one frame.
pub(crate) fn encode(id: Option<u64>, op: &Op) -> String {
    // Ops hold strings, numbers, bools and JSON values only, and every map key is a string, so
    // serialization cannot fail.
    #[allow(clippy::expect_used)]
    serde_json::to_string(&Request { id, op }).expect("requests always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_proto::{Command, DataChange, RequestId, decode_request};
    use serde_json::json;

    fn channel() -> ChannelName {
        ChannelName::parse("room").unwrap()
    }

    fn ann() -> ClientId {
        ClientId::parse("ann").unwrap()
    }

    /// Every op, encoded by the SDK, decodes with the server's own decoder to the command meant.
    #[test]
    fn the_server_decoder_reads_every_op_as_intended() {
        let cases = [
            (
                Op::Join {
                    channel: channel(),
                    data: Some(json!({"a": 1})),
                },
                Command::Join {
                    channel: channel(),
                    data: Some(json!({"a": 1})),
                },
            ),
            (
                Op::Watch { channel: channel() },
                Command::Watch { channel: channel() },
            ),
            (
                Op::Leave { channel: channel() },
                Command::Leave { channel: channel() },
            ),
            (
                Op::Update {
                    channel: channel(),
                    data: None,
                    patch: Some(json!({"s": null})),
                },
                Command::Update {
                    channel: channel(),
                    change: DataChange::MergePatch(json!({"s": null})),
                },
            ),
            (
                Op::Members {
                    channel: channel(),
                    client_id: Some(ann()),
                },
                Command::Members {
                    channel: channel(),
                    client_id: Some(ann()),
                },
            ),
            (
                Op::IsPresent {
                    channel: channel(),
                    client_id: ann(),
                },
                Command::IsPresent {
                    channel: channel(),
                    client_id: ann(),
                },
            ),
            (
                Op::Publish {
                    channel: channel(),
                    data: json!("hi"),
                    echo: false,
                    message_id: "m1".into(),
                },
                Command::Publish {
                    channel: channel(),
                    data: json!("hi"),
                    echo: false,
                    message_id: Some("m1".into()),
                },
            ),
            (
                Op::Ephemeral {
                    channel: channel(),
                    data: json!(1),
                    echo: true,
                },
                Command::Ephemeral {
                    channel: channel(),
                    data: json!(1),
                    echo: true,
                },
            ),
            (
                Op::Invite {
                    channel: channel(),
                    client_id: ann(),
                    data: None,
                },
                Command::Invite {
                    channel: channel(),
                    client_id: ann(),
                    data: None,
                },
            ),
            (
                Op::InviteReply {
                    invitation_id: "inv_1".into(),
                    accept: true,
                    data: None,
                },
                Command::InviteReply {
                    invitation_id: "inv_1".into(),
                    accept: true,
                    data: None,
                },
            ),
            (Op::Ping, Command::Ping),
        ];
        for (n, (op, command)) in cases.into_iter().enumerate() {
            let text = encode(Some(n as u64), &op);
            let request = decode_request(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(request.id, Some(RequestId::Number(n as u64)), "{text}");
            assert_eq!(request.command, command, "{text}");
        }
        assert_eq!(encode(None, &Op::Ping), r#"{"op":"ping"}"#);
    }
}

//! Property tests of the request decoder on hostile input: it must answer every frame with a
//! request or a documented error, never panic, and keep a readable request id.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use rollcall_proto::{ErrorCode, decode_request};
use serde_json::{Map, Value, json};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const OPS: [&str; 12] = [
    "join",
    "watch",
    "leave",
    "update",
    "members",
    "is_present",
    "publish",
    "ephemeral",
    "invite",
    "invite_reply",
    "ping",
    "nope",
];

const FIELDS: [&str; 9] = [
    "channel",
    "data",
    "patch",
    "client_id",
    "echo",
    "message_id",
    "invitation_id",
    "accept",
    "id",
];

/// Requests that look almost right: a known op with a random subset of fields of random types.
fn near_request() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(&OPS[..]),
        prop::collection::vec((prop::sample::select(&FIELDS[..]), json_value()), 0..6),
    )
        .prop_map(|(op, fields)| {
            let mut map = Map::new();
            map.insert("op".into(), json!(op));
            for (name, value) in fields {
                map.insert(name.into(), value);
            }
            Value::Object(map)
        })
}

proptest! {
    #[test]
    fn arbitrary_text_is_answered_without_panicking(text in ".{0,200}") {
        if let Err(error) = decode_request(&text) {
            prop_assert!(ErrorCode::ALL.contains(&error.code));
        }
    }

    #[test]
    fn arbitrary_json_is_answered_without_panicking(value in json_value()) {
        let _ = decode_request(&value.to_string());
    }

    #[test]
    fn near_requests_decode_or_fail_with_a_request_level_code(value in near_request()) {
        match decode_request(&value.to_string()) {
            Ok(request) => prop_assert!(value["op"] != "nope", "{request:?}"),
            Err(error) => {
                prop_assert!(matches!(
                    error.code,
                    ErrorCode::InvalidMessage
                        | ErrorCode::UnknownOp
                        | ErrorCode::InvalidChannel
                        | ErrorCode::InvalidClientId
                ), "{error:?}");
                // The id is read first, so a valid one survives any later error.
                if let Some(id) = value.get("id").and_then(Value::as_u64) {
                    let echoed = error.id.map(|i| serde_json::to_value(i).unwrap());
                    prop_assert_eq!(echoed, Some(json!(id)));
                }
            }
        }
    }
}

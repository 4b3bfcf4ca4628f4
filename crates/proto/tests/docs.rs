//! Keeps `docs/protocol.md` in step with the codes the server can send: every error code's wire
//! name and every close code's number must appear in it.

use std::path::Path;

use rollcall_proto::{CloseCode, ErrorCode};

fn protocol_doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocol.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Whether `number` appears in `doc` as a whole number, not as part of a longer one (a
/// timestamp in an example transcript must not count as mentioning 1001).
fn mentions_number(doc: &str, number: u16) -> bool {
    let needle = number.to_string();
    doc.match_indices(&needle).any(|(at, _)| {
        let before = doc[..at].chars().next_back();
        let after = doc[at + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn every_error_code_is_documented() {
    let doc = protocol_doc();
    let missing: Vec<&str> = ErrorCode::ALL
        .iter()
        .map(|code| code.as_str())
        .filter(|name| !doc.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/protocol.md does not mention these error codes in backticks: {missing:?}"
    );
}

#[test]
fn every_close_code_is_documented() {
    let doc = protocol_doc();
    let missing: Vec<u16> = CloseCode::ALL
        .iter()
        .map(|code| code.code())
        .filter(|&number| !mentions_number(&doc, number))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/protocol.md does not mention these close codes: {missing:?}"
    );
}

#[test]
fn numbers_inside_longer_numbers_do_not_count() {
    assert!(mentions_number("close 4008 (heartbeat)", 4008));
    assert!(mentions_number("4008", 4008));
    assert!(!mentions_number("ts 1795440010019", 1001));
}

/// Fails to compile when a close code is added without a place in `CloseCode::ALL`'s order, and
/// fails at run time when `ALL` leaves one out or lists one twice.
#[test]
fn close_code_list_is_complete() {
    fn position(code: CloseCode) -> usize {
        match code {
            CloseCode::Normal => 0,
            CloseCode::GoingAway => 1,
            CloseCode::ProtocolError => 2,
            CloseCode::InvalidPayload => 3,
            CloseCode::MessageTooBig => 4,
            CloseCode::InternalError => 5,
            CloseCode::BadRequest => 6,
            CloseCode::UnknownApp => 7,
            CloseCode::Unauthorized => 8,
            CloseCode::HeartbeatTimeout => 9,
            CloseCode::SlowConsumer => 10,
            CloseCode::ServerFull => 11,
        }
    }
    for (index, code) in CloseCode::ALL.iter().enumerate() {
        assert_eq!(
            position(*code),
            index,
            "{code:?} is out of place in CloseCode::ALL"
        );
    }
}

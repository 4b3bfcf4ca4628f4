//! Members as the SDK sees them, and the comparison that turns two member lists into the events
//! that explain the difference.

use std::collections::BTreeMap;

use rollcall_core::{ChannelName, ClientId, ConnectionId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::ChannelEvent;

/// One member of a channel: a client id, aggregated over all of its connections (devices).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Who the member is.
    pub client_id: ClientId,
    /// The member's data: always a JSON object.
    pub data: Value,
    /// When the member's first connection entered (server time, Unix ms).
    pub joined_at: u64,
    /// When the member last changed, data or connections (server time, Unix ms).
    pub updated_at: u64,
    /// The connections through which the member is present, oldest first.
    pub connections: Vec<MemberConnection>,
}

/// One connection (device) of a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberConnection {
    /// The connection's id.
    pub connection_id: ConnectionId,
    /// When this connection entered the channel (server time, Unix ms).
    pub joined_at: u64,
}

/// Why a member that is still present changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateReason {
    /// The member's data was replaced or patched.
    Data,
    /// Another connection of the same client entered the channel.
    ConnectionAdded,
    /// One of the member's connections left, and at least one remains.
    ConnectionRemoved,
    /// The difference was found when comparing the local view with a fresh member list, after a
    /// reconnect or a sequence gap; what happened in between is not known.
    Reconciled,
}

/// A channel's member list as the server answered a `members` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberList {
    /// The channel.
    pub channel: ChannelName,
    /// The channel's sequence number the list is current at.
    pub seq: u64,
    /// Every member, sorted by client id.
    pub members: Vec<Member>,
}

/// The local view of a channel's members, keyed (and so ordered) by client id.
pub(crate) type MemberMap = BTreeMap<ClientId, Member>;

pub(crate) fn to_map(members: Vec<Member>) -> MemberMap {
    members
        .into_iter()
        .map(|m| (m.client_id.clone(), m))
        .collect()
}

/// Whether the application would see a difference. Connection ids and timestamps change on
/// every reconnect of every member (a server restart renews them all), so they do not count;
/// data and the number of devices do.
fn differs(old: &Member, new: &Member) -> bool {
    old.data != new.data || old.connections.len() != new.connections.len()
}

/// The events that turn `old` into `new`: leaves, then joins, then updates, each in client id
/// order. Members that did not really change produce nothing.
pub(crate) fn reconcile(old: &MemberMap, new: &MemberMap) -> Vec<ChannelEvent> {
    let left = old
        .iter()
        .filter(|(id, _)| !new.contains_key(*id))
        .map(|(_, m)| ChannelEvent::MemberLeft(m.clone()));
    let joined = new
        .iter()
        .filter(|(id, _)| !old.contains_key(*id))
        .map(|(_, m)| ChannelEvent::MemberJoined(m.clone()));
    let updated = new.iter().filter_map(|(id, member)| {
        let previous = old.get(id)?;
        differs(previous, member).then(|| ChannelEvent::MemberUpdated {
            member: member.clone(),
            previous: Some(previous.clone()),
            reason: UpdateReason::Reconciled,
        })
    });
    left.chain(joined).chain(updated).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn member(id: &str, data: Value, devices: u64) -> Member {
        Member {
            client_id: ClientId::parse(id).unwrap(),
            data,
            joined_at: 1,
            updated_at: 1,
            connections: (0..devices)
                .map(|n| MemberConnection {
                    connection_id: ConnectionId::new(1, n),
                    joined_at: 1,
                })
                .collect(),
        }
    }

    fn kinds(events: &[ChannelEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                ChannelEvent::MemberJoined(m) => format!("+{}", m.client_id),
                ChannelEvent::MemberLeft(m) => format!("-{}", m.client_id),
                ChannelEvent::MemberUpdated { member, .. } => format!("~{}", member.client_id),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn only_real_differences_become_events() {
        let old = to_map(vec![
            member("ann", json!({"s": 1}), 1),
            member("bob", json!({}), 1),
            member("cat", json!({}), 2),
            member("dan", json!({}), 1),
        ]);
        let mut renewed_dan = member("dan", json!({}), 1);
        renewed_dan.connections[0].connection_id = ConnectionId::new(9, 9);
        renewed_dan.joined_at = 99;
        let new = to_map(vec![
            member("ann", json!({"s": 2}), 1),
            member("cat", json!({}), 1),
            renewed_dan,
            member("eve", json!({}), 1),
        ]);
        assert_eq!(
            kinds(&reconcile(&old, &new)),
            ["-bob", "+eve", "~ann", "~cat"]
        );
        assert!(reconcile(&new, &new).is_empty());
    }
}

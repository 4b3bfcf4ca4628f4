//! The presence registry: which client ids are members of which channels, over which connections.
//!
//! A *member* is one client id in one channel, aggregated over that client's connections
//! (devices). The registry enforces the lifecycle every subscriber relies on: exactly one
//! [`Transition::Joined`] when the client's first connection enters a channel, exactly one
//! [`Transition::Left`] when its last connection goes, and [`Transition::Updated`] for everything
//! in between (data changes, devices coming and going).

use std::collections::HashMap;

use serde::Serialize;

use crate::{ChannelName, ClientId, ConnectionId, MemberData};

/// One connection (device) through which a member is present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionEntry {
    /// The connection's id.
    pub connection_id: ConnectionId,
    /// When this connection entered the channel (Unix ms).
    pub joined_at: u64,
}

/// A member of a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Who the member is.
    pub client_id: ClientId,
    /// The member's data, shared by all of its connections.
    pub data: MemberData,
    /// When the member's first connection entered (Unix ms).
    pub joined_at: u64,
    /// When the member last changed: data or connections (Unix ms).
    pub updated_at: u64,
    /// The connections through which the member is present, oldest first. Never empty for a
    /// present member; empty in the member carried by [`Transition::Left`].
    pub connections: Vec<ConnectionEntry>,
}

/// Why a member that is still present changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateReason {
    /// The member's data was replaced or patched.
    Data,
    /// Another connection of the same client entered the channel.
    ConnectionAdded,
    /// One of the member's connections left, and at least one remains.
    ConnectionRemoved,
}

/// What a command did to a channel's membership, for the caller to turn into an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The client's first connection entered: the member is new to the channel.
    Joined {
        /// The member as it now is.
        member: Member,
        /// The connection that entered.
        connection_id: ConnectionId,
    },
    /// The member is still present and changed.
    Updated {
        /// The member as it now is.
        member: Member,
        /// The connection whose command caused the change.
        connection_id: ConnectionId,
        /// What changed.
        reason: UpdateReason,
    },
    /// The client's last connection left: the member is gone from the channel.
    Left {
        /// The member as it was just before leaving, with the leaving connection removed.
        member: Member,
        /// The connection that left.
        connection_id: ConnectionId,
    },
    /// The command was valid but changed nothing (an update to identical data).
    Unchanged,
}

/// Why the registry refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresenceError {
    /// The connection is already a member of the channel.
    #[error("this connection has already joined the channel")]
    AlreadyJoined,
    /// The connection is not a member of the channel.
    #[error("this connection has not joined the channel")]
    NotJoined,
    /// The channel has reached its member limit; only devices of existing members may enter.
    #[error("the channel is full ({max} members)")]
    ChannelFull {
        /// The member limit.
        max: usize,
    },
}

#[derive(Debug, Default)]
struct ChannelMembers {
    members: HashMap<ClientId, Member>,
    clients: HashMap<ConnectionId, ClientId>,
}

/// The presence state of many channels.
///
/// All methods take the current time from the caller (`now`, Unix ms) so the registry stays
/// deterministic.
#[derive(Debug, Default)]
pub struct Registry {
    channels: HashMap<ChannelName, ChannelMembers>,
    by_connection: HashMap<ConnectionId, Vec<ChannelName>>,
}

impl Registry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Enters `connection`, identified as `client`, into `channel`.
    ///
    /// `data` replaces the member's data when given; when absent, a new member gets `{}` and an
    /// existing member keeps its data. `max_members` caps the number of distinct client ids.
    ///
    /// # Errors
    /// [`PresenceError::AlreadyJoined`] or [`PresenceError::ChannelFull`]; the registry is unchanged.
    pub fn join(
        &mut self,
        channel: &ChannelName,
        connection: ConnectionId,
        client: &ClientId,
        data: Option<MemberData>,
        max_members: usize,
        now: u64,
    ) -> Result<Transition, PresenceError> {
        let state = self.channels.entry(channel.clone()).or_default();
        if state.clients.contains_key(&connection) {
            return Err(PresenceError::AlreadyJoined);
        }
        let entry = ConnectionEntry {
            connection_id: connection,
            joined_at: now,
        };
        let transition = if let Some(member) = state.members.get_mut(client) {
            member.connections.push(entry);
            if let Some(data) = data {
                member.data = data;
            }
            member.updated_at = now;
            Transition::Updated {
                member: member.clone(),
                connection_id: connection,
                reason: UpdateReason::ConnectionAdded,
            }
        } else {
            if state.members.len() >= max_members {
                if state.members.is_empty() {
                    self.channels.remove(channel);
                }
                return Err(PresenceError::ChannelFull { max: max_members });
            }
            let member = Member {
                client_id: client.clone(),
                data: data.unwrap_or_else(MemberData::empty),
                joined_at: now,
                updated_at: now,
                connections: vec![entry],
            };
            state.members.insert(client.clone(), member.clone());
            Transition::Joined {
                member,
                connection_id: connection,
            }
        };
        state.clients.insert(connection, client.clone());
        self.by_connection
            .entry(connection)
            .or_default()
            .push(channel.clone());
        Ok(transition)
    }

    /// Replaces the data of the member that `connection` is part of in `channel`.
    ///
    /// # Errors
    /// [`PresenceError::NotJoined`] when the connection is not a member of the channel.
    pub fn update(
        &mut self,
        channel: &ChannelName,
        connection: ConnectionId,
        data: MemberData,
        now: u64,
    ) -> Result<Transition, PresenceError> {
        let state = self
            .channels
            .get_mut(channel)
            .ok_or(PresenceError::NotJoined)?;
        let client = state
            .clients
            .get(&connection)
            .ok_or(PresenceError::NotJoined)?;
        // `clients` and `members` are kept in step: a client in `clients` always has a member.
        let Some(member) = state.members.get_mut(client) else {
            return Err(PresenceError::NotJoined);
        };
        if member.data == data {
            return Ok(Transition::Unchanged);
        }
        member.data = data;
        member.updated_at = now;
        Ok(Transition::Updated {
            member: member.clone(),
            connection_id: connection,
            reason: UpdateReason::Data,
        })
    }

    /// Removes `connection` from `channel`.
    ///
    /// # Errors
    /// [`PresenceError::NotJoined`] when the connection is not a member of the channel.
    pub fn leave(
        &mut self,
        channel: &ChannelName,
        connection: ConnectionId,
        now: u64,
    ) -> Result<Transition, PresenceError> {
        let transition = self.remove_from_channel(channel, connection, now)?;
        if let Some(channels) = self.by_connection.get_mut(&connection) {
            channels.retain(|c| c != channel);
            if channels.is_empty() {
                self.by_connection.remove(&connection);
            }
        }
        Ok(transition)
    }

    /// Removes `connection` from every channel it is in, as when its socket closes.
    pub fn disconnect(
        &mut self,
        connection: ConnectionId,
        now: u64,
    ) -> Vec<(ChannelName, Transition)> {
        let channels = self.by_connection.remove(&connection).unwrap_or_default();
        channels
            .into_iter()
            .filter_map(|channel| {
                let transition = self.remove_from_channel(&channel, connection, now).ok()?;
                Some((channel, transition))
            })
            .collect()
    }

    fn remove_from_channel(
        &mut self,
        channel: &ChannelName,
        connection: ConnectionId,
        now: u64,
    ) -> Result<Transition, PresenceError> {
        let state = self
            .channels
            .get_mut(channel)
            .ok_or(PresenceError::NotJoined)?;
        let client = state
            .clients
            .remove(&connection)
            .ok_or(PresenceError::NotJoined)?;
        let Some(member) = state.members.get_mut(&client) else {
            return Err(PresenceError::NotJoined);
        };
        member.connections.retain(|c| c.connection_id != connection);
        let transition = if member.connections.is_empty() {
            let mut member = state
                .members
                .remove(&client)
                .ok_or(PresenceError::NotJoined)?;
            member.updated_at = now;
            Transition::Left {
                member,
                connection_id: connection,
            }
        } else {
            member.updated_at = now;
            Transition::Updated {
                member: member.clone(),
                connection_id: connection,
                reason: UpdateReason::ConnectionRemoved,
            }
        };
        if state.members.is_empty() {
            self.channels.remove(channel);
        }
        Ok(transition)
    }

    /// The members of `channel`, in no particular order.
    pub fn members(&self, channel: &ChannelName) -> impl Iterator<Item = &Member> {
        self.channels
            .get(channel)
            .into_iter()
            .flat_map(|c| c.members.values())
    }

    /// The member `client` of `channel`, if present.
    #[must_use]
    pub fn member(&self, channel: &ChannelName, client: &ClientId) -> Option<&Member> {
        self.channels.get(channel)?.members.get(client)
    }

    /// The member that `connection` is part of in `channel`, if it has joined.
    #[must_use]
    pub fn member_of(&self, channel: &ChannelName, connection: ConnectionId) -> Option<&Member> {
        let state = self.channels.get(channel)?;
        state.members.get(state.clients.get(&connection)?)
    }

    /// How many members `channel` has.
    #[must_use]
    pub fn member_count(&self, channel: &ChannelName) -> usize {
        self.channels.get(channel).map_or(0, |c| c.members.len())
    }

    /// How many channels have at least one member.
    #[must_use]
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn channel(name: &str) -> ChannelName {
        ChannelName::parse(name).unwrap()
    }

    fn client(name: &str) -> ClientId {
        ClientId::parse(name).unwrap()
    }

    fn data(v: u32) -> MemberData {
        MemberData::from_value(&json!({ "v": v }), 100).unwrap()
    }

    #[test]
    fn second_device_gives_updated_connection_added() {
        let (room, ann) = (channel("room"), client("ann"));
        let (phone, laptop) = (ConnectionId::new(1, 1), ConnectionId::new(1, 2));
        let mut reg = Registry::new();
        let first = reg.join(&room, phone, &ann, Some(data(1)), 10, 100);
        assert!(
            matches!(first, Ok(Transition::Joined { connection_id, .. }) if connection_id == phone)
        );

        let second = reg.join(&room, laptop, &ann, None, 10, 200).unwrap();
        let Transition::Updated {
            member,
            connection_id,
            reason,
        } = second
        else {
            panic!("expected Updated, got {second:?}");
        };
        assert_eq!(reason, UpdateReason::ConnectionAdded);
        assert_eq!(connection_id, laptop);
        assert_eq!(member.data, data(1), "joining without data keeps the data");
        assert_eq!((member.joined_at, member.updated_at), (100, 200));
        let ids: Vec<_> = member.connections.iter().map(|c| c.connection_id).collect();
        assert_eq!(ids, [phone, laptop]);
        assert_eq!(reg.member_count(&room), 1);
        assert_eq!(
            reg.join(&room, laptop, &ann, None, 10, 300),
            Err(PresenceError::AlreadyJoined)
        );
    }

    #[test]
    fn last_device_leaving_gives_left() {
        let (room, ann) = (channel("room"), client("ann"));
        let (phone, laptop) = (ConnectionId::new(1, 1), ConnectionId::new(1, 2));
        let mut reg = Registry::new();
        reg.join(&room, phone, &ann, None, 10, 100).unwrap();
        reg.join(&room, laptop, &ann, None, 10, 200).unwrap();

        let first_out = reg.leave(&room, phone, 300).unwrap();
        assert!(matches!(
            first_out,
            Transition::Updated { reason: UpdateReason::ConnectionRemoved, connection_id, .. }
                if connection_id == phone
        ));
        let last_out = reg.disconnect(laptop, 400);
        let [
            (
                left_room,
                Transition::Left {
                    member,
                    connection_id,
                },
            ),
        ] = last_out.as_slice()
        else {
            panic!("expected one Left, got {last_out:?}");
        };
        assert_eq!((left_room, *connection_id), (&room, laptop));
        assert_eq!(member.client_id, ann);
        assert!(member.connections.is_empty());
        assert_eq!(reg.member_count(&room), 0);
        assert_eq!(reg.channel_count(), 0);
        assert_eq!(reg.leave(&room, laptop, 500), Err(PresenceError::NotJoined));
        assert!(reg.disconnect(laptop, 500).is_empty());
    }

    #[test]
    fn channel_full_leaves_registry_unchanged() {
        let (room, ann, bob) = (channel("room"), client("ann"), client("bob"));
        let (a1, a2, b1) = (
            ConnectionId::new(1, 1),
            ConnectionId::new(1, 2),
            ConnectionId::new(1, 3),
        );
        let mut reg = Registry::new();
        reg.join(&room, a1, &ann, Some(data(1)), 1, 100).unwrap();
        let before = reg.member(&room, &ann).cloned();

        assert_eq!(
            reg.join(&room, b1, &bob, Some(data(2)), 1, 200),
            Err(PresenceError::ChannelFull { max: 1 })
        );
        assert_eq!(reg.member(&room, &ann).cloned(), before);
        assert_eq!(reg.member(&room, &bob), None);
        assert_eq!(reg.member_of(&room, b1), None);
        assert_eq!(reg.member_count(&room), 1);
        assert!(reg.disconnect(b1, 250).is_empty());

        // A full channel still lets an existing member's other devices in.
        assert!(matches!(
            reg.join(&room, a2, &ann, None, 1, 300),
            Ok(Transition::Updated {
                reason: UpdateReason::ConnectionAdded,
                ..
            })
        ));

        // A refused first join must not leave an empty channel behind.
        let empty = channel("empty");
        assert_eq!(
            reg.join(&empty, b1, &bob, None, 0, 400),
            Err(PresenceError::ChannelFull { max: 0 })
        );
        assert_eq!(reg.channel_count(), 1);
        assert_eq!(reg.members(&empty).count(), 0);
    }
}

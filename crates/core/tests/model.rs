//! Model-based test of the presence registry (DESIGN.md §4.1, §4.7, §6).
//!
//! Random sequences of join / leave / update / disconnect over a small universe (3 channels,
//! 6 connections, 3 client ids; connection `i` always belongs to client `i % 3`) are applied both
//! to [`Registry`] and to a tiny reference model that is obviously correct. After every operation
//! the result and the whole observable state must agree with the model, and a per-member event
//! log must show exactly one `Joined` and one `Left` per member lifetime.
//!
//! Conventions checked (decided from `registry.rs` and its docs):
//! - a `Left` transition carries the member as it was, with the leaving connection removed; as it
//!   was the last connection, its `connections` list is empty, and its `updated_at` is the time
//!   of the leave (removing a connection is a change);
//! - `updated_at` is the time of the last change to data *or* connections; `Unchanged` and errors
//!   change nothing;
//! - connections are listed oldest first, each with the time it entered.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rollcall_core::{
    ChannelName, ClientId, ConnectionEntry, ConnectionId, Member, MemberData, PresenceError,
    Registry, Transition, UpdateReason,
};
use serde_json::json;

const CHANNELS: usize = 3;
const CONNECTIONS: usize = 6;
const CLIENTS: usize = 3;
/// Distinct non-empty data values `{"v":0}`..`{"v":3}`.
const VALUES: u8 = 4;

/// A member-data value of the universe: `None` is `{}` (what a member gets when it joins without
/// data), `Some(k)` is `{"v":k}`.
type Val = Option<u8>;

#[derive(Debug, Clone)]
enum Op {
    Join {
        chan: usize,
        conn: usize,
        /// `None`: join without data.
        data: Option<Val>,
        /// `None`: no practical limit.
        max: Option<usize>,
    },
    Leave {
        chan: usize,
        conn: usize,
    },
    Update {
        chan: usize,
        conn: usize,
        data: Val,
    },
    Disconnect {
        conn: usize,
    },
}

fn val() -> impl Strategy<Value = Val> {
    prop_oneof![1 => Just(None), 4 => (0..VALUES).prop_map(Some)]
}

fn op() -> impl Strategy<Value = Op> {
    let chan = 0..CHANNELS;
    let conn = 0..CONNECTIONS;
    prop_oneof![
        5 => (
            chan.clone(),
            conn.clone(),
            prop::option::weighted(0.6, val()),
            prop::option::weighted(0.3, 0..=2usize),
        )
            .prop_map(|(chan, conn, data, max)| Op::Join { chan, conn, data, max }),
        2 => (chan.clone(), conn.clone()).prop_map(|(chan, conn)| Op::Leave { chan, conn }),
        3 => (chan, conn.clone(), val()).prop_map(|(chan, conn, data)| Op::Update { chan, conn, data }),
        1 => conn.prop_map(|conn| Op::Disconnect { conn }),
    ]
}

/// The reference model's view of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ModelMember {
    data: Val,
    joined_at: u64,
    updated_at: u64,
    /// `(connection index, joined_at)`, oldest first.
    conns: Vec<(usize, u64)>,
}

/// Lifecycle events seen for one `(channel, client)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Joined,
    Left,
}

/// What the model predicts an operation on one channel returns.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Joined,
    Updated(UpdateReason),
    Left,
    Unchanged,
    Err(PresenceError),
}

struct Universe {
    channels: Vec<ChannelName>,
    clients: Vec<ClientId>,
    connections: Vec<ConnectionId>,
}

impl Universe {
    fn new() -> Self {
        Self {
            channels: (0..CHANNELS)
                .map(|i| ChannelName::parse(&format!("presence-c{i}")).unwrap())
                .collect(),
            clients: (0..CLIENTS)
                .map(|i| ClientId::parse(&format!("user-{i}")).unwrap())
                .collect(),
            connections: (0..CONNECTIONS)
                .map(|i| ConnectionId::new(7, i as u64))
                .collect(),
        }
    }

    fn data(val: Val) -> MemberData {
        match val {
            None => MemberData::empty(),
            Some(k) => MemberData::from_value(&json!({ "v": k }), 1024).unwrap(),
        }
    }

    fn client_of(conn: usize) -> usize {
        conn % CLIENTS
    }

    fn chan_index(&self, name: &ChannelName) -> usize {
        self.channels.iter().position(|c| c == name).unwrap()
    }

    /// The registry member the model member should be.
    fn member(&self, client: usize, m: &ModelMember) -> Member {
        Member {
            client_id: self.clients[client].clone(),
            data: Self::data(m.data),
            joined_at: m.joined_at,
            updated_at: m.updated_at,
            connections: m
                .conns
                .iter()
                .map(|&(conn, joined_at)| ConnectionEntry {
                    connection_id: self.connections[conn],
                    joined_at,
                })
                .collect(),
        }
    }
}

#[derive(Default)]
struct Model {
    members: BTreeMap<(usize, usize), ModelMember>,
    log: BTreeMap<(usize, usize), Vec<Life>>,
}

impl Model {
    fn record(&mut self, key: (usize, usize), life: Life) {
        let log = self.log.entry(key).or_default();
        let expected = if log.len() % 2 == 0 {
            Life::Joined
        } else {
            Life::Left
        };
        assert_eq!(life, expected, "lifecycle of {key:?} after {log:?}");
        log.push(life);
    }

    fn member_count(&self, chan: usize) -> usize {
        self.members.keys().filter(|(c, _)| *c == chan).count()
    }

    fn channels_of(&self, conn: usize) -> BTreeSet<usize> {
        let client = Universe::client_of(conn);
        self.members
            .iter()
            .filter(|((_, cl), m)| *cl == client && m.conns.iter().any(|(c, _)| *c == conn))
            .map(|((chan, _), _)| *chan)
            .collect()
    }

    fn join(
        &mut self,
        chan: usize,
        conn: usize,
        data: Option<Val>,
        max: usize,
        now: u64,
    ) -> Expect {
        let key = (chan, Universe::client_of(conn));
        let count = self.member_count(chan);
        match self.members.get_mut(&key) {
            Some(m) if m.conns.iter().any(|(c, _)| *c == conn) => {
                Expect::Err(PresenceError::AlreadyJoined)
            }
            Some(m) => {
                m.conns.push((conn, now));
                if let Some(data) = data {
                    m.data = data;
                }
                m.updated_at = now;
                Expect::Updated(UpdateReason::ConnectionAdded)
            }
            None if count >= max => Expect::Err(PresenceError::ChannelFull { max }),
            None => {
                self.members.insert(
                    key,
                    ModelMember {
                        data: data.unwrap_or(None),
                        joined_at: now,
                        updated_at: now,
                        conns: vec![(conn, now)],
                    },
                );
                self.record(key, Life::Joined);
                Expect::Joined
            }
        }
    }

    fn update(&mut self, chan: usize, conn: usize, data: Val, now: u64) -> Expect {
        let key = (chan, Universe::client_of(conn));
        match self.members.get_mut(&key) {
            Some(m) if m.conns.iter().any(|(c, _)| *c == conn) => {
                if m.data == data {
                    Expect::Unchanged
                } else {
                    m.data = data;
                    m.updated_at = now;
                    Expect::Updated(UpdateReason::Data)
                }
            }
            _ => Expect::Err(PresenceError::NotJoined),
        }
    }

    /// Removes `conn` from `chan`; on `Left`, also returns the member as the transition carries it.
    fn leave(&mut self, chan: usize, conn: usize, now: u64) -> (Expect, Option<ModelMember>) {
        let key = (chan, Universe::client_of(conn));
        let Some(m) = self.members.get_mut(&key) else {
            return (Expect::Err(PresenceError::NotJoined), None);
        };
        let Some(pos) = m.conns.iter().position(|(c, _)| *c == conn) else {
            return (Expect::Err(PresenceError::NotJoined), None);
        };
        m.conns.remove(pos);
        m.updated_at = now;
        if m.conns.is_empty() {
            let gone = self.members.remove(&key);
            self.record(key, Life::Left);
            (Expect::Left, gone)
        } else {
            (Expect::Updated(UpdateReason::ConnectionRemoved), None)
        }
    }
}

/// Checks one transition against the model's prediction and the model state after the op.
fn check_transition(
    u: &Universe,
    model: &Model,
    chan: usize,
    conn: usize,
    expect: &Expect,
    left: Option<&ModelMember>,
    got: &Result<Transition, PresenceError>,
) {
    let client = Universe::client_of(conn);
    let conn_id = u.connections[conn];
    let current = || u.member(client, &model.members[&(chan, client)]);
    match (expect, got) {
        (Expect::Err(e), Err(g)) => assert_eq!(e, g),
        (Expect::Unchanged, Ok(Transition::Unchanged)) => {}
        (
            Expect::Joined,
            Ok(Transition::Joined {
                member,
                connection_id,
            }),
        ) => {
            assert_eq!(*connection_id, conn_id);
            assert_eq!(*member, current());
        }
        (
            Expect::Updated(reason),
            Ok(Transition::Updated {
                member,
                connection_id,
                reason: got_reason,
            }),
        ) => {
            assert_eq!(reason, got_reason);
            assert_eq!(*connection_id, conn_id);
            assert_eq!(*member, current());
        }
        (
            Expect::Left,
            Ok(Transition::Left {
                member,
                connection_id,
            }),
        ) => {
            assert_eq!(*connection_id, conn_id);
            assert_eq!(*member, u.member(client, left.unwrap()));
            assert!(member.connections.is_empty());
        }
        (expect, got) => panic!("expected {expect:?}, got {got:?}"),
    }
}

/// Every read-side query agrees with the model.
fn check_state(u: &Universe, reg: &Registry, model: &Model) {
    let live: BTreeSet<usize> = model.members.keys().map(|(chan, _)| *chan).collect();
    assert_eq!(reg.channel_count(), live.len(), "channel_count");
    for chan in 0..CHANNELS {
        let name = &u.channels[chan];
        let mut got: Vec<Member> = reg.members(name).cloned().collect();
        got.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        let want: Vec<Member> = model
            .members
            .iter()
            .filter(|((c, _), _)| *c == chan)
            .map(|((_, client), m)| u.member(*client, m))
            .collect();
        assert_eq!(got, want, "members of {name}");
        assert_eq!(reg.member_count(name), want.len(), "member_count of {name}");
        for client in 0..CLIENTS {
            let want = model
                .members
                .get(&(chan, client))
                .map(|m| u.member(client, m));
            assert_eq!(reg.member(name, &u.clients[client]).cloned(), want);
        }
        for conn in 0..CONNECTIONS {
            let client = Universe::client_of(conn);
            let want = model
                .members
                .get(&(chan, client))
                .filter(|m| m.conns.iter().any(|(c, _)| *c == conn))
                .map(|m| u.member(client, m));
            assert_eq!(reg.member_of(name, u.connections[conn]).cloned(), want);
        }
    }
}

fn apply(u: &Universe, reg: &mut Registry, model: &mut Model, op: &Op, now: u64) {
    match *op {
        Op::Join {
            chan,
            conn,
            data,
            max,
        } => {
            let max = max.unwrap_or(usize::MAX);
            let expect = model.join(chan, conn, data, max, now);
            let got = reg.join(
                &u.channels[chan],
                u.connections[conn],
                &u.clients[Universe::client_of(conn)],
                data.map(Universe::data),
                max,
                now,
            );
            check_transition(u, model, chan, conn, &expect, None, &got);
        }
        Op::Leave { chan, conn } => {
            let (expect, left) = model.leave(chan, conn, now);
            let got = reg.leave(&u.channels[chan], u.connections[conn], now);
            check_transition(u, model, chan, conn, &expect, left.as_ref(), &got);
        }
        Op::Update { chan, conn, data } => {
            let expect = model.update(chan, conn, data, now);
            let got = reg.update(
                &u.channels[chan],
                u.connections[conn],
                Universe::data(data),
                now,
            );
            check_transition(u, model, chan, conn, &expect, None, &got);
        }
        Op::Disconnect { conn } => {
            let before = model.channels_of(conn);
            let got = reg.disconnect(u.connections[conn], now);
            let chans: Vec<usize> = got.iter().map(|(c, _)| u.chan_index(c)).collect();
            let distinct: BTreeSet<usize> = chans.iter().copied().collect();
            assert_eq!(chans.len(), distinct.len(), "one transition per channel");
            assert_eq!(distinct, before, "disconnect covers exactly its channels");
            // Channels are independent, so the order of the transitions does not matter.
            for (chan, transition) in got {
                let chan = u.chan_index(&chan);
                let (expect, left) = model.leave(chan, conn, now);
                assert_ne!(expect, Expect::Err(PresenceError::NotJoined));
                check_transition(
                    u,
                    model,
                    chan,
                    conn,
                    &expect,
                    left.as_ref(),
                    &Ok(transition),
                );
            }
            assert!(model.channels_of(conn).is_empty());
        }
    }
    check_state(u, reg, model);
}

fn run(ops: &[Op]) {
    let u = Universe::new();
    let mut reg = Registry::new();
    let mut model = Model::default();
    let mut now = 1_000;
    for op in ops {
        now += 10;
        apply(&u, &mut reg, &mut model, op, now);
    }
    // Every connection drops: each member still present must get its Left.
    for conn in 0..CONNECTIONS {
        now += 10;
        apply(&u, &mut reg, &mut model, &Op::Disconnect { conn }, now);
    }
    assert!(model.members.is_empty());
    assert_eq!(reg.channel_count(), 0);
    for (key, log) in &model.log {
        assert_eq!(log.last(), Some(&Life::Left), "{key:?} never left: {log:?}");
        let joins = log.iter().filter(|l| **l == Life::Joined).count();
        assert_eq!(joins * 2, log.len(), "{key:?}: {log:?}");
    }
}

proptest! {
    #[test]
    fn registry_matches_the_model(ops in prop::collection::vec(op(), 0..200)) {
        run(&ops);
    }
}

#[test]
fn full_channel_refuses_new_clients_but_not_new_devices() {
    run(&[
        Op::Join {
            chan: 0,
            conn: 0,
            data: None,
            max: Some(1),
        },
        Op::Join {
            chan: 0,
            conn: 1,
            data: Some(Some(1)),
            max: Some(1),
        },
        Op::Join {
            chan: 0,
            conn: 3,
            data: Some(Some(2)),
            max: Some(1),
        },
        Op::Join {
            chan: 1,
            conn: 2,
            data: None,
            max: Some(0),
        },
    ]);
}

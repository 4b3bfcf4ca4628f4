//! Micro-benchmarks of the presence registry's hot paths: the transitions every join, update and
//! leave goes through, in small channels and in a 10k-member one, and the snapshot walk that a
//! join's ack costs (what makes a naive join storm O(N²)).
//!
//! Run with `cargo bench -p rollcall-core --bench registry`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rollcall_core::{ChannelName, ClientId, ConnectionId, MemberData, Registry};
use serde_json::json;

const MAX_MEMBERS: usize = 100_000;
const MAX_DATA: usize = 2048;
const NOW: u64 = 1_795_446_674_865;

fn channel(name: &str) -> ChannelName {
    ChannelName::parse(name).expect("a valid channel name")
}

fn client(i: u64) -> ClientId {
    ClientId::parse(&format!("user-{i}")).expect("a valid client id")
}

fn data(value: &serde_json::Value) -> MemberData {
    MemberData::from_value(value, MAX_DATA).expect("small object data")
}

/// A registry with `members` members in `channel`, connections `1..=members`.
fn populated(channel: &ChannelName, members: u64) -> Registry {
    let mut registry = Registry::new();
    let profile = data(&json!({"name": "someone", "status": "online"}));
    for i in 1..=members {
        registry
            .join(
                channel,
                ConnectionId::new(1, i),
                &client(i),
                Some(profile.clone()),
                MAX_MEMBERS,
                NOW,
            )
            .expect("a fresh connection joins");
    }
    registry
}

fn transitions(c: &mut Criterion) {
    let room = channel("room-1");
    let profile = data(&json!({"name": "Ann", "status": "online"}));

    for members in [10, 10_000] {
        let mut registry = populated(&room, members);
        let newcomer = client(u64::MAX);
        let connection = ConnectionId::new(2, 1);
        c.bench_function(
            &format!("join+leave new member, channel of {members}"),
            |b| {
                b.iter(|| {
                    let joined = registry.join(
                        &room,
                        connection,
                        &newcomer,
                        Some(profile.clone()),
                        MAX_MEMBERS,
                        NOW,
                    );
                    let left = registry.leave(&room, connection, NOW);
                    black_box((joined, left))
                });
            },
        );
    }

    {
        let mut registry = populated(&room, 10);
        // A second device of member 1: `update` connection_added, then connection_removed.
        let device = ConnectionId::new(2, 2);
        c.bench_function("join+leave second device, channel of 10", |b| {
            b.iter(|| {
                let added = registry.join(&room, device, &client(1), None, MAX_MEMBERS, NOW);
                let removed = registry.leave(&room, device, NOW);
                black_box((added, removed))
            });
        });
    }

    {
        let mut registry = populated(&room, 100);
        let away = data(&json!({"name": "someone", "status": "away"}));
        let online = data(&json!({"name": "someone", "status": "online"}));
        let connection = ConnectionId::new(1, 1);
        c.bench_function("update data (two changes), channel of 100", |b| {
            b.iter(|| {
                let first = registry.update(&room, connection, away.clone(), NOW);
                let second = registry.update(&room, connection, online.clone(), NOW);
                black_box((first, second))
            });
        });
    }

    {
        let mut registry = populated(&room, 10);
        let online = data(&json!({"name": "someone", "status": "online"}));
        c.bench_function("update unchanged data, channel of 10", |b| {
            b.iter(|| {
                black_box(registry.update(&room, ConnectionId::new(1, 1), online.clone(), NOW))
            });
        });
    }

    {
        // One connection in 10 channels drops: ten `Left` transitions.
        let rooms: Vec<ChannelName> = (0..10).map(|i| channel(&format!("room-{i}"))).collect();
        let connection = ConnectionId::new(3, 1);
        c.bench_function("disconnect from 10 channels", |b| {
            b.iter_batched(
                || {
                    let mut registry = Registry::new();
                    for room in &rooms {
                        registry
                            .join(room, connection, &client(7), None, MAX_MEMBERS, NOW)
                            .expect("joins");
                    }
                    registry
                },
                |mut registry| black_box(registry.disconnect(connection, NOW)),
                BatchSize::SmallInput,
            );
        });
    }
}

fn snapshots(c: &mut Criterion) {
    let room = channel("room-1");
    let registry = populated(&room, 10_000);
    c.bench_function("snapshot: serialize 10k members", |b| {
        b.iter(|| {
            let members: Vec<_> = registry.members(&room).collect();
            black_box(serde_json::to_vec(&members).expect("members serialize"))
        });
    });
}

criterion_group!(benches, transitions, snapshots);
criterion_main!(benches);

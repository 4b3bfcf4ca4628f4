//! Micro-benchmarks of the hub's fan-out: one `publish` to a channel of N subscribers, which
//! encodes the event once per protocol present and pushes the frame into every subscriber's
//! queue, all under the channel's lock. What a publish costs the server before any socket work
//! (the writers' sends are measured end to end by `rollcall bench fanout`).
//!
//! Run with `cargo bench -p rollcall-server --bench fanout`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use rollcall_core::{ChannelName, ConnectionId};
use rollcall_server::bench_internals::{Answer, Hub, Outbound, Protocol, Publication, Requester};
use serde_json::value::RawValue;

const NOW: u64 = 1_795_446_674_865;
/// Large enough that no queue overflows during one measured publish.
const QUEUE_BYTES: usize = 1 << 20;

struct Channel {
    hub: Hub,
    name: ChannelName,
    publisher: Arc<Outbound>,
    /// Kept so the subscribers' queues live as long as the hub refers to them.
    _subscribers: Vec<Arc<Outbound>>,
}

/// A hub whose channel has `n` watching subscribers (every `pusher_every`-th one speaking the
/// Pusher protocol, none when 0) and a publisher.
fn channel(n: u64, pusher_every: u64) -> Channel {
    let hub = Hub::new(100_000);
    let name = ChannelName::parse("private-bench").expect("a valid channel name");
    let watch = |id: u64, protocol: Protocol| {
        let outbound = Outbound::new(QUEUE_BYTES);
        let who = Requester {
            connection_id: ConnectionId::new(1, id),
            client_id: None,
            outbound: &outbound,
            protocol,
            answer: Answer::Silent,
        };
        hub.watch(who, &name, NOW).expect("a first watch");
        outbound
    };
    let subscribers = (1..=n)
        .map(|id| {
            let pusher = pusher_every != 0 && id % pusher_every == 0;
            watch(
                id,
                if pusher {
                    Protocol::Pusher
                } else {
                    Protocol::Native
                },
            )
        })
        .collect();
    let publisher = watch(n + 1, Protocol::Native);
    Channel {
        hub,
        name,
        publisher,
        _subscribers: subscribers,
    }
}

fn publish_as_subscriber(channel: &Channel, publisher_id: u64, data: &RawValue) {
    let who = Requester {
        connection_id: ConnectionId::new(1, publisher_id),
        client_id: None,
        outbound: &channel.publisher,
        protocol: Protocol::Native,
        answer: Answer::Silent,
    };
    let message = Publication {
        data,
        echo: false,
        message_id: None,
    };
    channel
        .hub
        .publish(who, &channel.name, message, NOW)
        .expect("the publisher watches the channel");
}

fn fan_out(c: &mut Criterion) {
    let data = RawValue::from_string(
        r#"{"event":"client-cursor","data":{"x":120,"y":48,"user":"someone"}}"#.into(),
    )
    .expect("valid JSON");
    let mut group = c.benchmark_group("publish");
    group.sample_size(20);
    for n in [100u64, 1_000, 10_000] {
        group.bench_with_input(BenchmarkId::new("native", n), &n, |b, &n| {
            // `_ref`: the channel (and its queues) is dropped outside the measurement.
            b.iter_batched_ref(
                || channel(n, 0),
                |channel| publish_as_subscriber(black_box(channel), n + 1, &data),
                BatchSize::PerIteration,
            );
        });
        group.bench_with_input(BenchmarkId::new("half_pusher", n), &n, |b, &n| {
            b.iter_batched_ref(
                || channel(n, 2),
                |channel| publish_as_subscriber(black_box(channel), n + 1, &data),
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, fan_out);
criterion_main!(benches);

//! One subscribed channel inside the driver: its member view, kept exact from a snapshot plus
//! events checked against the channel's sequence numbers, and its event stream.

use rollcall_core::{ChannelName, MemberData};
use serde_json::Value;
use tokio::sync::{broadcast, oneshot, watch};

use super::recent::RecentMessages;
use crate::error::{Error, ServerError};
use crate::event::{ChannelEvent, Message, ResyncCause};
use crate::member::{MemberMap, UpdateReason, reconcile, to_map};
use crate::wire::{AckSnapshot, MemberEvent, Op};

/// Whether the channel enters presence or only listens.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mode {
    /// Joined, with the data to join with (kept up to date, so a re-join restores the latest).
    Join { data: Option<Value> },
    /// Watched.
    Watch,
}

/// The kinds of member event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemberChange {
    Joined,
    Updated,
    Left,
}

/// What a [`Channel`](crate::Channel) handle is built from.
#[derive(Debug)]
pub(crate) struct ChannelParts {
    pub(crate) generation: u64,
    pub(crate) members: watch::Receiver<MemberMap>,
    pub(crate) events: broadcast::Receiver<ChannelEvent>,
}

pub(crate) type SubscribeReply = oneshot::Sender<Result<ChannelParts, Error>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not subscribed on the current connection (there is none, or the request is not sent).
    Idle,
    /// The join or watch request is in flight.
    Subscribing,
    /// Events are applied as they come.
    Live,
    /// A gap was seen; a fresh member list is on its way. Member events that arrive before it
    /// are already reflected in it, so they are skipped.
    Resyncing,
}

pub(crate) struct ChannelState {
    pub(crate) name: ChannelName,
    /// Distinguishes this subscription from an earlier one to the same channel, so a late
    /// leave from a dropped handle cannot end a newer subscription.
    pub(crate) generation: u64,
    pub(crate) mode: Mode,
    phase: Phase,
    seq: u64,
    /// After a failed resync, the next event's number is taken as the new baseline rather than
    /// triggering another resync.
    rebase: bool,
    members: watch::Sender<MemberMap>,
    events: broadcast::Sender<ChannelEvent>,
    /// The first subscription's caller and the handle parts it will get.
    waiter: Option<(SubscribeReply, ChannelParts)>,
    recent: RecentMessages,
}

impl ChannelState {
    pub(crate) fn new(
        name: ChannelName,
        generation: u64,
        mode: Mode,
        capacity: usize,
        reply: SubscribeReply,
    ) -> Self {
        let (members, members_rx) = watch::channel(MemberMap::new());
        let (events, events_rx) = broadcast::channel(capacity.max(1));
        let parts = ChannelParts {
            generation,
            members: members_rx,
            events: events_rx,
        };
        Self {
            name,
            generation,
            mode,
            phase: Phase::Idle,
            seq: 0,
            rebase: false,
            members,
            events,
            waiter: Some((reply, parts)),
            recent: RecentMessages::default(),
        }
    }

    /// Whether the caller of the first subscription stopped waiting (timed out or dropped).
    pub(crate) fn abandoned(&self) -> bool {
        self.waiter
            .as_ref()
            .is_some_and(|(reply, _)| reply.is_closed())
    }

    /// Whether the server considers this connection subscribed, or soon will.
    pub(crate) fn is_subscribed(&self) -> bool {
        self.phase != Phase::Idle
    }

    /// The request that subscribes the channel on a (new) connection.
    pub(crate) fn subscribe_op(&self) -> Op {
        match &self.mode {
            Mode::Join { data } => Op::Join {
                channel: self.name.clone(),
                data: data.clone(),
            },
            Mode::Watch => Op::Watch {
                channel: self.name.clone(),
            },
        }
    }

    pub(crate) fn subscribing(&mut self) {
        self.phase = Phase::Subscribing;
    }

    pub(crate) fn disconnected(&mut self) {
        self.phase = Phase::Idle;
    }

    /// Applies the member list of a join/watch ack. The first one hands the channel to its
    /// caller; later ones (re-joins after a reconnect) are reconciled into events. Returns false
    /// when the first caller is gone, so the subscription should be undone.
    pub(crate) fn on_subscribed(&mut self, snapshot: AckSnapshot) -> bool {
        self.seq = snapshot.seq;
        self.rebase = false;
        self.phase = Phase::Live;
        match self.waiter.take() {
            Some((reply, parts)) => {
                self.members.send_replace(to_map(snapshot.members));
                reply.send(Ok(parts)).is_ok()
            }
            None => {
                self.replace_members(snapshot.members, ResyncCause::Reconnected);
                true
            }
        }
    }

    /// The server refused to subscribe. Tells the first caller, or the event stream when this
    /// was a re-join.
    pub(crate) fn refused(self, error: ServerError) {
        match self.waiter {
            Some((reply, _)) => {
                let _ = reply.send(Err(Error::Server(error)));
            }
            None => {
                let _ = self.events.send(ChannelEvent::Unsubscribed { error });
            }
        }
    }

    /// The client closed: the first caller, if still waiting, learns it.
    pub(crate) fn closed(self) {
        if let Some((reply, _)) = self.waiter {
            let _ = reply.send(Err(Error::Closed));
        }
    }

    /// Starts a resync after a gap.
    pub(crate) fn resyncing(&mut self) {
        self.phase = Phase::Resyncing;
    }

    /// Applies the answer to a resync's `members` request.
    pub(crate) fn on_resync(&mut self, answer: Result<AckSnapshot, String>) {
        if self.phase != Phase::Resyncing {
            return;
        }
        self.phase = Phase::Live;
        match answer {
            Ok(snapshot) => {
                self.seq = snapshot.seq;
                self.replace_members(snapshot.members, ResyncCause::Gap);
            }
            Err(error) => {
                tracing::warn!(channel = %self.name, %error, "resync failed; continuing from the next event");
                self.rebase = true;
            }
        }
    }

    fn replace_members(&mut self, members: Vec<crate::member::Member>, cause: ResyncCause) {
        let fresh = to_map(members);
        let events = reconcile(&self.members.borrow(), &fresh);
        let count = fresh.len();
        self.members.send_replace(fresh);
        for event in events {
            self.emit(event);
        }
        self.emit(ChannelEvent::Resynced {
            cause,
            members: count,
        });
    }

    /// Checks a sequenced event's number. Returns `Some(true)` to apply it, `Some(false)` to
    /// apply it and resync (a gap), `None` to skip it (already seen).
    fn sequence(&mut self, seq: u64) -> Option<bool> {
        if self.rebase {
            self.rebase = false;
            self.seq = seq;
            return Some(true);
        }
        if seq <= self.seq {
            return None;
        }
        if seq > self.seq + 1 {
            self.phase = Phase::Resyncing;
            return Some(false);
        }
        self.seq = seq;
        Some(true)
    }

    /// Applies a member event. Returns true when a gap means a resync must be requested.
    pub(crate) fn on_member_event(&mut self, change: MemberChange, event: MemberEvent) -> bool {
        if self.phase != Phase::Live {
            return false;
        }
        match self.sequence(event.seq) {
            None => false,
            // The coming member list includes this change and any missed before it.
            Some(false) => true,
            Some(true) => {
                self.apply(change, event);
                false
            }
        }
    }

    fn apply(&mut self, change: MemberChange, event: MemberEvent) {
        let member = event.member;
        let id = member.client_id.clone();
        let mut previous = None;
        self.members.send_modify(|map| {
            previous = match change {
                MemberChange::Left => map.remove(&id),
                MemberChange::Joined | MemberChange::Updated => map.insert(id, member.clone()),
            };
        });
        self.emit(match change {
            MemberChange::Joined => ChannelEvent::MemberJoined(member),
            MemberChange::Updated => ChannelEvent::MemberUpdated {
                member,
                previous,
                reason: event.reason.unwrap_or(UpdateReason::Data),
            },
            MemberChange::Left => ChannelEvent::MemberLeft(member),
        });
    }

    /// Delivers a message, unless it was seen already. Returns true when a gap means a resync
    /// must be requested.
    pub(crate) fn on_message(&mut self, message: Message) -> bool {
        let resync = match self.phase {
            Phase::Live => match self.sequence(message.seq) {
                None => return false,
                Some(in_order) => !in_order,
            },
            // The resync is about members; messages are still new and are delivered.
            Phase::Resyncing => false,
            Phase::Idle | Phase::Subscribing => return false,
        };
        if self.recent.first_time(&message) {
            self.emit(ChannelEvent::Message(message));
        }
        resync
    }

    /// Delivers an event that carries no sequence number.
    pub(crate) fn on_unsequenced(&self, event: ChannelEvent) {
        if matches!(self.phase, Phase::Live | Phase::Resyncing) {
            self.emit(event);
        }
    }

    /// A publish without echo takes a sequence number this connection never sees as an event;
    /// its ack says which, so it is not mistaken for a gap.
    pub(crate) fn on_own_publish(&mut self, seq: u64) {
        if self.phase == Phase::Live && seq == self.seq + 1 {
            self.seq = seq;
        }
    }

    /// Records a successful update so that a re-join restores it.
    pub(crate) fn on_own_update(&mut self, data: Option<&Value>, patch: Option<&Value>) {
        let Mode::Join { data: current } = &mut self.mode else {
            return;
        };
        match (data, patch) {
            (Some(data), _) => *current = Some(data.clone()),
            (None, Some(patch)) => {
                let base = current
                    .clone()
                    .unwrap_or_else(|| Value::Object(Default::default()));
                // The server accepted this patch on this data, so it applies; without a size
                // limit here, only a non-object could fail, and then the old data is kept.
                if let Ok(patched) = MemberData::from_value(&base, usize::MAX)
                    .and_then(|d| d.merge_patch(patch, usize::MAX))
                {
                    *current = Some(patched.to_value());
                }
            }
            (None, None) => {}
        }
    }

    fn emit(&self, event: ChannelEvent) {
        // No receiver means the handle is gone and a leave is on its way.
        let _ = self.events.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::tests::member;
    use serde_json::json;

    fn live(members: Vec<crate::member::Member>, seq: u64) -> (ChannelState, ChannelParts) {
        let (reply, rx) = oneshot::channel();
        let mut state = ChannelState::new(
            ChannelName::parse("room").unwrap(),
            1,
            Mode::Join {
                data: Some(json!({"a": 1})),
            },
            16,
            reply,
        );
        state.subscribing();
        assert!(state.on_subscribed(AckSnapshot { seq, members }));
        let parts = rx.blocking_recv().unwrap().unwrap();
        (state, parts)
    }

    fn event(id: &str, seq: u64) -> MemberEvent {
        MemberEvent {
            channel: ChannelName::parse("room").unwrap(),
            seq,
            reason: None,
            member: member(id, json!({}), 1),
        }
    }

    #[test]
    fn in_order_events_apply_and_stale_ones_are_skipped() {
        let (mut state, mut parts) = live(vec![member("ann", json!({}), 1)], 4);
        assert!(!state.on_member_event(MemberChange::Joined, event("bob", 5)));
        assert!(!state.on_member_event(MemberChange::Joined, event("bob", 5)));
        assert!(!state.on_member_event(MemberChange::Left, event("ann", 6)));
        let ids: Vec<_> = parts
            .members
            .borrow()
            .keys()
            .map(ToString::to_string)
            .collect();
        assert_eq!(ids, ["bob"]);
        assert!(
            matches!(parts.events.try_recv(), Ok(ChannelEvent::MemberJoined(m)) if m.client_id.as_str() == "bob")
        );
        assert!(matches!(
            parts.events.try_recv(),
            Ok(ChannelEvent::MemberLeft(_))
        ));
        assert!(parts.events.try_recv().is_err());
    }

    #[test]
    fn a_gap_asks_for_a_resync_and_the_answer_is_reconciled() {
        let (mut state, mut parts) = live(vec![member("ann", json!({}), 1)], 4);
        assert!(state.on_member_event(MemberChange::Joined, event("bob", 7)));
        // Member events until the list arrives are already in it.
        assert!(!state.on_member_event(MemberChange::Joined, event("cat", 8)));
        state.on_resync(Ok(AckSnapshot {
            seq: 8,
            members: vec![member("bob", json!({}), 1), member("cat", json!({}), 1)],
        }));
        let events: Vec<_> = std::iter::from_fn(|| parts.events.try_recv().ok()).collect();
        assert!(matches!(&events[..], [
            ChannelEvent::MemberLeft(a),
            ChannelEvent::MemberJoined(b),
            ChannelEvent::MemberJoined(c),
            ChannelEvent::Resynced { cause: ResyncCause::Gap, members: 2 },
        ] if a.client_id.as_str() == "ann" && b.client_id.as_str() == "bob" && c.client_id.as_str() == "cat"));
        assert!(!state.on_member_event(MemberChange::Left, event("cat", 9)));
        assert_eq!(parts.members.borrow().len(), 1);
    }

    #[test]
    fn own_unechoed_publish_is_not_a_gap_and_updates_are_remembered_for_rejoin() {
        let (mut state, _parts) = live(vec![], 2);
        state.on_own_publish(3);
        assert!(!state.on_member_event(MemberChange::Joined, event("bob", 4)));
        state.on_own_update(None, Some(&json!({"b": 2, "a": null})));
        assert_eq!(
            state.subscribe_op(),
            Op::Join {
                channel: ChannelName::parse("room").unwrap(),
                data: Some(json!({"b": 2})),
            }
        );
    }
}

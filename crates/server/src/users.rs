//! Signed-in Pusher users, per app: which connections signed in as each user id, which of them
//! subscribe to the user's `#server-to-user-{id}` channel, and which connections watch each user
//! id (watchlists). This is how `sendToUser` and `terminate_connections` find their targets, and
//! where watchlist `online` / `offline` events come from.
//!
//! A user is *online* while at least one connection is signed in as it (Pusher's definition:
//! "authenticated on at least one connection"). The first connection in sends `online` to every
//! connection watching that id, the last one out sends `offline`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use parking_lot::Mutex;
use rollcall_core::{ClientId, ConnectionId};

use crate::outbound::Outbound;
use crate::pusher::wire::{self, WatchlistEvent};

#[derive(Debug)]
struct Entry {
    connection: ConnectionId,
    outbound: Arc<Outbound>,
    subscribed: bool,
    /// The user ids this connection watches (deduplicated, at most the app's watchlist limit),
    /// kept so that they can be taken out of the watcher index when it leaves.
    watching: Box<[ClientId]>,
}

#[derive(Debug, Default)]
struct Inner {
    by_user: HashMap<ClientId, Vec<Entry>>,
    /// Watched user id → the connections watching it. Every entry comes from a signed-in
    /// connection's capped watchlist, so this holds at most (signed-in connections × watchlist
    /// limit) entries, whatever ids clients send.
    watchers: HashMap<ClientId, HashMap<ConnectionId, Arc<Outbound>>>,
}

impl Inner {
    /// Sends `name` about `user` to every connection watching it; encoded once.
    fn tell_watchers(&self, user: &ClientId, name: &str) {
        let Some(watchers) = self.watchers.get(user) else {
            return;
        };
        let text = wire::watchlist_events(&[WatchlistEvent {
            name,
            user_ids: vec![user.as_str()],
        }]);
        for outbound in watchers.values() {
            outbound.push(&text);
        }
    }

    fn unwatch(&mut self, connection: ConnectionId, watching: &[ClientId]) {
        for id in watching {
            if let Some(set) = self.watchers.get_mut(id) {
                set.remove(&connection);
                if set.is_empty() {
                    self.watchers.remove(id);
                }
            }
        }
    }
}

/// A connection signing in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignIn<'a> {
    /// The user it signs in as.
    pub(crate) user: &'a ClientId,
    /// The connection.
    pub(crate) connection: ConnectionId,
    /// Its queue.
    pub(crate) outbound: &'a Arc<Outbound>,
    /// The user ids it watches, already deduplicated and capped; empty for none.
    pub(crate) watchlist: &'a [ClientId],
    /// `pusher:signin_success`, pushed before the watchlist's first event.
    pub(crate) success: &'a Utf8Bytes,
}

/// One app's signed-in connections and watchlists. Bounded by the number of connections, which
/// is capped, times the watchlist limit.
#[derive(Debug, Default)]
pub(crate) struct UserIndex {
    // One lock is enough: it is taken on sign-in, disconnect and per HTTP API call, never per
    // channel event. Watchlist events are pushed while it is held (a push never blocks), which
    // is what keeps each watcher's view ordered: the state sent at sign-in, then every change
    // after it, with nothing lost or reordered in between.
    inner: Mutex<Inner>,
}

impl UserIndex {
    /// Records that a connection signed in (again, with a new watchlist, if it already was).
    /// Sends `online` to the user's watchers when it is the user's first connection, then, to
    /// the connection, `success` and the current status of every user id it watches.
    pub(crate) fn sign_in(&self, sign_in: SignIn<'_>) {
        let mut inner = self.inner.lock();
        let known = inner.by_user.get(sign_in.user).is_some_and(|list| {
            list.iter()
                .any(|entry| entry.connection == sign_in.connection)
        });
        if known {
            let previous = inner
                .by_user
                .get_mut(sign_in.user)
                .and_then(|list| {
                    list.iter_mut()
                        .find(|entry| entry.connection == sign_in.connection)
                })
                .map(|entry| std::mem::replace(&mut entry.watching, sign_in.watchlist.into()));
            if let Some(previous) = previous {
                inner.unwatch(sign_in.connection, &previous);
            }
        } else {
            let first = !inner.by_user.contains_key(sign_in.user);
            inner
                .by_user
                .entry(sign_in.user.clone())
                .or_default()
                .push(Entry {
                    connection: sign_in.connection,
                    outbound: sign_in.outbound.clone(),
                    subscribed: false,
                    watching: sign_in.watchlist.into(),
                });
            if first {
                inner.tell_watchers(sign_in.user, "online");
            }
        }
        sign_in.outbound.push(sign_in.success);
        if sign_in.watchlist.is_empty() {
            return;
        }
        for id in sign_in.watchlist {
            inner
                .watchers
                .entry(id.clone())
                .or_default()
                .insert(sign_in.connection, sign_in.outbound.clone());
        }
        let (online, offline): (Vec<&ClientId>, Vec<&ClientId>) = sign_in
            .watchlist
            .iter()
            .partition(|id| inner.by_user.contains_key(*id));
        let events: Vec<WatchlistEvent<'_>> = [("online", online), ("offline", offline)]
            .into_iter()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(name, ids)| WatchlistEvent {
                name,
                user_ids: ids.into_iter().map(ClientId::as_str).collect(),
            })
            .collect();
        sign_in.outbound.push(&wire::watchlist_events(&events));
    }

    /// Marks whether `connection` subscribes to `user`'s server-to-user channel.
    pub(crate) fn set_subscribed(&self, user: &ClientId, connection: ConnectionId, on: bool) {
        if let Some(list) = self.inner.lock().by_user.get_mut(user) {
            for entry in list.iter_mut().filter(|e| e.connection == connection) {
                entry.subscribed = on;
            }
        }
    }

    /// Forgets `connection` and its watchlist; sends `offline` to the user's watchers when it
    /// was the user's last connection.
    pub(crate) fn remove(&self, user: &ClientId, connection: ConnectionId) {
        let mut inner = self.inner.lock();
        let Some(list) = inner.by_user.get_mut(user) else {
            return;
        };
        let Some(index) = list.iter().position(|e| e.connection == connection) else {
            return;
        };
        let entry = list.swap_remove(index);
        let last = list.is_empty();
        if last {
            inner.by_user.remove(user);
        }
        inner.unwatch(connection, &entry.watching);
        if last {
            inner.tell_watchers(user, "offline");
        }
    }

    /// The queues of `user`'s connections; only those subscribing to its server-to-user channel
    /// when `subscribed_only`, and never `skip`.
    pub(crate) fn connections(
        &self,
        user: &ClientId,
        subscribed_only: bool,
        skip: Option<ConnectionId>,
    ) -> Vec<Arc<Outbound>> {
        self.inner
            .lock()
            .by_user
            .get(user)
            .map(|list| {
                list.iter()
                    .filter(|e| (e.subscribed || !subscribed_only) && Some(e.connection) != skip)
                    .map(|e| e.outbound.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many (watched user, watching connection) pairs the index holds.
    #[cfg(test)]
    fn watch_entries(&self) -> usize {
        self.inner.lock().watchers.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn id(s: &str) -> ClientId {
        ClientId::parse(s).unwrap()
    }

    /// Drains what a queue holds, as text.
    fn drain(outbound: &Outbound) -> Vec<String> {
        outbound.take_texts()
    }

    #[test]
    fn online_and_offline_follow_the_first_and_last_connection() {
        let users = UserIndex::default();
        let success = Utf8Bytes::from_static("ok");
        let watcher = Outbound::new(1 << 20);
        let (ann, bob) = (id("ann"), id("bob"));
        users.sign_in(SignIn {
            user: &ann,
            connection: ConnectionId::new(1, 1),
            outbound: &watcher,
            watchlist: std::slice::from_ref(&bob),
            success: &success,
        });
        assert_eq!(
            drain(&watcher),
            [
                "ok",
                r#"{"event":"pusher_internal:watchlist_events","data":{"events":[{"name":"offline","user_ids":["bob"]}]}}"#
            ]
        );
        let tab = Outbound::new(1 << 20);
        for n in [2, 3] {
            users.sign_in(SignIn {
                user: &bob,
                connection: ConnectionId::new(1, n),
                outbound: &tab,
                watchlist: &[],
                success: &success,
            });
        }
        let online = r#"{"event":"pusher_internal:watchlist_events","data":{"events":[{"name":"online","user_ids":["bob"]}]}}"#;
        assert_eq!(drain(&watcher), [online], "only the first connection");
        users.remove(&bob, ConnectionId::new(1, 2));
        assert!(drain(&watcher).is_empty(), "bob still has a connection");
        users.remove(&bob, ConnectionId::new(1, 3));
        assert_eq!(drain(&watcher), [online.replace("online", "offline")]);
        users.remove(&ann, ConnectionId::new(1, 1));
        assert_eq!(
            users.watch_entries(),
            0,
            "a leaving watcher leaves no trace"
        );
    }
}

//! Client events (`client-*`) and user sign-in (`pusher:signin`).

use std::collections::HashSet;
use std::time::Duration;

use rollcall_core::{ChannelName, ClientId};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::{PusherSession, RateWindow, SignedIn, close};
use crate::hub::{Answer, Publication};
use crate::pusher::channel::Kind;
use crate::pusher::encode::MAX_EVENT_NAME_LEN;
use crate::pusher::sign::check_auth;
use crate::pusher::wire;
use crate::users::SignIn;
use crate::webhooks::Notice;

/// `user_data` of a sign-in. Other fields (`user_info`, …) are the app's and ignored.
#[derive(Deserialize)]
struct UserData {
    id: String,
    /// User ids whose online status the connection wants to follow.
    #[serde(default)]
    watchlist: Option<Vec<Value>>,
}

/// A sign-in's watchlist, read from `user_data`.
#[derive(Debug, Default)]
struct Watchlist {
    /// Distinct valid user ids, in the order given, at most the app's limit.
    ids: Vec<ClientId>,
    /// Entries that are not user ids (not a string or number, or not 1–128 bytes).
    invalid: usize,
    /// Distinct valid ids past the limit, ignored.
    over_limit: usize,
}

impl Watchlist {
    /// Reads `entries`: numbers are taken as their decimal form, as presence user ids are.
    fn read(entries: &[Value], max: usize) -> Self {
        let mut list = Self::default();
        let mut seen = HashSet::new();
        for entry in entries {
            let id = match entry {
                Value::String(s) => ClientId::parse(s).ok(),
                Value::Number(n) => ClientId::parse(&n.to_string()).ok(),
                _ => None,
            };
            let Some(id) = id else {
                list.invalid += 1;
                continue;
            };
            if !seen.insert(id.clone()) {
                continue;
            }
            if list.ids.len() < max {
                list.ids.push(id);
            } else {
                list.over_limit += 1;
            }
        }
        list
    }
}

impl PusherSession {
    /// Relays a client event to the channel's other subscribers, both protocols. On the native
    /// side it is a `message` whose data is `{"event": name, "data": payload}`.
    pub(super) async fn client_event(
        &mut self,
        event: &str,
        name: &str,
        data: &RawValue,
        now: u64,
    ) {
        let pusher = &self.app.config.pusher;
        if !pusher.enable_client_events {
            self.error(
                None,
                "To send client events, you must enable this feature for the app (enable_client_events)",
            );
            return;
        }
        if event.len() > MAX_EVENT_NAME_LEN {
            self.error(
                None,
                &format!(
                    "Client event rejected - event names are limited to {MAX_EVENT_NAME_LEN} bytes"
                ),
            );
            return;
        }
        let subscription = ChannelName::parse(name)
            .ok()
            .and_then(|c| self.channels.get(&c).map(|s| (c, s.user_id.clone())));
        let Some((channel, user_id)) = subscription else {
            self.error(
                None,
                &format!("Client event rejected - you are not subscribed to the channel {name}"),
            );
            return;
        };
        if !Kind::of(name).allows_client_events() {
            self.error(
                None,
                "Client event rejected - only supported on private and presence channels",
            );
            return;
        }
        if !self.within_rate(pusher.max_client_events_per_second) {
            self.error(
                Some(close::CLIENT_EVENT_RATE_LIMIT),
                "Client event rejected - rate limit exceeded",
            );
            return;
        }
        let max = self.state.config.limits.max_message_bytes;
        if data.get().len() > max {
            self.error(
                None,
                &format!("Client event rejected - data is limited to {max} bytes"),
            );
            return;
        }
        let Ok(envelope) = RawValue::from_string(format!(
            r#"{{"event":{},"data":{}}}"#,
            serde_json::Value::from(event),
            data.get()
        )) else {
            return;
        };
        let who = self.requester(user_id.as_ref(), Answer::Silent);
        let message = Publication {
            data: &envelope,
            echo: false,
            message_id: None,
        };
        let app = self.app.clone();
        // The connection is subscribed (checked above), so publishing fails only when Redis
        // is out of reach; Pusher has no way to tell the sender, so the event is dropped.
        let _ = app.publish(who, &channel, message, now).await;
        if let Some(notices) = &self.app.notices {
            notices.send(Notice::ClientEvent {
                channel,
                event: event.to_owned(),
                data: wire::data_text(data).into_owned(),
                socket_id: self.id,
                user_id: user_id.filter(|_| Kind::of(name) == Kind::Presence),
            });
        }
    }

    /// Counts one client event against a fixed one-second window.
    fn within_rate(&mut self, per_second: u32) -> bool {
        let now = Instant::now();
        if now.duration_since(self.rate.started) >= Duration::from_secs(1) {
            self.rate = RateWindow {
                started: now,
                count: 0,
            };
        }
        if self.rate.count >= per_second {
            return false;
        }
        self.rate.count += 1;
        true
    }

    /// `pusher:signin`: verifies the signature over `socket_id::user::user_data`, binds the
    /// connection to the user, and starts its watchlist. Signing in again as the same user
    /// replaces the watchlist.
    pub(super) fn signin(&mut self, auth: &str, user_data: &str) {
        let app = self.app.clone();
        let config = &app.config;
        let signed = format!("{}::user::{user_data}", self.socket_id);
        if let Err(e) = check_auth(&config.key, &config.secret, &signed, auth) {
            self.app.metrics.pusher.auth_failures.increment(1);
            self.error(None, &e.to_string());
            return;
        }
        let parsed = serde_json::from_str::<UserData>(user_data)
            .ok()
            .and_then(|d| Some((ClientId::parse(&d.id).ok()?, d.watchlist)));
        let Some((user, watchlist)) = parsed else {
            self.error(
                None,
                "Invalid user_data: a JSON object with a non-empty string `id` (and, optionally, a `watchlist` array of user ids) is required",
            );
            return;
        };
        if self.user.as_ref().is_some_and(|current| current.id != user) {
            self.error(
                None,
                "This connection is already signed in as a different user",
            );
            return;
        }
        let pusher = &config.pusher;
        let watchlist = match watchlist {
            Some(entries) if pusher.enable_watchlist_events => {
                Watchlist::read(&entries, pusher.max_watchlist_size)
            }
            _ => Watchlist::default(),
        };
        // The index pushes `signin_success` and then the watchlist's current state under its
        // lock, so no online/offline change can slip in between.
        app.users.sign_in(SignIn {
            user: &user,
            connection: self.id,
            outbound: &self.outbound,
            watchlist: &watchlist.ids,
            success: &wire::signin_success(user_data),
        });
        if self.user.is_none() {
            self.user = Some(SignedIn {
                id: user,
                user_channel: false,
            });
        }
        self.authorized();
        if watchlist.over_limit > 0 {
            let max = pusher.max_watchlist_size;
            self.error(
                Some(close::WATCHLIST_LIMIT),
                &format!(
                    "Watchlist limit exceeded: only the first {max} user ids are watched ({} ignored)",
                    watchlist.over_limit
                ),
            );
        }
        if watchlist.invalid > 0 {
            self.error(
                None,
                &format!(
                    "{} watchlist entries are not user ids (strings of 1 to {} bytes) and were ignored",
                    watchlist.invalid,
                    ClientId::MAX_LEN
                ),
            );
        }
    }
}

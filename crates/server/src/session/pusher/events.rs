//! Client events (`client-*`) and user sign-in (`pusher:signin`).

use std::time::Duration;

use rollcall_core::{ChannelName, ClientId};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::{PusherSession, RateWindow, SignedIn, close};
use crate::hub::{Answer, Publication};
use crate::pusher::channel::Kind;
use crate::pusher::encode::MAX_EVENT_NAME_LEN;
use crate::pusher::sign::check_auth;
use crate::pusher::wire;
use crate::webhooks::Notice;

/// `user_data` of a sign-in.
#[derive(Deserialize)]
struct UserData {
    id: String,
}

impl PusherSession {
    /// Relays a client event to the channel's other subscribers, both protocols. On the native
    /// side it is a `message` whose data is `{"event": name, "data": payload}`.
    pub(super) fn client_event(&mut self, event: &str, name: &str, data: &RawValue, now: u64) {
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
        // The connection is subscribed (checked above), so publishing cannot fail.
        let _ = self.app.hub.publish(who, &channel, message, now);
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

    /// `pusher:signin`: verifies the signature over `socket_id::user::user_data` and binds the
    /// connection to the user.
    pub(super) fn signin(&mut self, auth: &str, user_data: &str) {
        let config = &self.app.config;
        let signed = format!("{}::user::{user_data}", self.socket_id);
        if let Err(e) = check_auth(&config.key, &config.secret, &signed, auth) {
            self.error(None, &e.to_string());
            return;
        }
        let parsed = serde_json::from_str::<UserData>(user_data)
            .ok()
            .and_then(|d| ClientId::parse(&d.id).ok());
        let Some(user) = parsed else {
            self.error(
                None,
                "Invalid user_data: a JSON object with a non-empty string `id` is required",
            );
            return;
        };
        match &self.user {
            Some(current) if current.id == user => {}
            Some(_) => {
                self.error(
                    None,
                    "This connection is already signed in as a different user",
                );
                return;
            }
            None => {
                self.app.users.add(&user, self.id, &self.outbound);
                self.user = Some(SignedIn {
                    id: user,
                    user_channel: false,
                });
            }
        }
        self.send(&wire::signin_success(user_data));
    }
}

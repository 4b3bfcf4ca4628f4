//! `pusher:subscribe` and `pusher:unsubscribe`.
//!
//! A presence subscription is a native `join` (user id → client id, `user_info` → member data);
//! any other subscription is a native `watch`. The hub answers with
//! `pusher_internal:subscription_succeeded` under the channel's lock, so the member list it
//! carries is exactly the state the following events start from.

use rollcall_core::{ChannelName, ClientId, MemberData, PresenceError};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{PusherSession, SignedIn, Subscription};
use crate::hub::{Answer, HubError, JoinData};
use crate::pusher::channel::{Kind, SERVER_TO_USER_PREFIX};
use crate::pusher::encode::USER_INFO_KEY;
use crate::pusher::sign::check_auth;
use crate::pusher::wire;

/// `channel_data` of a presence subscription.
#[derive(Deserialize)]
struct ChannelData<'a> {
    user_id: Value,
    #[serde(borrow)]
    user_info: Option<&'a RawValue>,
}

/// A subscription refused with `pusher:subscription_error` (and, for signatures, the
/// `pusher:error` real Pusher sends).
struct Refusal {
    kind: &'static str,
    message: String,
    status: u16,
}

impl Refusal {
    fn new(kind: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            status,
        }
    }
}

/// Pusher user ids are strings; numbers (common in Laravel apps) are taken as their decimal
/// form, so `3559` and `"3559"` are the same user.
fn user_id_of(value: &Value) -> Option<ClientId> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    ClientId::parse(&text).ok()
}

impl PusherSession {
    pub(super) async fn subscribe(
        &mut self,
        name: &str,
        auth: Option<&str>,
        channel_data: Option<&str>,
        now: u64,
    ) {
        if let Some(user) = name.strip_prefix(SERVER_TO_USER_PREFIX) {
            self.subscribe_user_channel(name, user);
            return;
        }
        let channel = match ChannelName::parse(name) {
            Ok(channel) => channel,
            Err(e) => {
                self.error(None, &format!("Invalid channel name {name:?}: {e}"));
                return;
            }
        };
        if self.channels.contains_key(&channel) {
            self.error(None, &format!("Existing subscription to channel {name}"));
            return;
        }
        match self.try_subscribe(&channel, auth, channel_data, now).await {
            // A signed subscription is what makes an authorized connection (besides signing in).
            Ok(()) if Kind::of(name).needs_auth() => self.authorized(),
            Ok(()) => {}
            Err(refusal) => self.send(&wire::subscription_error(
                name,
                refusal.kind,
                &refusal.message,
                refusal.status,
            )),
        }
    }

    async fn try_subscribe(
        &mut self,
        channel: &ChannelName,
        auth: Option<&str>,
        channel_data: Option<&str>,
        now: u64,
    ) -> Result<(), Refusal> {
        let max = self.state.config.limits.max_channels_per_connection;
        if self.channels.len() >= max {
            return Err(Refusal::new(
                "LimitReached",
                4100,
                format!("A connection may subscribe to at most {max} channels"),
            ));
        }
        let kind = Kind::of(channel.as_str());
        if kind.needs_auth() {
            self.check_signature(channel, kind, auth, channel_data)?;
        }
        let app = self.app.clone();
        if kind != Kind::Presence {
            let who = self.requester(None, Answer::Pusher);
            app.watch(who, channel, now)
                .await
                .map_err(|e| refusal(&e))?;
            self.channels
                .insert(channel.clone(), Subscription { user_id: None });
            return Ok(());
        }
        let (user, data) = self.member_of(channel_data)?;
        let pusher = &self.app.config.pusher;
        let who = self.requester(Some(&user), Answer::Pusher);
        // First connection's user_info wins until the user has fully left, as on Pusher.
        match app
            .join(
                who,
                &user,
                channel,
                JoinData::Initial(data),
                Some(pusher.max_presence_members),
                now,
            )
            .await
        {
            Ok(()) => {}
            Err(HubError::Presence(PresenceError::ChannelFull { .. })) => {
                return Err(Refusal::new(
                    "LimitReached",
                    4100,
                    "The maximum members per presence channel limit was reached",
                ));
            }
            Err(e) => return Err(refusal(&e)),
        }
        self.channels.insert(
            channel.clone(),
            Subscription {
                user_id: Some(user),
            },
        );
        Ok(())
    }

    /// Verifies the subscription's `auth` over the exact `channel_data` text received. A bad
    /// signature also gets the `pusher:error` (code `null`) real Pusher sends.
    fn check_signature(
        &self,
        channel: &ChannelName,
        kind: Kind,
        auth: Option<&str>,
        channel_data: Option<&str>,
    ) -> Result<(), Refusal> {
        let Some(auth) = auth else {
            return Err(Refusal::new(
                "AuthError",
                401,
                format!("Subscribing to {channel} needs an `auth` signature"),
            ));
        };
        let signed = match (kind, channel_data) {
            (Kind::Presence, Some(data)) => format!("{}:{channel}:{data}", self.socket_id),
            (Kind::Presence, None) => {
                return Err(Refusal::new(
                    "AuthError",
                    400,
                    "Presence channels need `channel_data` with a `user_id`",
                ));
            }
            _ => format!("{}:{channel}", self.socket_id),
        };
        let config = &self.app.config;
        check_auth(&config.key, &config.secret, &signed, auth).map_err(|e| {
            self.app.metrics.pusher.auth_failures.increment(1);
            let message = e.to_string();
            self.error(None, &message);
            Refusal::new("AuthError", 401, message)
        })
    }

    /// The user and member data a presence `channel_data` asks for.
    fn member_of(&self, channel_data: Option<&str>) -> Result<(ClientId, MemberData), Refusal> {
        let bad = |message: String| Refusal::new("AuthError", 400, message);
        let text = channel_data.unwrap_or("");
        let data: ChannelData<'_> =
            serde_json::from_str(text).map_err(|e| bad(format!("Invalid channel_data: {e}")))?;
        let user = user_id_of(&data.user_id).ok_or_else(|| {
            bad(format!(
                "Invalid user_id: a string or number of 1 to {} bytes is required",
                ClientId::MAX_LEN
            ))
        })?;
        let pusher = &self.app.config.pusher;
        let max_info = pusher.max_presence_user_info_bytes;
        let info_len = data.user_info.map_or(0, |raw| raw.get().len());
        if info_len > max_info {
            return Err(Refusal::new(
                "LimitReached",
                4301,
                format!(
                    "The maximum size for a channel member's user_info is {max_info} bytes; got {info_len}"
                ),
            ));
        }
        let info: Value = match data.user_info {
            Some(raw) => serde_json::from_str(raw.get()).map_err(|e| bad(e.to_string()))?,
            None => Value::Object(serde_json::Map::new()),
        };
        // rollcall member data is a JSON object; any other user_info is kept under one key
        // and shown to Pusher clients as itself (see docs/pusher-compat.md).
        let object = match info {
            Value::Object(_) => info,
            other => serde_json::json!({ USER_INFO_KEY: other }),
        };
        let max = self.state.config.limits.max_member_data_bytes;
        let member = MemberData::from_value(&object, max)
            .map_err(|e| Refusal::new("LimitReached", 4301, e.to_string()))?;
        Ok((user, member))
    }

    /// `#server-to-user-{id}`: allowed only to a connection signed in as that user.
    fn subscribe_user_channel(&mut self, name: &str, user: &str) {
        match &mut self.user {
            Some(SignedIn { id, user_channel }) if id.as_str() == user => {
                *user_channel = true;
                self.app.users.set_subscribed(id, self.id, true);
                self.send(&wire::subscription_succeeded(name));
            }
            _ => self.send(&wire::subscription_error(
                name,
                "AuthError",
                "Subscribing to a server-to-user channel needs signing in as that user first",
                403,
            )),
        }
    }

    pub(super) async fn unsubscribe(&mut self, name: &str, now: u64) {
        if name.starts_with(SERVER_TO_USER_PREFIX) {
            if let Some(user) = &mut self.user {
                user.user_channel = false;
                self.app.users.set_subscribed(&user.id, self.id, false);
            }
            return;
        }
        // Unsubscribing from a channel this connection is not in is not an error on Pusher.
        let Ok(channel) = ChannelName::parse(name) else {
            return;
        };
        let Some(subscription) = self.channels.remove(&channel) else {
            return;
        };
        let who = self.requester(subscription.user_id.as_ref(), Answer::Silent);
        let app = self.app.clone();
        // The connection subscribed, so leaving cannot fail.
        let _ = app.leave(who, &channel, false, now).await;
    }
}

/// A subscription the engine refused for a reason the client cannot fix: 503 when Redis is
/// out of reach (try again), 500 otherwise.
fn refusal(error: &HubError) -> Refusal {
    let status = if *error == HubError::Unavailable {
        503
    } else {
        500
    };
    Refusal::new("Error", status, error.to_string())
}

//! One Pusher-protocol connection (`/app/{key}`): admission, the read loop, the activity
//! timer, and cleanup. Subscriptions are in `subscribe.rs`; client events and sign-in in
//! `events.rs`.
//!
//! The connection shares everything below the session with native connections: the same hub
//! (so both protocols see one presence set), the same bounded outbound queue and writer, the
//! same limits.

mod events;
mod subscribe;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use rollcall_core::{ChannelName, ClientId, ConnectionId};
use rollcall_proto::CloseCode;
use tokio::time::{Instant, sleep_until};

use super::now_ms;
use crate::event::Protocol;
use crate::hub::{Answer, Requester};
use crate::outbound::{Outbound, Overflow};
use crate::pusher::wire::{self, ClientFrame};
use crate::state::{AppRuntime, ConnectionSlot, ServerState};
use crate::telemetry::{ConnectionLog, End, Metrics, PUSHER, pusher_code};
use crate::websocket::{Incoming, ReadFailure, WebSocket};

/// Pusher close codes the server uses (`docs/pusher-compat.md`), from the protocol's ranges:
/// 4000–4099 do not reconnect, 4100–4199 back off, 4200–4299 reconnect at once.
pub(crate) mod close {
    /// The app key is unknown.
    pub(crate) const APP_NOT_FOUND: u16 = 4001;
    /// The `protocol` parameter is not a number.
    pub(crate) const INVALID_VERSION: u16 = 4006;
    /// The protocol version is not supported (5 to 7 are).
    pub(crate) const UNSUPPORTED_PROTOCOL: u16 = 4007;
    /// The app terminated the user's connections, or (authorized connections) the connection
    /// did not authorize itself in time.
    pub(crate) const UNAUTHORIZED: u16 = 4009;
    /// Over capacity: the server is full, or the client read too slowly.
    pub(crate) const OVER_CAPACITY: u16 = 4100;
    /// The server is shutting down: reconnect (pusher-js does at once; the server spreads
    /// these closes over the reconnect window instead).
    pub(crate) const RECONNECT: u16 = 4200;
    /// No pong (or any frame) after the server's ping.
    pub(crate) const PONG_NOT_RECEIVED: u16 = 4201;
    /// A client event over the rate limit (sent as a `pusher:error` code; the socket stays open).
    pub(crate) const CLIENT_EVENT_RATE_LIMIT: u16 = 4301;
    /// A watchlist over the limit: only its first ids are watched (a `pusher:error` code; the
    /// socket stays open).
    pub(crate) const WATCHLIST_LIMIT: u16 = 4302;
}

/// The query string of a Pusher connection URL; other parameters (`client`, `version`,
/// `flash`) are ignored.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(crate) struct PusherParams {
    /// The protocol version the client speaks.
    pub(crate) protocol: Option<String>,
}

/// What a subscription is.
#[derive(Debug, Clone)]
struct Subscription {
    /// The user id this connection entered presence as, on presence channels.
    user_id: Option<ClientId>,
}

/// A signed-in user.
#[derive(Debug, Clone)]
struct SignedIn {
    id: ClientId,
    /// Whether the connection subscribes to `#server-to-user-{id}`.
    user_channel: bool,
}

/// Client events sent in the current one-second window.
#[derive(Debug, Clone, Copy)]
struct RateWindow {
    started: Instant,
    count: u32,
}

/// A live Pusher connection's state, owned by its read task.
pub(crate) struct PusherSession {
    state: Arc<ServerState>,
    app: Arc<AppRuntime>,
    id: ConnectionId,
    socket_id: String,
    outbound: Arc<Outbound>,
    channels: HashMap<ChannelName, Subscription>,
    user: Option<SignedIn>,
    rate: RateWindow,
    /// With authorized connections on: when the connection is closed unless it has signed in
    /// or subscribed to a private or presence channel by then. `None` once it has (or when
    /// the app does not ask for it).
    authorize_by: Option<Instant>,
    /// The open/close log lines and the connections gauge.
    log: ConnectionLog,
}

fn overflow() -> Overflow {
    Overflow {
        explanation: wire::error(
            Some(close::OVER_CAPACITY),
            "your outbound queue overflowed: messages arrived faster than you read them",
        ),
        code: close::OVER_CAPACITY,
        reason: "over capacity",
    }
}

/// Refuses the connection: `pusher:error`, then the same code as the close code.
fn refuse(metrics: &Metrics, outbound: &Outbound, code: u16, message: &str, reason: &'static str) {
    metrics.error(PUSHER, pusher_code(Some(code)));
    tracing::debug!(code, "Pusher connection refused");
    outbound.close_with(Some(&wire::error(Some(code), message)), code, reason);
}

/// Runs a Pusher connection from upgrade to close.
pub(crate) async fn run(
    mut socket: WebSocket,
    state: Arc<ServerState>,
    key: String,
    params: PusherParams,
) {
    let outbound = Outbound::with_overflow(state.config.limits.max_queue_bytes, overflow());
    // `key` and `params` go before the connection's long wait (see the native `run`).
    let opened = open(&state, &key, &params, &outbound);
    drop((key, params));
    if let Some((session, slot)) = opened {
        session.serve(&mut socket).await;
        drop(slot);
    }
    socket.finish(&outbound).await;
}

/// Admits the connection and sends `pusher:connection_established`; on refusal, queues the
/// error and close frame and returns `None`.
fn open(
    state: &Arc<ServerState>,
    key: &str,
    params: &PusherParams,
    outbound: &Arc<Outbound>,
) -> Option<(PusherSession, ConnectionSlot)> {
    let Some(slot) = state.admit() else {
        refuse(
            &state.metrics,
            outbound,
            close::OVER_CAPACITY,
            "Over capacity: the server is at its connection limit",
            "over capacity",
        );
        return None;
    };
    let Some(app) = state.app(Some(key)) else {
        let message =
            format!("App key {key} not in this cluster. Did you forget to specify the cluster?");
        refuse(
            &state.metrics,
            outbound,
            close::APP_NOT_FOUND,
            &message,
            "app not found",
        );
        return None;
    };
    if let Some(version) = &params.protocol {
        match version.parse::<u32>() {
            Ok(5..=7) => {}
            Ok(_) => {
                refuse(
                    &state.metrics,
                    outbound,
                    close::UNSUPPORTED_PROTOCOL,
                    &format!(
                        "Unsupported protocol version {version}: versions 5 to 7 are supported"
                    ),
                    "unsupported protocol version",
                );
                return None;
            }
            Err(_) => {
                refuse(
                    &state.metrics,
                    outbound,
                    close::INVALID_VERSION,
                    "Invalid version string: `protocol` must be a number",
                    "invalid version string",
                );
                return None;
            }
        }
    }
    outbound.attach_metrics(app.metrics.pusher.writer.clone());
    let log = ConnectionLog::opened(&app.config.id, &app.metrics.pusher, PUSHER, slot.id, None);
    let session = PusherSession {
        log,
        state: state.clone(),
        app: app.clone(),
        id: slot.id,
        socket_id: slot.id.to_string(),
        outbound: outbound.clone(),
        channels: HashMap::new(),
        user: None,
        rate: RateWindow {
            started: Instant::now(),
            count: 0,
        },
        authorize_by: app.config.pusher.enable_authorized_connections.then(|| {
            Instant::now()
                + Duration::from_millis(app.config.pusher.authorized_connection_timeout_ms)
        }),
    };
    outbound.push(&wire::connection_established(
        &session.socket_id,
        state.config.pusher.activity_timeout_s,
    ));
    Some((session, slot))
}

impl PusherSession {
    /// A requester for the hub, speaking as `user` (the presence user id in that channel, or
    /// the signed-in user).
    fn requester<'a>(&'a self, user: Option<&'a ClientId>, answer: Answer<'a>) -> Requester<'a> {
        Requester {
            connection_id: self.id,
            client_id: user.or(self.user.as_ref().map(|u| &u.id)),
            outbound: &self.outbound,
            protocol: Protocol::Pusher,
            answer,
        }
    }

    fn send(&self, text: &Utf8Bytes) {
        self.outbound.push(text);
    }

    /// A non-fatal `pusher:error`.
    fn error(&self, code: Option<u16>, message: &str) {
        self.count_error(code);
        self.send(&wire::error(code, message));
    }

    /// The connection signed in or subscribed to a channel that needs a signature: it is an
    /// authorized connection and is no longer on the clock.
    fn authorized(&mut self) {
        self.authorize_by = None;
    }

    /// Counts a `pusher:error` sent, by its code.
    fn count_error(&self, code: Option<u16>) {
        self.state.metrics.error(PUSHER, pusher_code(code));
    }

    async fn serve(mut self, socket: &mut WebSocket) {
        // A second handle, so the socket can write while a request borrows the session.
        let outbound = self.outbound.clone();
        // Set when the client closes; otherwise the server's close frame (or its absence) says
        // how the connection ended.
        let mut client_closed = None;
        let settings = self.state.config.pusher;
        let activity = Duration::from_secs(settings.activity_timeout_s);
        let pong_wait = Duration::from_millis(settings.pong_timeout_ms);
        let mut last_heard = Instant::now();
        let mut ping_sent: Option<Instant> = None;
        loop {
            // One timer per connection: after `activity` of silence the server pings; after
            // `pong_wait` more without any frame it gives up; and an unauthorized connection is
            // closed at `authorize_by`, whichever comes first.
            let liveness = ping_sent.map_or(last_heard + activity, |at| at + pong_wait);
            let deadline = self.authorize_by.map_or(liveness, |at| at.min(liveness));
            tokio::select! {
                () = self.outbound.closing() => break,
                // pusher-js reconnects at once on a 42xx close, so this connection's turn is
                // delayed instead: the closes, and so the reconnections, spread over the window.
                () = self.state.close_turn(self.id) => {
                    self.count_error(Some(close::RECONNECT));
                    let text = wire::error(Some(close::RECONNECT), "The server is shutting down; reconnect");
                    self.outbound.close_with(Some(&text), close::RECONNECT, "server shutting down");
                    break;
                }
                message = socket.next(&outbound) => {
                    let message = match message {
                        Ok(message) => message,
                        Err(failure) => {
                            self.on_read_failure(failure);
                            break;
                        }
                    };
                    // Any frame shows the client is alive (Pusher's rule).
                    last_heard = Instant::now();
                    ping_sent = None;
                    match message {
                        Incoming::Text(text) => {
                            self.app.metrics.pusher.received(text.len());
                            // Boxed: what a request needs while it runs must not be part
                            // of every idle connection's future (see docs/benchmarks.md).
                            let request = Box::pin(self.on_text(&text));
                            socket.send_while(&outbound, request).await;
                        }
                        Incoming::Binary(_) => self.error(None, "Binary frames are not supported: send JSON text frames"),
                        Incoming::Ping(_) | Incoming::Pong => {}
                        Incoming::Close(code) => {
                            client_closed = Some(End::Client(code));
                            self.outbound.close(None, CloseCode::Normal, "");
                            break;
                        }
                    }
                }
                () = sleep_until(deadline) => {
                    if self.authorize_by.is_some_and(|at| at <= Instant::now()) {
                        self.count_error(Some(close::UNAUTHORIZED));
                        let text = wire::error(Some(close::UNAUTHORIZED), "Connection not authorized within timeout.");
                        self.outbound.close_with(Some(&text), close::UNAUTHORIZED, "connection not authorized");
                        break;
                    }
                    if Instant::now() < liveness {
                        continue;
                    }
                    if ping_sent.is_some() {
                        self.count_error(Some(close::PONG_NOT_RECEIVED));
                        let text = wire::error(Some(close::PONG_NOT_RECEIVED), "Pong reply not received");
                        self.outbound.close_with(Some(&text), close::PONG_NOT_RECEIVED, "pong reply not received");
                        break;
                    }
                    self.send(&wire::ping());
                    ping_sent = Some(Instant::now());
                }
            }
        }
        let end = client_closed
            .or_else(|| {
                self.outbound
                    .close_frame()
                    .map(|(code, reason)| End::Server(code, reason))
            })
            .unwrap_or(End::Lost);
        Box::pin(self.cleanup()).await;
        self.log.closed(self.user.as_ref().map(|u| &u.id), end);
    }

    fn on_read_failure(&self, failure: ReadFailure) {
        match failure {
            ReadFailure::Gone => {}
            ReadFailure::Violation(CloseCode::MessageTooBig) => {
                self.count_error(None);
                let max = self.state.config.limits.max_frame_bytes;
                let text = wire::error(None, &format!("Frames are limited to {max} bytes"));
                self.outbound
                    .close(Some(&text), CloseCode::MessageTooBig, "frame too large");
            }
            ReadFailure::Violation(code) => self.outbound.close(None, code, ""),
        }
    }

    async fn on_text(&mut self, text: &str) {
        let frame = match wire::decode(text) {
            Ok(frame) => frame,
            Err(error) => {
                self.error(None, &error.to_string());
                return;
            }
        };
        let now = now_ms();
        match frame {
            ClientFrame::Subscribe {
                channel,
                auth,
                channel_data,
            } => {
                self.subscribe(&channel, auth.as_deref(), channel_data.as_deref(), now)
                    .await;
            }
            ClientFrame::Unsubscribe { channel } => self.unsubscribe(&channel, now).await,
            ClientFrame::Ping => self.send(&wire::pong()),
            ClientFrame::Pong => {}
            ClientFrame::Other(event) => {
                tracing::debug!(%event, "ignoring an unknown Pusher event");
            }
            ClientFrame::Signin { auth, user_data } => self.signin(&auth, &user_data),
            ClientFrame::ClientEvent {
                event,
                channel,
                data,
            } => self.client_event(&event, &channel, &data, now).await,
        }
    }

    /// Leaves every channel at once, so the other members see the leave without waiting for the
    /// socket to finish closing.
    async fn cleanup(&mut self) {
        let now = now_ms();
        let handing_off = self.state.is_shutting_down();
        let channels: Vec<(ChannelName, Subscription)> = self.channels.drain().collect();
        let app = self.app.clone();
        for (channel, subscription) in &channels {
            let who = self.requester(subscription.user_id.as_ref(), Answer::Silent);
            // The connection subscribed to each of these, so leaving cannot fail.
            let _ = app.leave(who, channel, handing_off, now).await;
        }
        if let Some(user) = &self.user {
            self.app.users.remove(&user.id, self.id);
        }
        self.outbound.close(None, CloseCode::Normal, "");
    }
}

//! One native-protocol connection: authentication, the read loop, the heartbeat timer, and
//! cleanup when the connection ends for any reason.

mod commands;
mod identity;
pub(crate) mod pusher;
mod rate;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use hmac::{Hmac, Mac};
use rollcall_core::{ChannelName, ConnectionId};
use rollcall_proto::{
    CloseCode, ErrorCode, LimitsInfo, PROTOCOL_VERSION, RequestId, ServerMessage, decode_request,
};
use sha2::Sha256;
use tokio::time::{Instant, sleep_until};

pub(crate) use identity::ConnectParams;
use identity::Identity;

use crate::event::Protocol;
use crate::hub::{Answer, Requester};
use crate::outbound::Outbound;
use crate::state::{AppRuntime, ConnectionSlot, ServerState};
use crate::telemetry::{ConnectionLog, End, Metrics, NATIVE};
use crate::websocket::{Incoming, ReadFailure, WebSocket};

/// The server's version, announced in the `session` message.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The current time in Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A live connection's state, owned by its read task.
pub(crate) struct Session {
    state: Arc<ServerState>,
    app: Arc<AppRuntime>,
    id: ConnectionId,
    identity: Identity,
    outbound: Arc<Outbound>,
    /// Channels this connection joined or watches: for the per-connection limit and cleanup.
    channels: HashSet<ChannelName>,
    /// How many messages (`publish`, `ephemeral`, `invite`) it may still send right now.
    messages: rate::RateLimit,
    /// The open/close log lines and the connections gauge.
    log: ConnectionLog,
}

fn error_text(id: Option<&RequestId>, code: ErrorCode, message: &str) -> Utf8Bytes {
    Utf8Bytes::from(ServerMessage::Error { id, code, message }.encode())
}

/// Refuses the connection: an `error` message, then the close code that goes with it.
fn refuse(metrics: &Metrics, outbound: &Outbound, code: ErrorCode, message: &str) {
    metrics.error(NATIVE, code.as_str());
    tracing::debug!(code = code.as_str(), "native connection refused");
    let close = code.close_code().unwrap_or(CloseCode::BadRequest);
    outbound.close(Some(&error_text(None, code, message)), close, code.as_str());
}

/// Runs a native connection from upgrade to close. `params` is the parsed query string, or why
/// it could not be parsed.
pub(crate) async fn run(
    mut socket: WebSocket,
    state: Arc<ServerState>,
    params: Result<ConnectParams, String>,
) {
    let outbound = Outbound::new(state.config.limits.max_queue_bytes);
    // `params` is dropped before the connection's long wait, so it takes no room in the future
    // every connection keeps for its lifetime.
    let opened = match params {
        Ok(params) => open(&state, &params, &outbound),
        Err(message) => {
            refuse(&state.metrics, &outbound, ErrorCode::BadRequest, &message);
            None
        }
    };
    if let Some((session, slot)) = opened {
        session.serve(&mut socket).await;
        drop(slot);
    }
    socket.finish(&outbound).await;
}

/// Admits and authenticates the connection (its `session` message is sent by `serve`); on refusal, queues
/// the error and close frame and returns `None`.
fn open(
    state: &Arc<ServerState>,
    params: &ConnectParams,
    outbound: &Arc<Outbound>,
) -> Option<(Session, ConnectionSlot)> {
    let Some(slot) = state.admit() else {
        refuse(
            &state.metrics,
            outbound,
            ErrorCode::ServerFull,
            "the server is at its connection limit; retry later",
        );
        return None;
    };
    let Some(app) = state.app(params.app.as_deref()) else {
        let message = match &params.app {
            Some(key) => format!("no app has the key {key:?}"),
            None => "this server has several apps: name one with ?app=<key>".into(),
        };
        refuse(&state.metrics, outbound, ErrorCode::UnknownApp, &message);
        return None;
    };
    let limits = &state.config.limits;
    let identity = match Identity::establish(
        &app.config,
        params,
        limits.max_member_data_bytes,
        now_ms() / 1000,
    ) {
        Ok(identity) => identity,
        Err(refusal) => {
            if matches!(
                refusal.code,
                ErrorCode::InvalidToken | ErrorCode::TokenExpired | ErrorCode::AnonymousNotAllowed
            ) {
                app.metrics.native.auth_failures.increment(1);
            }
            refuse(&state.metrics, outbound, refusal.code, &refusal.message);
            return None;
        }
    };
    outbound.attach_metrics(app.metrics.native.writer.clone());
    let log = ConnectionLog::opened(
        &app.config.id,
        &app.metrics.native,
        NATIVE,
        slot.id,
        identity.client_id.as_ref(),
    );
    let session = Session {
        state: state.clone(),
        app: app.clone(),
        id: slot.id,
        identity,
        outbound: outbound.clone(),
        channels: HashSet::new(),
        messages: rate::RateLimit::per_second(
            limits.max_messages_per_second,
            tokio::time::Instant::now(),
        ),
        log,
    };
    if let Some(client) = &session.identity.client_id {
        app.clients.add(client, session.id, outbound);
    }
    Some((session, slot))
}

impl Session {
    fn greet(&self) {
        let config = &self.state.config;
        let limits = &config.limits;
        let resume_token = self.resume_token();
        let text = ServerMessage::Session {
            connection_id: self.id,
            client_id: self.identity.client_id.as_ref(),
            server_version: SERVER_VERSION,
            protocol_version: PROTOCOL_VERSION,
            heartbeat_interval_ms: config.heartbeat.interval_ms,
            heartbeat_timeout_ms: config.heartbeat.timeout_ms,
            resume_token: &resume_token,
            limits: LimitsInfo {
                max_frame_bytes: limits.max_frame_bytes,
                max_member_data_bytes: limits.max_member_data_bytes,
                max_message_bytes: limits.max_message_bytes,
                max_channels_per_connection: limits.max_channels_per_connection,
            },
        }
        .encode();
        self.outbound.push(&Utf8Bytes::from(text));
    }

    /// `<connection id>.<MAC>`: names the session to resume and proves it was issued by this
    /// app, so a future resume can trust it without storing anything per connection.
    fn resume_token(&self) -> String {
        // HMAC accepts keys of any length.
        #[allow(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(self.app.config.secret.as_bytes())
            .expect("HMAC takes any key length");
        mac.update(format!("resume:{}", self.id).as_bytes());
        let tag = mac.finalize().into_bytes();
        let hex: String = tag[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}.{hex}", self.id)
    }

    async fn serve(mut self, socket: &mut WebSocket) {
        // Counted where every node sees it before the client learns it is connected, so that
        // an invitation sent right after finds it.
        if let (Some(cluster), Some(client)) = (&self.app.cluster, &self.identity.client_id) {
            Box::pin(cluster.count_client(&self.app, client, 1)).await;
        }
        self.greet();
        // A second handle, so the socket can write while a request borrows the session.
        let outbound = self.outbound.clone();
        let heartbeat = self.state.config.heartbeat;
        let mut last_heard = Instant::now();
        let mut next_ping = last_heard + heartbeat.interval();
        // Set when the client closes; otherwise the server's close frame (or its absence) says
        // how the connection ended.
        let mut client_closed = None;
        loop {
            // One timer per connection: the earlier of the next ping and the silence deadline.
            let deadline = next_ping.min(last_heard + heartbeat.timeout());
            tokio::select! {
                () = self.outbound.closing() => break,
                () = self.state.shutting_down() => {
                    self.say_goodbye();
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
                    last_heard = Instant::now();
                    match message {
                        Incoming::Text(text) => {
                            self.app.metrics.native.received(text.len());
                            // Boxed: what a request needs while it runs must not be part
                            // of every idle connection's future (see docs/benchmarks.md).
                            let request = Box::pin(self.on_text(&text));
                            socket.send_while(&outbound, request).await;
                        }
                        Incoming::Binary(_) => self.send_error(
                            None,
                            ErrorCode::BinaryNotSupported,
                            "binary frames are not supported: send JSON as text frames",
                        ),
                        Incoming::Ping(_) | Incoming::Pong => {}
                        Incoming::Close(code) => {
                            client_closed = Some(End::Client(code));
                            self.outbound.close(None, CloseCode::Normal, "");
                            break;
                        }
                    }
                }
                () = sleep_until(deadline) => {
                    let now = Instant::now();
                    if now >= last_heard + heartbeat.timeout() {
                        self.count_error(ErrorCode::HeartbeatTimeout);
                        let text = error_text(
                            None,
                            ErrorCode::HeartbeatTimeout,
                            "nothing received within the heartbeat timeout",
                        );
                        self.outbound.close(Some(&text), CloseCode::HeartbeatTimeout, "heartbeat_timeout");
                        break;
                    }
                    if now >= next_ping {
                        self.outbound.ping();
                        next_ping = now + heartbeat.interval();
                    }
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
        self.log.closed(self.identity.client_id.as_ref(), end);
    }

    /// Closes with `error` `server_shutdown` (1001), saying when to reconnect: a random delay
    /// per connection, so clients do not all come back at the same moment.
    fn say_goodbye(&self) {
        self.count_error(ErrorCode::ServerShutdown);
        let after = self.state.reconnect_after(self.id);
        let text = ServerMessage::ShuttingDown {
            code: ErrorCode::ServerShutdown,
            message: "the server is shutting down; reconnect after reconnect_after_ms",
            reconnect_after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
        }
        .encode();
        let text = Utf8Bytes::from(text);
        self.outbound
            .close(Some(&text), CloseCode::GoingAway, "server_shutdown");
    }

    fn count_error(&self, code: ErrorCode) {
        self.state.metrics.error(NATIVE, code.as_str());
    }

    fn on_read_failure(&self, failure: ReadFailure) {
        match failure {
            ReadFailure::Gone => {}
            ReadFailure::Violation(CloseCode::MessageTooBig) => {
                self.count_error(ErrorCode::FrameTooLarge);
                let max = self.state.config.limits.max_frame_bytes;
                let text = error_text(
                    None,
                    ErrorCode::FrameTooLarge,
                    &format!("frames are limited to {max} bytes"),
                );
                self.outbound
                    .close(Some(&text), CloseCode::MessageTooBig, "frame_too_large");
            }
            ReadFailure::Violation(code) => self.outbound.close(None, code, ""),
        }
    }

    async fn on_text(&mut self, text: &str) {
        let request = match decode_request(text) {
            Ok(request) => request,
            Err(error) => {
                self.send_error(error.id.as_ref(), error.code, &error.message);
                return;
            }
        };
        let id = request.id.as_ref();
        if let Err(failure) = self.execute(id, &request.command, now_ms()).await {
            self.send_error(id, failure.code, &failure.message);
        }
    }

    fn send_error(&self, id: Option<&RequestId>, code: ErrorCode, message: &str) {
        self.count_error(code);
        self.outbound.push_reply(&error_text(id, code, message));
    }

    /// Leaves every channel at once, so the other members see the leave without waiting for the
    /// socket to finish closing.
    async fn cleanup(&mut self) {
        let now = now_ms();
        let handing_off = self.state.is_shutting_down();
        let who = Requester {
            connection_id: self.id,
            client_id: self.identity.client_id.as_ref(),
            outbound: &self.outbound,
            protocol: Protocol::Native,
            answer: Answer::Silent,
        };
        let app = self.app.clone();
        for channel in std::mem::take(&mut self.channels) {
            // The connection subscribed to each of these, so leaving cannot fail.
            let _ = app.leave(who, &channel, handing_off, now).await;
        }
        if let Some(client) = &self.identity.client_id {
            self.app.clients.remove(client, self.id);
            if let (Some(cluster), false) = (&app.cluster, handing_off) {
                Box::pin(cluster.count_client(&app, client, -1)).await;
            }
        }
        self.outbound.close(None, CloseCode::Normal, "");
    }
}

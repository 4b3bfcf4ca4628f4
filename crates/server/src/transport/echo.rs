//! `GET /test/echo`: echoes every message back. Enabled only by `testing.echo_endpoint`, for
//! the WebSocket conformance suite; it shares the upgrade settings and read-error handling of
//! the real endpoints so the suite tests what clients get.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::SinkExt;

use super::ws::{ReadFailure, classify, configure};
use crate::state::ServerState;

pub(crate) async fn upgrade(
    upgrade: WebSocketUpgrade,
    State(state): State<Arc<ServerState>>,
) -> Response {
    configure(upgrade, &state.config.limits).on_upgrade(echo)
}

async fn echo(mut socket: WebSocket) {
    while let Some(frame) = socket.recv().await {
        let reply = match frame {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => message,
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) => break,
            Err(error) => {
                if let ReadFailure::Violation(code) = classify(error) {
                    let frame = CloseFrame {
                        code: code.code(),
                        reason: "".into(),
                    };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                }
                break;
            }
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
    // Flushes the close reply the WebSocket layer queued when the peer's close arrived (sending
    // another close frame would be refused), then shuts the socket.
    let _ = SinkExt::close(&mut socket).await;
}

//! `GET /test/echo`: echoes every message back. Enabled only by `testing.echo_endpoint`, for
//! the WebSocket conformance suite; it uses the same upgrade, framing and limits as the real
//! endpoints, so the suite tests what clients get.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use rollcall_proto::CloseCode;

use crate::outbound::Outbound;
use crate::state::ServerState;
use crate::websocket::{Incoming, ReadFailure, Upgrade, WebSocket, opcode};

pub(crate) async fn upgrade(upgrade: Upgrade, State(state): State<Arc<ServerState>>) -> Response {
    upgrade.on_upgrade(state.config.limits.max_frame_bytes, echo)
}

async fn echo(mut socket: WebSocket) {
    // Echoes are answered on the socket directly, in order; the queue only carries the close.
    let outbound = Outbound::new(usize::MAX);
    loop {
        match socket.next(&outbound).await {
            Ok(Incoming::Text(text)) => socket.queue_reply(opcode::TEXT, text.as_bytes()),
            Ok(Incoming::Binary(data)) => socket.queue_reply(opcode::BINARY, &data),
            Ok(Incoming::Ping(_) | Incoming::Pong) => {}
            Ok(Incoming::Close(_)) => {
                outbound.close(None, CloseCode::Normal, "");
                break;
            }
            Err(ReadFailure::Violation(code)) => {
                outbound.close(None, code, "");
                break;
            }
            Err(ReadFailure::Gone) => break,
        }
    }
    socket.finish(&outbound).await;
}

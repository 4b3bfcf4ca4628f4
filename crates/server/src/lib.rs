//! The rollcall presence server.
//!
//! Layers, top to bottom (see `docs/architecture.md`): [`transport`](crate) (HTTP routes and
//! WebSocket upgrades) → `session` (one connection's state machine) → `hub` (channels,
//! subscribers, fan-out; the presence registry from `rollcall-core` inside) . I/O happens only at
//! the top; the hub and the registry never touch a socket.

pub mod auth;
mod clients;
mod cluster;
pub mod config;
mod engine;
mod event;
mod hub;
mod invitations;
mod outbound;
mod pusher;
mod server;
mod session;
mod state;
mod telemetry;
mod transport;
mod users;
mod web;
pub mod webhooks;
mod websocket;

pub use server::{Server, StartError};

/// The hub and outbound queues, for the criterion benchmarks in `benches/` only: not a stable
/// API, and not meant for anything else.
#[doc(hidden)]
pub mod bench_internals {
    pub use crate::event::Protocol;
    pub use crate::hub::{Answer, Hub, Publication, Requester};
    pub use crate::outbound::Outbound;
}
pub use session::SERVER_VERSION;

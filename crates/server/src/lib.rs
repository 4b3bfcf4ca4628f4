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

pub use server::{Server, StartError};
pub use session::SERVER_VERSION;

//! The Pusher Channels protocol (version 7): wire frames, channel kinds, signatures, and the
//! encoder that renders the hub's protocol-neutral events as Pusher frames.
//!
//! Everything here is pure: no sockets, no clocks, no locks. The Pusher session lives in
//! `session::pusher`, the HTTP API in `transport::rest`, webhooks in `webhooks`.
//! `docs/pusher-compat.md` describes what is supported and how it maps onto rollcall.

pub(crate) mod channel;
pub(crate) mod encode;
pub(crate) mod sign;
pub(crate) mod wire;

/// Seconds the server suggests a client may stay silent before it pings (`activity_timeout`).
/// The server applies the same value to itself before pinging a silent client.
pub(crate) const DEFAULT_ACTIVITY_TIMEOUT_S: u64 = 120;

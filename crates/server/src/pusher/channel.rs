//! Pusher channel kinds, told apart by name prefix.

use rollcall_core::ChannelName;

/// Prefix of the per-user channel a signed-in connection may subscribe to.
pub(crate) const SERVER_TO_USER_PREFIX: &str = "#server-to-user-";

/// What a channel's name makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// No prefix: anyone may subscribe.
    Public,
    /// `private-`: subscription needs a signature.
    Private,
    /// `private-encrypted-`: like private; payloads are end-to-end encrypted, and relayed as is.
    Encrypted,
    /// `presence-`: subscription needs a signature over the member's `channel_data`.
    Presence,
}

impl Kind {
    /// The kind of channel `name`.
    pub(crate) fn of(name: &str) -> Self {
        if name.starts_with("presence-") {
            Self::Presence
        } else if name.starts_with("private-encrypted-") {
            Self::Encrypted
        } else if name.starts_with("private-") {
            Self::Private
        } else {
            Self::Public
        }
    }

    /// Whether subscribing needs a signature.
    pub(crate) fn needs_auth(self) -> bool {
        self != Self::Public
    }

    /// Whether clients may send `client-` events on it.
    pub(crate) fn allows_client_events(self) -> bool {
        self != Self::Public
    }
}

/// Whether `name` is a cache channel: the last event triggered through the HTTP API is
/// replayed to each new subscriber.
pub(crate) fn is_cache(name: &str) -> bool {
    [
        "cache-",
        "private-cache-",
        "private-encrypted-cache-",
        "presence-cache-",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}

/// Whether `channel` is a presence channel.
pub(crate) fn is_presence(channel: &ChannelName) -> bool {
    Kind::of(channel.as_str()) == Kind::Presence
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_decide_the_kind() {
        assert_eq!(Kind::of("room"), Kind::Public);
        assert_eq!(Kind::of("private-room"), Kind::Private);
        assert_eq!(Kind::of("private-encrypted-room"), Kind::Encrypted);
        assert_eq!(Kind::of("presence-room"), Kind::Presence);
        assert_eq!(Kind::of("presence-cache-room"), Kind::Presence);
        assert!(is_cache("cache-x") && is_cache("presence-cache-x"));
        assert!(!is_cache("private-x") && !is_cache("xcache-"));
    }
}

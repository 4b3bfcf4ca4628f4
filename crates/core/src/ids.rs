//! Identity newtypes, validated once at the edge so that no unchecked string travels inside.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string was refused as an identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string was empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// Which identity was being parsed.
        kind: &'static str,
    },
    /// The string was longer than the identity allows.
    #[error("{kind} is {len} bytes long; the limit is {max}")]
    TooLong {
        /// Which identity was being parsed.
        kind: &'static str,
        /// Length of the refused string, in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// The string held a character the identity does not allow.
    #[error("{kind} contains {found:?}, which is not allowed ({allowed})")]
    BadCharacter {
        /// Which identity was being parsed.
        kind: &'static str,
        /// The first offending character.
        found: char,
        /// A human description of the allowed characters.
        allowed: &'static str,
    },
    /// A connection id that is not `<node>.<sequence>`.
    #[error("connection id must look like 1234.5678")]
    BadConnectionId,
}

fn check(
    s: &str,
    kind: &'static str,
    max: usize,
    allowed: &'static str,
    ok: impl Fn(char) -> bool,
) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if s.len() > max {
        return Err(IdError::TooLong {
            kind,
            len: s.len(),
            max,
        });
    }
    match s.chars().find(|c| !ok(*c)) {
        Some(found) => Err(IdError::BadCharacter {
            kind,
            found,
            allowed,
        }),
        None => Ok(()),
    }
}

/// Declares a string identity backed by `Arc<str>`: these are cloned into several maps (the
/// registry, subscriber lists, per-connection sets), so a clone must be a reference-count bump.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr, $allowed:literal, $ok:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// The longest accepted value, in bytes.
            pub const MAX_LEN: usize = $max;

            /// Validates `s` and wraps it.
            ///
            /// # Errors
            /// [`IdError`] when `s` is empty, too long or holds a character outside the allowed set.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                check(s, $kind, $max, $allowed, $ok)?;
                Ok(Self(Arc::from(s)))
            }

            /// The identity as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn is_channel_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_=@,.;:".contains(c)
}

string_id!(
    /// A tenant's id, from the server configuration.
    AppId,
    "app id",
    64,
    "ASCII letters, digits, '-' and '_'",
    |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_'
);

string_id!(
    /// A channel's name within an app. The character set is Pusher's plus `:`, so every Pusher
    /// channel name is also a valid rollcall channel name.
    ChannelName,
    "channel name",
    200,
    "ASCII letters, digits and - _ = @ , . ; :",
    is_channel_char
);

string_id!(
    /// A user's identity: self-asserted by anonymous connections, asserted by the token otherwise.
    ClientId,
    "client id",
    128,
    "any characters except control characters",
    |c: char| !c.is_control()
);

/// A connection's system-assigned id, unique across a cluster: the node's random number and a
/// per-node counter. Written `node.sequence`, which is also the shape of a Pusher `socket_id`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId {
    node: u32,
    seq: u64,
}

impl ConnectionId {
    /// The id of the `seq`-th connection accepted by node `node`.
    #[must_use]
    pub const fn new(node: u32, seq: u64) -> Self {
        Self { node, seq }
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.node, self.seq)
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for ConnectionId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let (node, seq) = s.split_once('.').ok_or(IdError::BadConnectionId)?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(node) || !digits(seq) {
            return Err(IdError::BadConnectionId);
        }
        Ok(Self {
            node: node.parse().map_err(|_| IdError::BadConnectionId)?,
            seq: seq.parse().map_err(|_| IdError::BadConnectionId)?,
        })
    }
}

impl Serialize for ConnectionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConnectionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_follow_the_documented_rules() {
        assert!(ChannelName::parse("presence-room_1=@,.;:").is_ok());
        assert_eq!(
            ChannelName::parse(""),
            Err(IdError::Empty {
                kind: "channel name"
            })
        );
        assert!(matches!(
            ChannelName::parse("a b"),
            Err(IdError::BadCharacter { found: ' ', .. })
        ));
        assert!(ChannelName::parse(&"x".repeat(200)).is_ok());
        assert!(matches!(
            ChannelName::parse(&"x".repeat(201)),
            Err(IdError::TooLong { len: 201, .. })
        ));
    }

    #[test]
    fn client_ids_allow_unicode_but_not_control_characters() {
        assert!(ClientId::parse("Zoë 🦀").is_ok());
        assert!(ClientId::parse("a\nb").is_err());
    }

    #[test]
    fn connection_ids_round_trip_through_text() {
        let id = ConnectionId::new(42, 7);
        assert_eq!(id.to_string(), "42.7");
        assert_eq!("42.7".parse::<ConnectionId>(), Ok(id));
        for bad in ["42", "42.", ".7", "a.7", "42.7.1", "-1.2", "99999999999.1"] {
            assert!(bad.parse::<ConnectionId>().is_err(), "{bad}");
        }
    }
}

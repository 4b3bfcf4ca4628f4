//! Channel grants: which channels a token lets its holder join, watch and publish to.

use rollcall_core::ChannelName;
use serde::{Deserialize, Serialize};

/// What a connection wants to do with a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Enter the channel's presence (`join`, accepting an invitation).
    Join,
    /// Receive the channel's events or read its members (`watch`, `members`, `is_present`).
    /// A `join` grant implies this.
    Watch,
    /// Send to the channel (`publish`, `ephemeral`, `invite`).
    Publish,
}

/// A glob over channel names: `*` matches any run of characters, `?` exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelPattern(String);

impl ChannelPattern {
    /// Wraps a pattern.
    #[must_use]
    pub fn new(pattern: impl Into<String>) -> Self {
        Self(pattern.into())
    }

    /// Whether `name` matches.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        glob_match(self.0.as_bytes(), name.as_bytes())
    }
}

/// Iterative glob matching with single-star backtracking: linear in practice and never
/// exponential, whatever a token's author writes.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The channels a token grants, per action. A token without a `grants` claim may do everything;
/// a token with one may do only what it lists, and an action it leaves out is denied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Channels the holder may join (and so also watch).
    #[serde(default)]
    pub join: Vec<ChannelPattern>,
    /// Channels the holder may watch and query.
    #[serde(default)]
    pub watch: Vec<ChannelPattern>,
    /// Channels the holder may publish to, send ephemeral messages to, and invite others to.
    #[serde(default)]
    pub publish: Vec<ChannelPattern>,
}

impl Grants {
    /// Whether these grants allow `action` on `channel`.
    #[must_use]
    pub fn allows(&self, action: Action, channel: &ChannelName) -> bool {
        let any = |list: &[ChannelPattern]| list.iter().any(|p| p.matches(channel.as_str()));
        match action {
            Action::Join => any(&self.join),
            Action::Watch => any(&self.watch) || any(&self.join),
            Action::Publish => any(&self.publish),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_stars_and_question_marks() {
        let m = |p: &str, t: &str| ChannelPattern::new(p).matches(t);
        assert!(m("*", "anything"));
        assert!(m("room-*", "room-1"));
        assert!(m("room-*", "room-"));
        assert!(!m("room-*", "lobby"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("r?om", "room"));
        assert!(!m("r?om", "rom"));
        assert!(m("exact", "exact"));
        assert!(!m("exact", "exactly"));
        assert!(!m(&"*a".repeat(30), &"a".repeat(29)));
    }

    #[test]
    fn join_implies_watch_but_not_publish() {
        let grants = Grants {
            join: vec![ChannelPattern::new("room-*")],
            ..Grants::default()
        };
        let room = ChannelName::parse("room-1").unwrap();
        assert!(grants.allows(Action::Join, &room));
        assert!(grants.allows(Action::Watch, &room));
        assert!(!grants.allows(Action::Publish, &room));
    }
}

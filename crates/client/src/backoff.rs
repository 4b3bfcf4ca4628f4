//! How long to wait before each reconnect attempt.

use std::time::Duration;

/// Exponential backoff with jitter, bounded in delay and optionally in attempts.
///
/// The delay before retry `n` (1-based) is `initial × multiplierⁿ⁻¹`, capped at `max`, then
/// shortened by a random fraction of up to `jitter` of itself. The randomness is there because a
/// server restart disconnects every client at the same instant; without it they would all come
/// back at the same instants too.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Delay before the first retry. Default 250 ms.
    pub initial: Duration,
    /// Longest delay. Default 30 s.
    pub max: Duration,
    /// Growth factor per attempt (values below 1 count as 1). Default 2.
    pub multiplier: f64,
    /// Largest fraction of a delay removed at random, from 0 (none) to 1. Default 0.5.
    pub jitter: f64,
    /// Give up after this many failed attempts in a row; `None` retries forever. Default `None`.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.5,
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// The delay before retry `attempt` (1 for the first), given `unit`, a random sample from
    /// `[0, 1)`. Pure, so that schedules can be checked without a clock.
    #[must_use]
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1).min(64)).unwrap_or(64);
        let growth = if self.multiplier.is_finite() {
            self.multiplier.max(1.0)
        } else {
            1.0
        };
        let base = (self.initial.as_secs_f64() * growth.powi(exponent)).min(self.max.as_secs_f64());
        let cut = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        Duration::try_from_secs_f64(base * (1.0 - cut)).unwrap_or(self.max)
    }

    /// Whether `attempt` (1-based) is still allowed.
    #[must_use]
    pub fn allows(&self, attempt: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempt <= max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_grow_exponentially_up_to_the_cap() {
        let b = Backoff {
            initial: ms(100),
            max: ms(1_000),
            ..Backoff::default()
        };
        let delays: Vec<_> = (1..=6).map(|n| b.delay(n, 0.0)).collect();
        assert_eq!(
            delays,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(b.delay(u32::MAX, 0.0), ms(1_000));
    }

    #[test]
    fn jitter_only_shortens_and_stays_within_its_fraction() {
        let b = Backoff {
            initial: ms(1_000),
            jitter: 0.25,
            ..Backoff::default()
        };
        assert_eq!(b.delay(1, 0.0), ms(1_000));
        assert_eq!(b.delay(1, 0.5), ms(875));
        assert_eq!(b.delay(1, 1.0), ms(750));
        assert_eq!(b.delay(1, 7.0), ms(750), "samples are clamped");
    }

    #[test]
    fn nonsense_settings_still_give_bounded_delays() {
        let b = Backoff {
            initial: ms(10),
            max: ms(50),
            multiplier: f64::NAN,
            jitter: -3.0,
            max_attempts: Some(2),
        };
        assert_eq!(b.delay(5, 0.9), ms(10));
        assert!(b.allows(2));
        assert!(!b.allows(3));
    }
}

//! A token bucket: how many messages a connection may still send right now.

use std::time::Duration;

use tokio::time::Instant;

/// Allows `rate` messages per second on average, and bursts of up to `rate` at once.
#[derive(Debug)]
pub(crate) struct RateLimit {
    rate: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl RateLimit {
    /// A full bucket.
    pub(crate) fn per_second(rate: u32, now: Instant) -> Self {
        let rate = f64::from(rate);
        Self {
            rate,
            tokens: rate,
            refilled_at: now,
        }
    }

    /// Takes one token if there is one.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled_at);
        self.tokens = elapsed
            .as_secs_f64()
            .mul_add(self.rate, self.tokens)
            .min(self.rate);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until the next token, for the error message.
    pub(crate) fn wait(&self) -> Duration {
        Duration::from_secs_f64(((1.0 - self.tokens) / self.rate).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_rate_passes_then_tokens_come_back_with_time() {
        let start = Instant::now();
        let mut limit = RateLimit::per_second(10, start);
        for _ in 0..10 {
            assert!(limit.try_take(start));
        }
        assert!(!limit.try_take(start));
        assert!(limit.wait() > Duration::ZERO);
        assert!(!limit.try_take(start + Duration::from_millis(50)));
        assert!(limit.try_take(start + Duration::from_millis(101)));
        // Refill stops at the burst size, however long the connection was quiet.
        let later = start + Duration::from_secs(60);
        for _ in 0..10 {
            assert!(limit.try_take(later));
        }
        assert!(!limit.try_take(later));
    }
}

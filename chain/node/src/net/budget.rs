//! The network's budgets, as plain values with time passed in: a token
//! bucket (block serving, relayed transactions) and a misbehaviour score
//! that decays.

use std::time::{Duration, Instant};

/// `rate` tokens a second, up to `burst`. It may go into debt (a reply's
/// size is known only once it is built and sent); nothing new should start
/// until it is out of debt again.
#[derive(Debug, Clone)]
pub(super) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(super) fn new(rate_per_sec: f64, burst: f64, now: Instant) -> Self {
        Self {
            rate: rate_per_sec,
            burst,
            tokens: burst,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        if now > self.updated {
            let elapsed = now.duration_since(self.updated).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
            self.updated = now;
        }
    }

    /// Takes `amount` if the bucket holds it.
    pub(super) fn try_take(&mut self, amount: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= amount {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }

    /// Takes `amount` whether or not the bucket holds it.
    pub(super) fn charge(&mut self, amount: f64, now: Instant) {
        self.refill(now);
        self.tokens -= amount;
    }

    /// How long until the bucket is out of debt (zero when it is).
    pub(super) fn wait_time(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Misbehaviour points that halve every `half_life`, so an old offence
/// fades and only a steady one adds up.
#[derive(Debug, Clone)]
pub(super) struct Score {
    points: f64,
    updated: Instant,
}

impl Score {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            points: 0.0,
            updated: now,
        }
    }

    /// The points at `now`.
    pub(super) fn value(&self, now: Instant, half_life: Duration) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.points * 0.5f64.powf(elapsed / half_life.as_secs_f64())
    }

    /// Adds `points`; returns the new value.
    pub(super) fn add(&mut self, points: f64, now: Instant, half_life: Duration) -> f64 {
        self.points = self.value(now, half_life) + points;
        self.updated = self.updated.max(now);
        self.points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_up_to_its_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 20.0, start);
        assert!(bucket.try_take(20.0, start));
        assert!(!bucket.try_take(1.0, start));
        let later = start + Duration::from_millis(500);
        assert!(bucket.try_take(5.0, later));
        assert!(!bucket.try_take(1.0, later));
        // Never above the burst, however long it rests.
        let much_later = later + Duration::from_secs(3600);
        assert!(bucket.try_take(20.0, much_later));
        assert!(!bucket.try_take(1.0, much_later));
    }

    #[test]
    fn a_bucket_in_debt_says_how_long_to_wait() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1_000.0, 1_000.0, start);
        assert_eq!(bucket.wait_time(start), Duration::ZERO);
        bucket.charge(3_000.0, start);
        assert_eq!(bucket.wait_time(start), Duration::from_secs(2));
        let later = start + Duration::from_secs(1);
        assert_eq!(bucket.wait_time(later), Duration::from_secs(1));
        assert_eq!(
            bucket.wait_time(later + Duration::from_secs(1)),
            Duration::ZERO
        );
    }

    #[test]
    fn a_score_halves_every_half_life() {
        let start = Instant::now();
        let half_life = Duration::from_secs(60);
        let mut score = Score::new(start);
        assert_eq!(score.add(100.0, start, half_life), 100.0);
        let value = score.value(start + half_life, half_life);
        assert!((value - 50.0).abs() < 1e-9, "{value}");
        let value = score.add(10.0, start + half_life * 2, half_life);
        assert!((value - 35.0).abs() < 1e-9, "{value}");
    }
}

//! A token bucket over logical time: `rate` tokens a second, up to `burst`
//! saved. Pure: the caller passes the clock. Used per tracking key (events a
//! second) and by dispatch (the account's SES sending rate).

use jiff::{SignedDuration, Timestamp};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Timestamp>,
}

impl TokenBucket {
    /// `rate` tokens a second (> 0), holding at most `burst` (≥ 1).
    pub fn new(rate: f64, burst: f64) -> Self {
        let rate = rate.max(f64::MIN_POSITIVE);
        let burst = burst.max(1.0);
        Self {
            rate,
            burst,
            tokens: burst,
            last: None,
        }
    }

    fn refill(&mut self, now: Timestamp) {
        if let Some(last) = self.last
            && now > last
        {
            let secs = now.duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + secs * self.rate).min(self.burst);
        }
        if self.last.is_none_or(|l| now > l) {
            self.last = Some(now);
        }
    }

    /// Takes `n` tokens at `now`, or says how long until they would be there
    /// (taking nothing). More than `burst` at once is never possible.
    pub fn take(&mut self, n: f64, now: Timestamp) -> Result<(), SignedDuration> {
        self.refill(now);
        if n <= self.tokens {
            self.tokens -= n;
            return Ok(());
        }
        let missing = n.min(self.burst) - self.tokens;
        let wait = (missing / self.rate).max(0.001);
        Err(SignedDuration::from_secs_f64(wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_and_caps_at_its_burst() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut b = TokenBucket::new(10.0, 20.0);
        assert!(b.take(20.0, t0).is_ok());
        let wait = b.take(5.0, t0).unwrap_err();
        assert_eq!(wait, SignedDuration::from_millis(500));
        let later = t0 + SignedDuration::from_millis(500);
        assert!(b.take(5.0, later).is_ok());
        assert!(b.take(1.0, later).is_err());
        // A long silence saves no more than the burst.
        let much_later = later + SignedDuration::from_hours(1);
        assert!(b.take(20.0, much_later).is_ok());
        assert!(b.take(1.0, much_later).is_err());
    }
}

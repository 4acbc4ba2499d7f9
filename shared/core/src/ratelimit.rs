//! Rates over logical time. Pure: the caller passes the clock.
//! - A token bucket: `rate` tokens a second, up to `burst` saved. Used per
//!   tracking key inside one instance (events a second) and by dispatch (the
//!   account's SES sending rate).
//! - An allowance: at most `max` in each fixed window, counted in the store
//!   so every instance shares it. Used for storefront forms (per write key
//!   and per address), which make the store send mail.

use crate::ids::{EmailAddress, ShopDomain};
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

/// At most `max` in each window of `window` (windows start at whole
/// multiples of it since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub max: u32,
    pub window: SignedDuration,
}

impl Allowance {
    /// `<max>/<window>`, e.g. `300/1h` or `3/1d`; the window is 1 minute to
    /// 7 days.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let err = |why: &str| format!("`{raw}`: {why} (expected `<count>/<window>`, e.g. `3/1d`)");
        let (max, window) = raw.trim().split_once('/').ok_or_else(|| err("no `/`"))?;
        let max = max
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|m| *m > 0)
            .ok_or_else(|| err("the count is a whole number above 0"))?;
        let window = crate::time::parse_duration(window).map_err(|e| err(&e))?;
        if window < SignedDuration::from_mins(1) || window > SignedDuration::from_hours(7 * 24) {
            return Err(err("the window is 1m to 7d"));
        }
        Ok(Self { max, window })
    }

    /// The start of the window `now` falls in.
    pub fn window_start(&self, now: Timestamp) -> Timestamp {
        let size = self.window.as_secs().max(1);
        let start = now.as_second().div_euclid(size) * size;
        Timestamp::from_second(start).unwrap_or(now)
    }

    /// When the window `now` falls in ends (a refused caller retries then).
    pub fn window_end(&self, now: Timestamp) -> Timestamp {
        self.window_start(now) + self.window
    }
}

/// One take from an allowance, as the store keeps it: the count of `name`
/// in the window starting at `window_start`, which may not pass `max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Take {
    pub shop: ShopDomain,
    /// What is counted (`form-key:<key>`, `form-address:<hash>`).
    pub name: String,
    pub window_start: Timestamp,
    pub max: u32,
    pub n: u32,
    /// When the count may be forgotten (the window's end, and a margin).
    pub expires_at: Timestamp,
}

impl Take {
    pub fn new(
        shop: &ShopDomain,
        name: String,
        allowance: &Allowance,
        n: u32,
        now: Timestamp,
    ) -> Self {
        let end = allowance.window_end(now);
        Self {
            shop: shop.clone(),
            name,
            window_start: allowance.window_start(now),
            max: allowance.max,
            n,
            expires_at: end + SignedDuration::from_hours(1),
        }
    }
}

/// An address's allowance name: a hash, so the count names no one (it
/// outlives no erasure either: it expires with its window).
pub fn address_name(address: &EmailAddress) -> String {
    let digest = Sha256::digest(address.lookup_key().as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("form-address:{hex}")
}

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

    #[test]
    fn an_allowance_is_read_from_count_and_window() {
        let a = Allowance::parse(" 3 / 1d").unwrap();
        assert_eq!(a.max, 3);
        assert_eq!(a.window, SignedDuration::from_hours(24));
        for bad in ["3", "0/1d", "x/1d", "3/", "3/30s", "3/8d", "-1/1h"] {
            let e = Allowance::parse(bad).unwrap_err();
            assert!(
                e.contains(bad.trim()) && e.contains("<count>/<window>"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn windows_are_fixed_and_every_instant_is_in_exactly_one() {
        let a = Allowance::parse("300/1h").unwrap();
        let t: Timestamp = "2026-05-01T12:34:56Z".parse().unwrap();
        assert_eq!(a.window_start(t), "2026-05-01T12:00:00Z".parse().unwrap());
        assert_eq!(a.window_end(t), "2026-05-01T13:00:00Z".parse().unwrap());
        let edge: Timestamp = "2026-05-01T13:00:00Z".parse().unwrap();
        assert_eq!(a.window_start(edge), edge);
        let before_epoch: Timestamp = "1969-12-31T23:30:00Z".parse().unwrap();
        assert_eq!(
            a.window_start(before_epoch),
            "1969-12-31T23:00:00Z".parse().unwrap()
        );
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let take = Take::new(&shop, "form-key:k".into(), &a, 2, t);
        assert_eq!(take.expires_at, "2026-05-01T14:00:00Z".parse().unwrap());
    }

    #[test]
    fn an_address_name_is_a_hash_of_the_address_in_any_case() {
        let ana = EmailAddress::parse("Ana@Example.com").unwrap();
        let same = EmailAddress::parse("ana@example.com").unwrap();
        let other = EmailAddress::parse("bo@example.com").unwrap();
        assert_eq!(address_name(&ana), address_name(&same));
        assert_ne!(address_name(&ana), address_name(&other));
        assert!(!address_name(&ana).contains("ana"));
    }
}

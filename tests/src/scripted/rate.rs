//! A token bucket shared by all connections of one scripted seeder, so a
//! test can make an honest peer slow (and a download last long enough to
//! kill it half way).

use std::sync::Mutex;
use std::time::Instant;

/// At most `bytes_per_sec` on average, with a small burst.
#[derive(Debug)]
pub struct RateLimit {
    /// Long-run rate.
    bytes_per_sec: u64,
    /// Largest burst: a few blocks, so the rate is smooth at the scale of
    /// the 2 s status lines.
    burst: f64,
    /// Tokens available and when they were last refilled.
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// A bucket of `bytes_per_sec`, starting full.
    pub fn new(bytes_per_sec: u64) -> RateLimit {
        let burst = (bytes_per_sec as f64 / 20.0).max(32.0 * 1024.0);
        RateLimit {
            bytes_per_sec,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// The configured rate.
    pub fn bytes_per_sec(&self) -> u64 {
        self.bytes_per_sec
    }

    /// Take `n` bytes' worth of tokens if the bucket holds them.
    pub fn try_take(&self, n: u32) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        let now = Instant::now();
        let refill = now.duration_since(s.1).as_secs_f64() * self.bytes_per_sec as f64;
        s.0 = (s.0 + refill).min(self.burst.max(f64::from(n)));
        s.1 = now;
        if s.0 >= f64::from(n) {
            s.0 -= f64::from(n);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn holds_the_rate_over_a_second() {
        let r = RateLimit::new(1 << 20);
        let start = Instant::now();
        let mut taken = 0u64;
        while start.elapsed() < Duration::from_millis(500) {
            if r.try_take(16 * 1024) {
                taken += 16 * 1024;
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // Half a second at 1 MiB/s plus the initial burst.
        let max = (1u64 << 19) + 64 * 1024 + 16 * 1024;
        assert!(taken <= max, "took {taken} > {max}");
        assert!(taken >= (1 << 19) - 64 * 1024, "took only {taken}");
    }
}

//! The announcer's knobs, and the time scaling the swarm lab relies on.

use std::time::Duration;

/// How a torrent announces. Every duration is in "real" time; the
/// announcer divides each by [`time_scale`](Self::time_scale) before use.
#[derive(Clone, Debug)]
pub struct AnnounceConfig {
    /// Peers asked for per announce (`numwant`).
    pub numwant: u32,
    /// Floor on tracker intervals: a tracker asking for announces every few
    /// seconds is not obeyed below this. Also the spacing of early
    /// announces asked for with `want_more_peers`.
    pub min_interval: Duration,
    /// Interval used when a tracker sends 0 (an invalid interval).
    pub default_interval: Duration,
    /// Whole-exchange timeout of one HTTP(S) announce.
    pub http_timeout: Duration,
    /// BEP 15's first UDP retransmission timeout (15 s); attempt n waits
    /// this times 2ⁿ, the protocol's schedule.
    pub udp_base_timeout: Duration,
    /// Sends of each UDP request (connect, announce) before the tracker is
    /// given up; BEP 15 allows 9 (over two hours), which would hold a tier
    /// back far too long. The default 2 waits 15 s + 30 s.
    pub udp_attempts: u32,
    /// First wait after a whole tier failed; doubles with each further
    /// failure (exponential backoff), up to `max_retry_interval`.
    pub retry_interval: Duration,
    /// Ceiling of the backoff, and of any tracker interval.
    pub max_retry_interval: Duration,
    /// Shuffle each tier once at start (BEP 12). Tests turn it off to get
    /// a known order.
    pub shuffle_tiers: bool,
    /// 1.0 normally; the swarm lab divides every interval and timeout by it.
    pub time_scale: f64,
    /// Announce from this address (the session's listening address when it
    /// names one), so the tracker sees the address peers reach us at; a
    /// tracker of the other IP family is reached from any address.
    pub bind_ip: Option<std::net::IpAddr>,
}

impl Default for AnnounceConfig {
    fn default() -> Self {
        AnnounceConfig {
            numwant: 50,
            min_interval: Duration::from_secs(60),
            default_interval: Duration::from_secs(1800),
            http_timeout: Duration::from_secs(20),
            udp_base_timeout: Duration::from_secs(15),
            udp_attempts: 2,
            retry_interval: Duration::from_secs(15),
            max_retry_interval: Duration::from_secs(3600),
            shuffle_tiers: true,
            time_scale: 1.0,
            bind_ip: None,
        }
    }
}

/// The longest any scaled duration gets: keeps instant arithmetic far from
/// overflow whatever a tracker or a config says.
const LONGEST: Duration = Duration::from_secs(7 * 24 * 3600);

impl AnnounceConfig {
    /// `d` divided by the time scale (a scale that is not a positive
    /// finite number counts as 1), at most a week.
    pub fn scaled(&self, d: Duration) -> Duration {
        let scale = if self.time_scale.is_finite() && self.time_scale > 0.0 {
            self.time_scale
        } else {
            1.0
        };
        Duration::try_from_secs_f64(d.as_secs_f64() / scale)
            .unwrap_or(LONGEST)
            .min(LONGEST)
    }

    /// The (scaled) wait before the next regular announce, given what the
    /// tracker asked for: its interval (0 means use `default_interval`),
    /// never below its `min interval` nor our `min_interval`.
    pub fn next_interval(&self, interval: Duration, tracker_min: Option<Duration>) -> Duration {
        let interval = if interval.is_zero() {
            self.default_interval
        } else {
            interval
        };
        let floor = self.min_interval.max(tracker_min.unwrap_or_default());
        self.scaled(interval.max(floor).min(self.max_retry_interval.max(floor)))
    }

    /// The (scaled) earliest gap between two announces to a tracker that
    /// sent `tracker_min` as its `min interval`.
    pub fn min_gap(&self, tracker_min: Option<Duration>) -> Duration {
        self.scaled(self.min_interval.max(tracker_min.unwrap_or_default()))
    }

    /// The (scaled) backoff after `failures` consecutive failures of a
    /// whole tier (1 = the first): `retry_interval` · 2^(failures-1), at
    /// most `max_retry_interval`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        let wait = self
            .retry_interval
            .checked_mul(1 << doublings)
            .unwrap_or(self.max_retry_interval);
        self.scaled(wait.min(self.max_retry_interval))
    }

    /// The (scaled) timeout of one HTTP announce.
    pub fn http_timeout_scaled(&self) -> Duration {
        self.scaled(self.http_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn intervals_are_clamped_and_scaled() {
        let cfg = AnnounceConfig {
            time_scale: 10.0,
            ..AnnounceConfig::default()
        };
        let s = Duration::from_secs;
        // The tracker's interval, scaled.
        assert_eq!(cfg.next_interval(s(1800), None), s(180));
        // Below our floor.
        assert_eq!(cfg.next_interval(s(5), None), s(6));
        // Below the tracker's own min interval.
        assert_eq!(cfg.next_interval(s(100), Some(s(300))), s(30));
        // Zero is invalid: the default.
        assert_eq!(cfg.next_interval(s(0), None), s(180));
        // Absurd intervals are capped.
        assert_eq!(cfg.next_interval(s(u64::from(u32::MAX)), None), s(360));
        assert_eq!(cfg.min_gap(Some(s(120))), s(12));
    }

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        let cfg = AnnounceConfig::default();
        let s = Duration::from_secs;
        assert_eq!(cfg.backoff(1), s(15));
        assert_eq!(cfg.backoff(2), s(30));
        assert_eq!(cfg.backoff(3), s(60));
        assert_eq!(cfg.backoff(100), s(3600));
        assert_eq!(cfg.backoff(0), s(15));
    }

    proptest! {
        #[test]
        fn scaling_never_panics_and_stays_bounded(
            secs in any::<u64>(), nanos in 0u32..1_000_000_000, scale in any::<f64>(),
            failures in any::<u32>(),
        ) {
            let cfg = AnnounceConfig { time_scale: scale, ..AnnounceConfig::default() };
            let d = Duration::new(secs, nanos);
            prop_assert!(cfg.scaled(d) <= LONGEST);
            prop_assert!(cfg.next_interval(d, Some(d)) <= LONGEST);
            prop_assert!(cfg.backoff(failures) <= LONGEST);
        }
    }
}

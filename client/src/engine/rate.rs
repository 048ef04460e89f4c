//! Token buckets for upload and download rates, on governor.
//!
//! One cell is one byte. A [`Bucket`] can be unlimited, and its rate can be
//! changed while it is in use (a service-rate policy such as one-club
//! throttling does that): a change installs a fresh governor limiter, so a
//! burst saved up at the old rate never carries into the new one.
//!
//! Peers draw from several buckets at once (session, torrent, peer). They do
//! not sleep inside the bucket: [`Debt`] asks each bucket in turn for the
//! bytes and, when one cannot pay yet, says how long to wait, so a peer task
//! keeps serving its other work (commands, keep-alives) in the meantime.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The smallest burst a bucket allows: a few blocks, so a PIECE message and
/// a full read fit in one check.
const MIN_BURST: u32 = 64 * 1024;

/// A byte-rate limit that may be changed at run time (0 = unlimited).
#[derive(Debug, Default)]
pub struct Bucket {
    /// The current limiter and its burst in bytes; `None` when unlimited.
    /// Replaced as a whole on a rate change.
    limiter: RwLock<Option<(Arc<DefaultDirectRateLimiter>, u32)>>,
    /// The rate in bytes per second (0 = unlimited), for status output.
    rate: AtomicU64,
    /// Fixed burst in bytes (0: the default, an eighth of a second of the
    /// rate and at least [`MIN_BURST`]). The swarm lab sets one block so a
    /// peer that idled cannot send faster than its rate afterwards.
    burst: AtomicU32,
}

/// What a bucket answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// The bytes are paid.
    Done,
    /// Not yet: ask again after this long.
    Wait(Duration),
}

impl Bucket {
    /// A bucket of `rate` bytes per second (0 = unlimited).
    pub fn new(rate: u64) -> Bucket {
        let b = Bucket::default();
        b.set_rate(rate);
        b
    }

    /// A shared bucket.
    pub fn shared(rate: u64) -> Arc<Bucket> {
        Arc::new(Bucket::new(rate))
    }

    /// A shared bucket of `rate` bytes per second whose burst is `burst`
    /// bytes (0: the default burst).
    pub fn shared_with_burst(rate: u64, burst: u32) -> Arc<Bucket> {
        let b = Bucket::default();
        b.burst.store(burst, Ordering::Relaxed);
        b.set_rate(rate);
        Arc::new(b)
    }

    /// Change the rate (0 = unlimited). Tokens saved at the old rate are
    /// dropped: the new limiter starts with one burst of the new rate.
    pub fn set_rate(&self, rate: u64) {
        let fixed = self.burst.load(Ordering::Relaxed);
        let limiter = NonZeroU32::new(u32::try_from(rate).unwrap_or(u32::MAX)).map(|r| {
            let burst = if fixed > 0 {
                fixed
            } else {
                (r.get() / 8).max(MIN_BURST)
            };
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            let limiter = RateLimiter::direct(Quota::per_second(r).allow_burst(burst));
            (Arc::new(limiter), burst.get())
        });
        if let Ok(mut slot) = self.limiter.write() {
            *slot = limiter;
        }
        self.rate.store(rate, Ordering::Relaxed);
    }

    /// The rate in bytes per second (0 = unlimited).
    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    /// Is there a limit at all?
    pub fn is_limited(&self) -> bool {
        self.rate() != 0
    }

    /// Take `n` bytes if the bucket holds them now. Requests larger than
    /// the burst are paid at the burst size (the caller reads at most a
    /// burst at a time, so this only rounds the last read).
    pub fn try_take(&self, n: u32) -> Take {
        let limiter = match self.limiter.read() {
            Ok(slot) => slot.clone(),
            Err(_) => None,
        };
        let Some((limiter, burst)) = limiter else {
            return Take::Done;
        };
        let Some(n) = NonZeroU32::new(n) else {
            return Take::Done;
        };
        let clamp = NonZeroU32::new(n.get().min(burst)).unwrap_or(NonZeroU32::MIN);
        let result = match limiter.check_n(n) {
            Ok(r) => r,
            // Larger than the burst: pay what can ever be paid.
            Err(_) => match limiter.check_n(clamp) {
                Ok(r) => r,
                Err(_) => return Take::Done,
            },
        };
        match result {
            Ok(()) => Take::Done,
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Take::Wait(wait.max(Duration::from_micros(200)))
            }
        }
    }

    /// Wait until `n` bytes are paid (for callers that can simply sleep).
    pub async fn take(&self, n: u32) {
        loop {
            match self.try_take(n) {
                Take::Done => return,
                Take::Wait(d) => tokio::time::sleep(d).await,
            }
        }
    }
}

/// Bytes owed to a chain of buckets, paid bucket by bucket: a bucket that
/// has paid is not asked again when a later one makes the caller wait.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Debt {
    /// Bytes owed (0: nothing).
    pub bytes: u32,
    /// Index of the next bucket to ask.
    stage: usize,
}

impl Debt {
    /// A new debt of `bytes`.
    pub fn new(bytes: u32) -> Debt {
        Debt { bytes, stage: 0 }
    }

    /// Is anything owed?
    pub fn is_owed(&self) -> bool {
        self.bytes != 0
    }

    /// Ask `buckets` in order (the same chain every time). `Done` clears
    /// the debt.
    pub fn pay<'a>(&mut self, buckets: impl IntoIterator<Item = &'a Bucket>) -> Take {
        if self.bytes == 0 {
            return Take::Done;
        }
        for b in buckets.into_iter().skip(self.stage) {
            match b.try_take(self.bytes) {
                Take::Done => self.stage += 1,
                wait => return wait,
            }
        }
        *self = Debt::default();
        Take::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn unlimited_always_pays() {
        let b = Bucket::new(0);
        for _ in 0..1000 {
            assert_eq!(b.try_take(1 << 20), Take::Done);
        }
        assert!(!b.is_limited());
    }

    #[test]
    fn limited_bucket_makes_callers_wait_after_the_burst() {
        let b = Bucket::new(100_000);
        // The burst (64 KiB minimum) is available at once, then it runs dry.
        assert_eq!(b.try_take(MIN_BURST), Take::Done);
        match b.try_take(16 * 1024) {
            Take::Wait(d) => assert!(d > Duration::from_millis(100), "{d:?}"),
            Take::Done => panic!("a drained bucket paid"),
        }
    }

    #[tokio::test]
    async fn sustained_rate_is_respected() {
        let rate = 1_000_000u64;
        let b = Bucket::new(rate);
        let start = Instant::now();
        let mut sent = 0u64;
        while sent < 600_000 {
            b.take(16 * 1024).await;
            sent += 16 * 1024;
        }
        // 600 KB beyond a ~125 KB burst at 1 MB/s: at least ~0.45 s.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(400), "{took:?}");
    }

    #[test]
    fn rate_change_drops_the_saved_burst() {
        let b = Bucket::new(10_000_000);
        b.set_rate(70_000);
        assert_eq!(b.rate(), 70_000);
        assert_eq!(b.try_take(MIN_BURST), Take::Done);
        assert!(matches!(b.try_take(MIN_BURST), Take::Wait(_)));
    }

    #[test]
    fn a_fixed_burst_holds_one_block_after_idling() {
        let b = Bucket::shared_with_burst(1_000_000, 16 * 1024);
        std::thread::sleep(Duration::from_millis(100));
        // 100 ms at 1 MB/s would be 100 KB, but only one block was saved.
        assert_eq!(b.try_take(16 * 1024), Take::Done);
        assert!(matches!(b.try_take(16 * 1024), Take::Wait(_)));
        // A rate change keeps the fixed burst.
        b.set_rate(2_000_000);
        assert_eq!(b.try_take(16 * 1024), Take::Done);
        assert!(matches!(b.try_take(16 * 1024), Take::Wait(_)));
    }

    #[test]
    fn debt_pays_each_bucket_once() {
        let wide = Bucket::new(0);
        let narrow = Bucket::new(70_000);
        assert_eq!(narrow.try_take(MIN_BURST), Take::Done);
        let mut debt = Debt::new(16 * 1024);
        assert!(matches!(debt.pay([&wide, &narrow]), Take::Wait(_)));
        assert!(debt.is_owed());
        assert_eq!(debt.stage, 1, "the first bucket is not asked again");
    }
}

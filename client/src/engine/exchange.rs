//! Cross-swarm exchange in a session (papers 003 and 004): one credit
//! ledger for all its torrents, the key riffle peers know this host by,
//! and the split of the session's upload limit between its torrents.
//!
//! Torrents talk to it from their control tasks only (never from peer
//! tasks), once per tick: the bytes each host gave and took since the last
//! tick, and what the torrent asks of the allocation (interested peers,
//! its CPM estimate). The allocator runs on its own timer in the session
//! and sets each torrent's *share bucket*, one more governor bucket in the
//! chain every upload pays (session, share, torrent, peer).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use riffle_policies::choker::PeerView;
use riffle_policies::exchange::credit::{DEFAULT_CAPACITY, DEFAULT_HORIZON};
use riffle_policies::exchange::{Allocator, CreditLedger, HostId, SwarmAllocation, SwarmDemand};
use riffle_policies::PeerKey;

use super::rate::Bucket;

/// How often the allocator splits the upload limit (protocol time).
pub const REALLOCATE_EVERY: Duration = Duration::from_secs(1);

/// What the session shares between its torrents.
#[derive(Debug)]
pub struct Exchange {
    host_key: [u8; 16],
    credit: AtomicBool,
    ledger: Mutex<CreditLedger>,
    alloc: Mutex<Alloc>,
    /// tau of the CPM estimators, in microseconds.
    tau_us: AtomicU64,
    /// A fixed tau (wall time) instead of the hop-time rule.
    fixed_tau: Mutex<Option<Duration>>,
    /// Bumped when a torrent joins or leaves the allocation: every
    /// torrent then measures its CPM again (as V-Formation probes again
    /// after a membership change).
    epoch: AtomicU64,
}

#[derive(Debug)]
struct Alloc {
    allocator: Allocator,
    swarms: HashMap<u64, Swarm>,
    next_id: u64,
    /// A swarm joined, left or reported something new, or the mode
    /// changed, since the last split.
    changed: bool,
    /// The limit of the last split.
    last_limit: Option<u64>,
}

#[derive(Debug)]
struct Swarm {
    bucket: Arc<Bucket>,
    interested: u32,
    cpm: Option<f64>,
    hop: Option<Duration>,
    /// The last split: (weight, rate; 0 = no cap of its own).
    share: (f64, u64),
}

/// A torrent's place in the allocation; leaves it when dropped.
#[derive(Debug)]
pub struct SwarmSlot {
    exchange: Arc<Exchange>,
    id: u64,
    bucket: Arc<Bucket>,
}

impl SwarmSlot {
    /// The bucket the allocator sets for this torrent.
    pub fn bucket(&self) -> &Arc<Bucket> {
        &self.bucket
    }

    /// Tell the allocator what this torrent asks for now.
    pub fn report(&self, interested: u32, cpm: Option<f64>, hop: Option<Duration>) {
        let mut a = self.exchange.alloc();
        if let Some(s) = a.swarms.get_mut(&self.id) {
            if (s.interested, s.cpm, s.hop) != (interested, cpm, hop) {
                s.interested = interested;
                s.cpm = cpm;
                s.hop = hop;
                a.changed = true;
            }
        }
    }

    /// This torrent's share of the upload limit as last split: (fraction,
    /// bytes/s; 0 = no cap of its own).
    pub fn share(&self) -> (f64, u64) {
        self.exchange
            .alloc()
            .swarms
            .get(&self.id)
            .map_or((0.0, 0), |s| s.share)
    }
}

impl Drop for SwarmSlot {
    fn drop(&mut self) {
        let mut a = self.exchange.alloc();
        a.swarms.remove(&self.id);
        a.changed = true;
        drop(a);
        self.exchange.epoch.fetch_add(1, Ordering::Relaxed);
    }
}

impl Exchange {
    /// An exchange for a session known to riffle peers by `host_key`;
    /// credit decays over [`DEFAULT_HORIZON`] of protocol time (`scale`
    /// protocol seconds pass per second, as in
    /// [`super::SessionConfig::with_time_scale`]).
    pub fn new(
        host_key: [u8; 16],
        credit: bool,
        mode: SwarmAllocation,
        scale: f64,
    ) -> Arc<Exchange> {
        let horizon = DEFAULT_HORIZON.mul_f64(1.0 / scale.max(1e-6));
        Arc::new(Exchange {
            host_key,
            credit: AtomicBool::new(credit),
            ledger: Mutex::new(CreditLedger::new(horizon, DEFAULT_CAPACITY)),
            alloc: Mutex::new(Alloc {
                allocator: Allocator::new(mode),
                swarms: HashMap::new(),
                next_id: 0,
                changed: true,
                last_limit: None,
            }),
            tau_us: AtomicU64::new(DEFAULT_TAU.as_micros() as u64),
            fixed_tau: Mutex::new(None),
            epoch: AtomicU64::new(0),
        })
    }

    fn ledger(&self) -> MutexGuard<'_, CreditLedger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn alloc(&self) -> MutexGuard<'_, Alloc> {
        self.alloc.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key this host sends in its extended handshakes.
    pub fn host_key(&self) -> [u8; 16] {
        self.host_key
    }

    /// Cross-swarm credit on?
    pub fn credit_enabled(&self) -> bool {
        self.credit.load(Ordering::Relaxed)
    }

    /// Turn cross-swarm credit on or off (the next rechoke follows).
    pub fn set_credit(&self, on: bool) {
        self.credit.store(on, Ordering::Relaxed);
    }

    /// The allocation mode.
    pub fn allocation(&self) -> SwarmAllocation {
        self.alloc().allocator.mode()
    }

    /// Change the allocation mode (applied at the next split).
    pub fn set_allocation(&self, mode: SwarmAllocation) {
        let mut a = self.alloc();
        a.allocator.set_mode(mode);
        a.changed = true;
    }

    /// Bytes each host gave us (verified blocks written) and took from us
    /// since the last call, summed in every torrent.
    pub fn record(&self, flows: &[(HostId, u64, u64)], now: Instant) {
        if flows.is_empty() {
            return;
        }
        let mut l = self.ledger();
        for (host, given, taken) in flows {
            if *given > 0 {
                l.received(*host, *given, now);
            }
            if *taken > 0 {
                l.sent(*host, *taken, now);
            }
        }
    }

    /// What `host` gave us over every torrent, as a decayed rate.
    pub fn contribution(&self, host: &HostId, now: Instant) -> f64 {
        self.ledger().contribution(host, now)
    }

    /// With cross-swarm credit on, rank `views` by their hosts'
    /// contribution over every torrent (see
    /// [`CreditLedger::rank_views`]); otherwise leave them.
    pub fn rank(
        &self,
        views: &mut [PeerView],
        host_of: impl Fn(PeerKey) -> Option<HostId>,
        now: Instant,
    ) {
        if self.credit_enabled() {
            self.ledger().rank_views(views, host_of, now);
        }
    }

    /// A seed's unchoke (when credit is on): its regular slots go first
    /// to the interested peers whose hosts gave us, most first.
    pub fn serve_first(
        &self,
        views: &[PeerView],
        host_of: impl Fn(PeerKey) -> Option<HostId>,
        now: Instant,
        unchoke: &mut riffle_policies::choker::Unchoke,
    ) {
        if self.credit_enabled() {
            let ledger = self.ledger();
            riffle_policies::exchange::credit::serve_credited_first(
                views,
                |k| host_of(k).map(|h| ledger.contribution(&h, now)),
                unchoke,
            );
        }
    }

    /// A torrent joins the allocation.
    pub fn join(self: &Arc<Self>, burst: u32) -> SwarmSlot {
        let bucket = Bucket::shared_with_burst(0, burst);
        let mut a = self.alloc();
        let id = a.next_id;
        a.next_id += 1;
        a.swarms.insert(
            id,
            Swarm {
                bucket: bucket.clone(),
                interested: 0,
                cpm: None,
                hop: None,
                share: (0.0, 0),
            },
        );
        a.changed = true;
        drop(a);
        self.epoch.fetch_add(1, Ordering::Relaxed);
        SwarmSlot {
            exchange: self.clone(),
            id,
            bucket,
        }
    }

    /// Changes to the set of torrents so far (see `epoch`).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Fix the CPM estimators' tau (wall time; None: the hop-time rule).
    pub fn set_fixed_tau(&self, tau: Option<Duration>) {
        *self.fixed_tau.lock().unwrap_or_else(|e| e.into_inner()) = tau;
        if let Some(t) = tau {
            self.tau_us.store(t.as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// The tau the torrents' CPM estimators use now.
    pub fn tau(&self) -> Duration {
        Duration::from_micros(self.tau_us.load(Ordering::Relaxed))
    }

    /// Split `limit` (bytes/s, 0 = unlimited) between the torrents and set
    /// their share buckets; choose tau from their hop times (`scale`:
    /// protocol seconds per wall second, as the lab runs).
    ///
    /// While no torrent has an interested peer and nothing changed since
    /// the last split (no swarm joined, left or reported, the same limit
    /// and mode) the split stands and this costs one pass over the swarms
    /// without allocating: an idle seedbox of thousands of torrents does
    /// not re-split every second.
    pub fn reallocate(&self, limit: u64, scale: f64) {
        let mut a = self.alloc();
        let busy = a.swarms.values().any(|s| s.interested > 0);
        if !busy && !a.changed && a.last_limit == Some(limit) {
            return;
        }
        a.changed = false;
        a.last_limit = Some(limit);
        let mut ids: Vec<u64> = a.swarms.keys().copied().collect();
        ids.sort_unstable();
        let demands: Vec<SwarmDemand> = ids
            .iter()
            .map(|id| {
                let s = &a.swarms[id];
                SwarmDemand {
                    id: *id,
                    interested: s.interested,
                    cpm: s.cpm,
                }
            })
            .collect();
        let weights = a.allocator.weights(&demands);
        let rates = a.allocator.split(limit, &demands);
        for ((id, w), r) in ids.iter().zip(weights).zip(rates) {
            if let Some(s) = a.swarms.get_mut(id) {
                let rate = r.unwrap_or(0);
                if s.bucket.rate() != rate {
                    s.bucket.set_rate(rate);
                }
                s.share = (w, rate);
            }
        }
        let hops: Vec<Duration> = a.swarms.values().filter_map(|s| s.hop).collect();
        drop(a);
        let fixed = *self.fixed_tau.lock().unwrap_or_else(|e| e.into_inner());
        let tau = fixed.unwrap_or_else(|| tau_for(&hops, scale));
        self.tau_us.store(tau.as_micros() as u64, Ordering::Relaxed);
    }
}

/// tau before any hop was seen, in protocol time.
pub const DEFAULT_TAU: Duration = Duration::from_secs(8);

/// tau from the torrents' median hop times (see
/// [`riffle_policies::exchange::auto_tau`]): 8 hops of the slowest swarm,
/// within 1 to 60 protocol seconds.
fn tau_for(hops: &[Duration], scale: f64) -> Duration {
    let s = |d: Duration| d.mul_f64(1.0 / scale.max(1e-6));
    hops.iter()
        .max()
        .map_or(s(DEFAULT_TAU), |h| {
            *h * riffle_policies::exchange::cpm::TAU_HOPS
        })
        .clamp(s(Duration::from_secs(1)), s(Duration::from_secs(60)))
}

/// The host key kept at `path` (16 random bytes), made on first use. A
/// file that cannot be read or written gives a key for this run only.
pub fn load_or_create_host_key(path: &Path) -> [u8; 16] {
    if let Ok(b) = std::fs::read(path) {
        if let Ok(k) = <[u8; 16]>::try_from(b.as_slice()) {
            return k;
        }
    }
    let k: [u8; 16] = rand::random();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = riffle_storage::write_atomically(path, &k) {
        tracing::warn!(path = %path.display(), %e, "cannot keep the host key; using one for this run");
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_key_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state/host.key");
        let a = load_or_create_host_key(&p);
        assert_eq!(load_or_create_host_key(&p), a);
        std::fs::write(&p, b"short").unwrap();
        let b = load_or_create_host_key(&p);
        assert_ne!(a, b, "a damaged key is replaced");
        assert_eq!(load_or_create_host_key(&p), b);
    }

    #[test]
    fn shares_follow_the_mode_and_leave_with_the_torrent() {
        let x = Exchange::new([1; 16], false, SwarmAllocation::Equal, 1.0);
        let a = x.join(16_384);
        let b = x.join(16_384);
        a.report(3, None, None);
        b.report(1, None, None);
        x.reallocate(100_000, 1.0);
        assert_eq!(a.bucket().rate(), 50_000);
        assert_eq!(b.share().1, 50_000);
        drop(b);
        x.reallocate(100_000, 1.0);
        assert_eq!(a.bucket().rate(), 100_000);
        x.set_allocation(SwarmAllocation::PerPeer);
        x.reallocate(100_000, 1.0);
        assert_eq!(a.bucket().rate(), 0, "per-peer: no cap of its own");
    }

    #[test]
    fn an_idle_split_stands_until_something_changes() {
        let x = Exchange::new([1; 16], false, SwarmAllocation::Equal, 1.0);
        let a = x.join(16_384);
        let _b = x.join(16_384);
        x.reallocate(100_000, 1.0);
        let split = a.bucket().rate();
        // Nobody interested, nothing new: the split is not redone (a rate
        // set behind its back stays).
        a.bucket().set_rate(7);
        x.reallocate(100_000, 1.0);
        assert_eq!(a.bucket().rate(), 7);
        // A new limit, a report, a torrent joining: split again.
        x.reallocate(100_001, 1.0);
        assert_ne!(a.bucket().rate(), 7);
        a.bucket().set_rate(7);
        a.report(0, Some(1.0), None);
        x.reallocate(100_001, 1.0);
        assert_ne!(a.bucket().rate(), 7);
        a.bucket().set_rate(7);
        let _c = x.join(16_384);
        x.reallocate(100_001, 1.0);
        assert_ne!(a.bucket().rate(), 7);
        // Someone interested: split every time.
        a.report(2, Some(1.0), None);
        x.reallocate(100_001, 1.0);
        a.bucket().set_rate(7);
        x.reallocate(100_001, 1.0);
        assert_ne!(a.bucket().rate(), 7, "was {split} before");
    }

    #[test]
    fn tau_follows_the_slowest_hop_within_bounds() {
        assert_eq!(tau_for(&[], 1.0), DEFAULT_TAU);
        let ms = Duration::from_millis;
        assert_eq!(tau_for(&[ms(300), ms(500)], 1.0), ms(4000));
        assert_eq!(tau_for(&[ms(10)], 1.0), ms(1000));
        // The lab: one protocol second is 40 ms.
        assert_eq!(tau_for(&[], 25.0), ms(320));
    }
}
